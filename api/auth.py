"""Bearer tokens: signed (HS256), expiring, bound to one user, one unit and roles.

`linkage token issue` mints them; every request presents one. The signing key is
`LINKAGE_SECRET`, or in embedded mode a key generated once and kept in
`LINKAGE_HOME/secret` (readable by its owner only). Distributed mode requires
`LINKAGE_SECRET`, since every api process must verify the same tokens.

A token is only as good as its claims: a validly signed one whose claims are not of
the form `issue` writes (a numeric string `exp`, a list of roles that is not one, no
`sub`) is refused naming the claim (TOKEN_INVALID), and one whose unit is no longer
in the hierarchy, or was retired by an import, is refused on every request
(TOKEN_UNIT_UNKNOWN, TOKEN_UNIT_RETIRED): the unit is looked up in the directory
each time, so a retirement takes effect on the next request.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import jwt

from api.errors import database_unreachable, unavailable_error
from domain.errors import BadInputError, LinkageError
from domain.topic import Actor, Role
from domain.units import UnitDirectory
from infra.settings import SettingsError

ALGORITHM = "HS256"
ISSUER = "linkage"
MIN_SECRET_LENGTH = 32
MAX_TTL = timedelta(days=30)
DEFAULT_TTL = timedelta(hours=8)
TTL_PATTERN = re.compile(r"^(\d+)([smhd])$")
TTL_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss"]  # `unit` and `roles` are ours: checked below


class UnauthenticatedError(LinkageError):
    """No token, a malformed or forged one, or one that expired."""

    code = "UNAUTHENTICATED"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: the token's user, unit and roles (the first role acts by default)."""

    user_id: str
    unit: str
    roles: tuple[Role, ...]
    expires_at: datetime

    def actor(self, role: Role | None = None) -> Actor:
        return Actor(self.user_id, self.unit, role or self.roles[0])


class TokenService:
    """Signs and verifies tokens. `units` is the live unit directory a token's unit is
    checked against on every verification; None only where no hierarchy exists (a
    client minting tokens for a server that checks them itself, tests of signing)."""

    def __init__(self, secret: str, units: UnitDirectory | None) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"LINKAGE_SECRET must be at least {MIN_SECRET_LENGTH} characters, not {len(secret)}"
            )
        self._secret = secret
        self._units = units

    def issue(
        self,
        unit: str,
        roles: list[Role],
        user_id: str | None = None,
        ttl: timedelta = DEFAULT_TTL,
        now: datetime | None = None,
    ) -> str:
        if not roles:
            raise BadInputError("ROLE_REQUIRED", "a token needs at least one role")
        if not timedelta(0) < ttl <= MAX_TTL:
            raise BadInputError(
                "TOKEN_TTL_OUT_OF_RANGE", f"a token lives between 1 s and 30 days, not {ttl}"
            )
        issued = now or datetime.now(UTC)
        claims = {
            "iss": ISSUER,
            "sub": user_id or f"user-{unit}",
            "unit": unit,
            "roles": [role.value for role in roles],
            "iat": issued,
            "exp": issued + ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str, *, check_unit: bool = True) -> Principal:
        """The token's principal; `check_unit=False` skips the unit lookup for a caller
        that checks the unit itself (the operations endpoints, which must answer an
        operator during a database outage)."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # `sub` and `jti` are checked by `_principal_of`, naming the claim
                options={"require": REQUIRED_CLAIMS, "verify_sub": False, "verify_jti": False},
            )
        except jwt.ExpiredSignatureError:
            raise UnauthenticatedError(
                "TOKEN_EXPIRED", "the bearer token has expired; ask for a new one"
            ) from None
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError(
                "TOKEN_INVALID", f"the bearer token is not valid: {exc}"
            ) from None
        principal = _principal_of(claims)
        if check_unit:
            self._check_unit(principal.unit)
        return principal

    def _check_unit(self, code: str) -> None:
        """The token's unit must exist and be active now (a live lookup: one indexed row)."""
        if self._units is None:
            return
        try:
            unit = self._units.get(code)
        except Exception as exc:  # the driver's, the pool's or eventsourcing's (wrapped)
            if not database_unreachable(exc):
                raise
            raise unavailable_error() from None
        if unit is None:
            raise UnauthenticatedError(
                "TOKEN_UNIT_UNKNOWN",
                f"the bearer token's unit {code!r} is not in the hierarchy; "
                "ask for a token of an existing unit",
            )
        if unit.retired:
            raise UnauthenticatedError(
                "TOKEN_UNIT_RETIRED",
                f"the bearer token's unit {code} ({unit.name}) was retired by a hierarchy "
                "import; its tokens are no longer accepted: ask for a token of the unit "
                "that took over",
            )

    def principal(self, authorization: str | None, *, check_unit: bool = True) -> Principal:
        """The principal of an `Authorization: Bearer …` header value."""
        if not authorization:
            raise UnauthenticatedError(
                "TOKEN_MISSING", "send a bearer token: Authorization: Bearer <token>"
            )
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthenticatedError(
                "TOKEN_MISSING", "the Authorization header must read: Bearer <token>"
            )
        return self.verify(token.strip(), check_unit=check_unit)


