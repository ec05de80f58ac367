"""Bearer tokens: issued, verified, expired, forged; ttl and roles; the signing key."""

from __future__ import annotations

import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from api.auth import (
    ALGORITHM,
    TokenService,
    UnauthenticatedError,
    parse_roles,
    parse_ttl,
)
from domain.errors import BadInputError
from domain.topic import Role
from infra.secret import signing_secret
from infra.settings import Settings, SettingsError

SECRET = "s" * 32
OTHER_SECRET = "o" * 32


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(SECRET, None)


def _rule(exc: pytest.ExceptionInfo[Exception]) -> str:
    return str(getattr(exc.value, "rule", ""))


def test_an_issued_token_verifies_to_its_user_unit_and_roles(tokens: TokenService) -> None:
    token = tokens.issue("620102", [Role.STAFF, Role.LEADER], user_id="sun.wei")

    principal = tokens.verify(token)

    assert principal.user_id == "sun.wei"
    assert principal.unit == "620102"
    assert principal.roles == (Role.STAFF, Role.LEADER)
    assert principal.actor().role is Role.STAFF
    assert principal.actor(Role.LEADER).unit == "620102"
    assert timedelta(hours=7, minutes=59) < principal.expires_at - datetime.now(UTC)


def test_a_token_without_a_user_is_bound_to_a_user_named_after_its_unit(
    tokens: TokenService,
) -> None:
    assert tokens.verify(tokens.issue("62", [Role.AUDITOR])).user_id == "user-62"


def test_an_expired_token_is_refused_as_expired(tokens: TokenService) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    token = tokens.issue("62", [Role.STAFF], ttl=timedelta(hours=1), now=yesterday)

    with pytest.raises(UnauthenticatedError) as refused:
        tokens.verify(token)

    assert _rule(refused) == "TOKEN_EXPIRED"


def test_a_token_with_a_forged_signature_is_refused(tokens: TokenService) -> None:
    header, payload, signature = tokens.issue("62", [Role.STAFF]).split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"

    with pytest.raises(UnauthenticatedError) as refused:
        tokens.verify(forged)

    assert _rule(refused) == "TOKEN_INVALID"


def test_a_token_whose_claims_were_changed_is_refused(tokens: TokenService) -> None:
    token = tokens.issue("620102001001", [Role.STAFF])
    header, _, signature = token.split(".")
    raised = jwt.encode({"unit": "62"}, "x" * 32, algorithm=ALGORITHM).split(".")[1]

    with pytest.raises(UnauthenticatedError):
        tokens.verify(f"{header}.{raised}.{signature}")


def test_a_token_signed_with_another_secret_is_refused(tokens: TokenService) -> None:
    elsewhere = TokenService(OTHER_SECRET, None).issue("62", [Role.STAFF])

    with pytest.raises(UnauthenticatedError) as refused:
        tokens.verify(elsewhere)

    assert _rule(refused) == "TOKEN_INVALID"


def test_an_unsigned_token_is_refused(tokens: TokenService) -> None:
    claims = {"iss": "linkage", "sub": "x", "unit": "62", "roles": ["STAFF"], "exp": 4102444800}
    unsigned = jwt.encode(claims, None, algorithm="none")

    with pytest.raises(UnauthenticatedError):
        tokens.verify(unsigned)


def test_a_signed_token_without_unit_or_roles_is_refused(tokens: TokenService) -> None:
    now = datetime.now(UTC)
    claims = {"iss": "linkage", "sub": "x", "iat": now, "exp": now + timedelta(hours=1)}
    no_roles = jwt.encode({**claims, "unit": "62", "roles": []}, SECRET, algorithm=ALGORITHM)
    bad_role = jwt.encode({**claims, "unit": "62", "roles": ["KING"]}, SECRET, algorithm=ALGORITHM)
    no_unit = jwt.encode({**claims, "roles": ["STAFF"]}, SECRET, algorithm=ALGORITHM)

    for token in (no_roles, bad_role, no_unit):
        with pytest.raises(UnauthenticatedError) as refused:
            tokens.verify(token)
        assert _rule(refused) == "TOKEN_INVALID"


def test_the_authorization_header_must_carry_a_bearer_token(tokens: TokenService) -> None:
    token = tokens.issue("62", [Role.STAFF])

    assert tokens.principal(f"Bearer {token}").unit == "62"
    assert tokens.principal(f"  bearer   {token} ").unit == "62"
    for header in (None, "", "Bearer", "Bearer   ", f"Basic {token}", token):
        with pytest.raises(UnauthenticatedError) as refused:
            tokens.principal(header)
        assert _rule(refused) == "TOKEN_MISSING"


