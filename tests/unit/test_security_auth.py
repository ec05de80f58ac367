"""Tokens held to their claims and to the live hierarchy, lifetimes in range, and
idempotency scopes (issue 15, items 7, 11, 13 and 14)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import psycopg
import pytest

from api.auth import ALGORITHM, Principal, TokenService, UnauthenticatedError, parse_ttl
from api.errors import UnavailableError
from api.rest.idempotency import Scope
from domain.errors import BadInputError
from domain.topic import Role
from domain.units import InMemoryUnitDirectory, Level, Unit, UnitRecord

SECRET = "s" * 32
HIERARCHY = [
    UnitRecord("62", "甘肃省", Level.PROVINCE, None),
    UnitRecord("6201", "兰州市", Level.CITY, "62"),
    UnitRecord("6202", "嘉峪关市", Level.CITY, "62"),
]


@pytest.fixture
def units() -> InMemoryUnitDirectory:
    return InMemoryUnitDirectory(HIERARCHY)


@pytest.fixture
def tokens(units: InMemoryUnitDirectory) -> TokenService:
    return TokenService(SECRET, units)


def _signed(**changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "linkage",
        "sub": "li.ming",
        "unit": "6201",
        "roles": ["STAFF"],
        "iat": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, ALGORITHM)


def _refusal(tokens: TokenService, token: str) -> UnauthenticatedError:
    with pytest.raises(UnauthenticatedError) as refused:
        tokens.verify(token)
    return refused.value


# -- 7: every claim of the type `issue` writes --------------------------------------------


def test_a_token_as_issued_verifies(tokens: TokenService) -> None:
    principal = tokens.verify(_signed(roles=["LEADER", "STAFF"]))

    assert principal.user_id == "li.ming"
    assert principal.roles == (Role.LEADER, Role.STAFF)


@pytest.mark.parametrize(
    ("claim", "value", "named"),
    [
        ("exp", "4102444800", "not str '"),  # 2100-01-01: ids stable across xdist workers
        ("exp", 10**20, "is not a representable time"),
        ("iat", False, "not bool False"),
        ("roles", "STAFF", "not str 'STAFF'"),
        ("roles", [], "not list []"),
        ("roles", ["STAFF", 1], "holds int 1"),
        ("roles", ["staff"], "holds str 'staff'"),
        ("unit", 6201, "not int 6201"),
        ("unit", "  ", "not str '  '"),
        ("sub", {"id": 1}, "not dict {'id': 1}"),
        ("jti", 1.5, "not float 1.5"),
    ],
)
def test_a_claim_of_the_wrong_type_is_refused_naming_the_claim_and_its_value(
    tokens: TokenService, claim: str, value: object, named: str
) -> None:
    refused = _refusal(tokens, _signed(**{claim: value}))

    assert refused.rule == "TOKEN_INVALID"
    assert refused.message.startswith(f"the bearer token's claim {claim!r} ")
    assert named in refused.message


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
def test_a_required_claim_missing_is_refused_naming_it(tokens: TokenService, claim: str) -> None:
    refused = _refusal(tokens, _signed(**{claim: None}))

    assert refused.rule == "TOKEN_INVALID"
    assert f'"{claim}"' in refused.message


@pytest.mark.parametrize("claim", ["unit", "roles"])
def test_our_own_claims_missing_are_refused_naming_them(tokens: TokenService, claim: str) -> None:
    refused = _refusal(tokens, _signed(**{claim: None}))

    assert refused.rule == "TOKEN_INVALID"
    assert f"claim {claim!r}" in refused.message
    assert "missing" in refused.message


# -- 13: the token's unit, live ---------------------------------------------------------


def test_a_token_of_a_unit_retired_since_it_was_issued_is_refused(
    tokens: TokenService, units: InMemoryUnitDirectory
) -> None:
    token = tokens.issue("6202", [Role.STAFF])
    assert tokens.verify(token).unit == "6202"

    units.apply([], retired=["6202"])
    refused = _refusal(tokens, token)

    assert refused.rule == "TOKEN_UNIT_RETIRED"
    assert "6202 (嘉峪关市) was retired" in refused.message
    assert tokens.verify(tokens.issue("6201", [Role.STAFF])).unit == "6201"


def test_a_token_of_a_unit_the_hierarchy_does_not_hold_is_refused(tokens: TokenService) -> None:
    refused = _refusal(tokens, tokens.issue("629999", [Role.STAFF]))

    assert refused.rule == "TOKEN_UNIT_UNKNOWN"
    assert "'629999'" in refused.message


class UnreachableDirectory(InMemoryUnitDirectory):
    def get(self, code: str) -> Unit | None:
        raise psycopg.OperationalError("connection refused")


def test_a_unit_that_cannot_be_looked_up_is_unavailable_not_unauthenticated() -> None:
    tokens = TokenService(SECRET, UnreachableDirectory(HIERARCHY))

    with pytest.raises(UnavailableError) as refused:
        tokens.verify(tokens.issue("6201", [Role.STAFF]))

    assert refused.value.rule == "DATABASE_UNAVAILABLE"


# -- 14: a lifetime between one second and thirty days ----------------------------------


@pytest.mark.parametrize(
    ("text", "ttl"), [("1s", timedelta(seconds=1)), ("30d", timedelta(days=30))]
)
def test_the_ends_of_the_lifetime_range_are_accepted(text: str, ttl: timedelta) -> None:
    assert parse_ttl(text) == ttl


@pytest.mark.parametrize("text", ["0s", "0d", "31d", "721h", "2592001s", "99999999999d"])
def test_a_lifetime_out_of_range_is_refused_naming_the_value_and_the_range(text: str) -> None:
    with pytest.raises(BadInputError) as refused:
        parse_ttl(text)

    assert refused.value.rule == "TOKEN_TTL_OUT_OF_RANGE"
    assert refused.value.message == (
        f"--ttl {text!r} is out of range: a token lives between 1 s and 30 days (30d)"
    )


# -- 11: whose stored answers a key names ------------------------------------------------


def _principal(unit: str, *roles: Role, user: str = "u1") -> Principal:
    return Principal(user, unit, roles, datetime.now(UTC))


def test_an_idempotency_scope_is_the_user_unit_sorted_roles_and_route() -> None:
    scope = Scope.of(_principal("6201", Role.STAFF, Role.LEADER), "POST /api/v1")

    assert scope == Scope("u1", "6201", ("LEADER", "STAFF"), "POST /api/v1")
    assert scope == Scope.of(_principal("6201", Role.LEADER, Role.STAFF), "POST /api/v1")


def test_the_same_user_in_another_unit_role_or_route_has_another_scope() -> None:
    base = Scope.of(_principal("6201", Role.STAFF), "POST /api/v1")
    others = [
        Scope.of(_principal("6202", Role.STAFF), "POST /api/v1"),
        Scope.of(_principal("6201", Role.AUDITOR), "POST /api/v1"),
        Scope.of(_principal("6201", Role.STAFF, Role.LEADER), "POST /api/v1"),
        Scope.of(_principal("6201", Role.STAFF), "POST /graphql"),
    ]

    assert len({base.text(), *(other.text() for other in others)}) == 5


def test_a_scope_text_cannot_be_forged_by_a_user_id_holding_separators() -> None:
    plain = Scope("a", "6201", ("STAFF",), "POST /api/v1")
    crafted = Scope('a", "6201', "6201", ("STAFF",), "POST /api/v1")

    assert plain.text() != crafted.text()