def parse_ttl(text: str) -> timedelta:
    """'90s', '30m', '8h', '7d'."""
    match = TTL_PATTERN.match(text.strip())
    if not match:
        raise BadInputError(
            "TOKEN_TTL_INVALID", f"--ttl {text!r} must look like 90s, 30m, 8h or 7d"
        )
    seconds = int(match.group(1)) * TTL_SECONDS[match.group(2)]
    if not 1 <= seconds <= MAX_TTL.total_seconds():
        raise BadInputError(
            "TOKEN_TTL_OUT_OF_RANGE",
            f"--ttl {text.strip()!r} is out of range: a token lives between 1 s and 30 days (30d)",
        )
    return timedelta(seconds=seconds)


def _principal_of(claims: dict[str, Any]) -> Principal:
    """The principal of a signed token's claims, each of the type `issue` writes: `sub`
    and `unit` non-empty strings, `roles` a non-empty list of role names, `exp` and
    `iat` whole seconds (never a string or a boolean), `jti` a string if present."""
    user_id = _text_claim(claims, "sub")
    unit = _text_claim(claims, "unit")
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_seconds(claims[name]):
            _invalid(name, f"must be whole seconds since 1970, not {_shown(claims[name])}")
    if "jti" in claims and not isinstance(claims["jti"], str):
        _invalid("jti", f"must be a string, not {_shown(claims['jti'])}")
    roles = claims.get("roles")
    if not isinstance(roles, list) or not roles:
        _invalid("roles", f"must be a non-empty list of role names, not {_shown(roles)}")
    known = {role.value for role in Role}
    for role in roles:
        if not isinstance(role, str) or role not in known:
            allowed = ", ".join(sorted(known))
            _invalid("roles", f"holds {_shown(role)}, which is not one of {allowed}")
    try:
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    except (OverflowError, OSError, ValueError):
        _invalid("exp", f"{claims['exp']} is not a representable time")
    return Principal(user_id, unit, tuple(Role(r) for r in roles), expires_at)


def _text_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        _invalid(name, f"must be a non-empty string, not {_shown(value)}")
    return value


def _is_seconds(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """A claim's value as the message names it (short: the token is the caller's)."""
    if value is None:
        return "missing"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _invalid(claim: str, problem: str) -> NoReturn:
    raise UnauthenticatedError(
        "TOKEN_INVALID", f"the bearer token's claim {claim!r} {problem}; ask for a new token"
    )


def parse_roles(text: str) -> list[Role]:
    """'staff' or 'staff,leader' (case does not matter)."""
    roles = []
    for name in filter(None, (part.strip() for part in text.split(","))):
        try:
            roles.append(Role(name.upper()))
        except ValueError:
            allowed = ", ".join(r.value.lower() for r in Role)
            raise BadInputError(
                "INVALID_VALUE", f"role {name!r} is not one of: {allowed}"
            ) from None
    if not roles:
        raise BadInputError("ROLE_REQUIRED", "a token needs at least one role")
    return roles