@pytest.mark.parametrize(
    ("text", "ttl"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("8h", timedelta(hours=8)),
        (" 7d ", timedelta(days=7)),
    ],
)
def test_ttls_are_written_as_a_number_and_a_unit(text: str, ttl: timedelta) -> None:
    assert parse_ttl(text) == ttl


@pytest.mark.parametrize("text", ["8", "8 hours", "h", "-1h", "1.5h", ""])
def test_a_malformed_ttl_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(BadInputError) as refused:
        parse_ttl(text)

    assert _rule(refused) == "TOKEN_TTL_INVALID"
    assert "90s, 30m, 8h or 7d" in str(refused.value)


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(days=31), timedelta(seconds=-5)])
def test_a_token_lives_between_a_second_and_thirty_days(
    tokens: TokenService, ttl: timedelta
) -> None:
    with pytest.raises(BadInputError) as refused:
        tokens.issue("62", [Role.STAFF], ttl=ttl)

    assert _rule(refused) == "TOKEN_TTL_OUT_OF_RANGE"


def test_roles_are_one_or_several_names_in_any_case() -> None:
    assert parse_roles("staff") == [Role.STAFF]
    assert parse_roles("Staff, LEADER") == [Role.STAFF, Role.LEADER]
    assert parse_roles("auditor,") == [Role.AUDITOR]
    assert parse_roles("staff,leader,handler,member,auditor,intake") == list(Role)


def test_an_unknown_role_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(BadInputError) as refused:
        parse_roles("staff,boss")

    assert str(refused.value) == (
        "INVALID_VALUE: role 'boss' is not one of: staff, leader, handler, member, auditor, intake"
    )


def test_no_role_at_all_is_refused(tokens: TokenService) -> None:
    with pytest.raises(BadInputError) as from_text:
        parse_roles(" , ")
    with pytest.raises(BadInputError) as from_list:
        tokens.issue("62", [])

    assert _rule(from_text) == _rule(from_list) == "ROLE_REQUIRED"


def test_a_short_signing_secret_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="LINKAGE_SECRET must be at least 32 characters"):
        TokenService("short", None)


def test_linkage_secret_is_the_signing_key_when_set(tmp_path: Path) -> None:
    settings = Settings.from_env({"LINKAGE_HOME": str(tmp_path), "LINKAGE_SECRET": SECRET})

    assert signing_secret(settings) == SECRET
    assert not (tmp_path / "secret").exists()


def test_embedded_mode_creates_a_private_key_once_and_reuses_it(tmp_path: Path) -> None:
    settings = Settings.from_env({"LINKAGE_HOME": str(tmp_path / "home")})

    first = signing_secret(settings)
    again = signing_secret(Settings.from_env({"LINKAGE_HOME": str(tmp_path / "home")}))

    key = tmp_path / "home" / "secret"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert first == again == key.read_text(encoding="utf-8").strip()
    assert len(first) >= 32
    other = signing_secret(Settings.from_env({"LINKAGE_HOME": str(tmp_path / "other")}))
    assert other != first
    token = TokenService(first, None).issue("62", [Role.STAFF])
    assert TokenService(again, None).verify(token).unit == "62"


def test_distributed_mode_without_linkage_secret_fails_naming_it(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"LINKAGE_HOME": str(tmp_path), "LINKAGE_DATABASE_URL": "postgresql://db/linkage"}
    )

    with pytest.raises(SettingsError, match="LINKAGE_SECRET is required"):
        signing_secret(settings)
    assert not (tmp_path / "secret").exists()


def test_racing_first_uses_of_the_embedded_key_all_get_the_same_key(tmp_path: Path) -> None:
    settings = Settings.from_env({"LINKAGE_HOME": str(tmp_path / "home")})
    start = threading.Barrier(16)

    def first_use(_: int) -> str:
        start.wait()  # all at once, on a home with no key yet
        return signing_secret(settings)

    with ThreadPoolExecutor(16) as pool:
        keys = set(pool.map(first_use, range(16)))
    assert len(keys) == 1
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["secret"]
    assert stat.S_IMODE((tmp_path / "home" / "secret").stat().st_mode) == 0o600
