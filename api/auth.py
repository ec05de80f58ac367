"""Bearer tokens: signed (HS256), expiring, bound to one user, one unit and roles.

`linkage token issue` mints them; every request presents one. The signing key is
`LINKAGE_SECRET`, or in embedded mode a key generated once and kept in
`LINKAGE_HOME/secret` (readable by its owner only). Distributed mode requires
`LINKAGE_SECRET`, since every api process must verify the same tokens.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from domain.errors import BadInputError, LinkageError
from domain.topic import Actor, Role
from infra.settings import SettingsError

ALGORITHM = "HS256"
ISSUER = "linkage"
MIN_SECRET_LENGTH = 32
MAX_TTL = timedelta(days=30)
DEFAULT_TTL = timedelta(hours=8)
TTL_PATTERN = re.compile(r"^(\d+)([smhd])$")
TTL_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


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
    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"LINKAGE_SECRET must be at least {MIN_SECRET_LENGTH} characters, not {len(secret)}"
            )
        self._secret = secret

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

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise UnauthenticatedError(
                "TOKEN_EXPIRED", "the bearer token has expired; ask for a new one"
            ) from None
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError(
                "TOKEN_INVALID", f"the bearer token is not valid: {exc}"
            ) from None
        try:
            roles = tuple(Role(r) for r in claims["roles"])
            unit = str(claims["unit"])
        except (KeyError, ValueError, TypeError):
            raise UnauthenticatedError(
                "TOKEN_INVALID", "the bearer token carries no valid unit and roles"
            ) from None
        if not roles:
            raise UnauthenticatedError("TOKEN_INVALID", "the bearer token carries no role")
        return Principal(
            str(claims["sub"]), unit, roles, datetime.fromtimestamp(claims["exp"], UTC)
        )

    def principal(self, authorization: str | None) -> Principal:
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
        return self.verify(token.strip())


def parse_ttl(text: str) -> timedelta:
    """'90s', '30m', '8h', '7d'."""
    match = TTL_PATTERN.match(text.strip())
    if not match:
        raise BadInputError(
            "TOKEN_TTL_INVALID", f"--ttl {text!r} must look like 90s, 30m, 8h or 7d"
        )
    return timedelta(**{TTL_UNITS[match.group(2)]: int(match.group(1))})


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
