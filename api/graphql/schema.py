"""The schema, its limits, and how errors are classified.

Limits (DESIGN §6): query depth, aliases, tokens and cost (api.graphql.cost),
checked before execution; `first` ≤ 100 is checked by the read queries. Every
error leaves with a `code`: a `LinkageError` keeps its own code and rule; an
error from parsing, validation or argument coercion (no field path) is
BAD_INPUT; a lost or refused database connection (any driver, pool or library
error for one: api.errors.CONNECTION_ERRORS) is UNAVAILABLE / DATABASE_UNAVAILABLE;
anything else is INTERNAL, logged here with its traceback and shown
to the client without details.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import psycopg
import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
    max_aliases,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from api.errors import database_unreachable, unavailable_error
from api.graphql.cost import CostLimit, DepthLimit
from api.graphql.descriptions import describe
from api.graphql.mutations import Mutation
from api.graphql.plans import PlanMutation, PlanQuery
from api.graphql.queries import Query
from api.graphql.scalars import DateTimeScalar
from api.graphql.types import Topic, Unit
from domain.errors import LinkageError

log = logging.getLogger("linkage.graphql")

# A value PostgreSQL cannot take (NUL, an unpaired surrogate) that no rule caught.
UNSTORABLE_INPUT = (psycopg.DataError, UnicodeEncodeError)

MAX_ALIASES = 30
MAX_TOKENS = 4000
CACHED_DOCUMENTS = 1000
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


# The limit rules are built once: ValidationCache keys on the rule classes, so rules
# made afresh per request (as MaxAliasesLimiter does) never hit it. The depth rule is
# our own: strawberry's counts the root field as 0, so it let 13 levels through.
DEPTH_RULE = DepthLimit
ALIAS_RULE = max_aliases.create_validator(MAX_ALIASES)


class LimitRules(AddValidationRules):
    """Query depth ≤ MAX_DEPTH (the root field is 1) and aliases ≤ MAX_ALIASES
    (fragments included)."""

    def __init__(self) -> None:
        super().__init__([DEPTH_RULE, ALIAS_RULE])


class LinkageSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            code = error_code(error)
            if code == "INTERNAL":
                log.error("GraphQL resolver failed", exc_info=error.original_error)
            elif code == "UNAVAILABLE" and not isinstance(error.original_error, LinkageError):
                log.warning("database unavailable in GraphQL: %s", error.original_error)


def error_code(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, LinkageError):
        return original.code
    if database_unreachable(original):
        return "UNAVAILABLE"
    if original is None or not error.path or isinstance(original, UNSTORABLE_INPUT):
        return "BAD_INPUT"
    return "INTERNAL"


def format_error(error: GraphQLError) -> dict[str, object]:
    """The error as the response carries it: message, locations, path, code, rule."""
    formatted = dict(error.formatted)
    code = error_code(error)
    original = error.original_error
    extensions: dict[str, object] = {"code": code}
    if code == "UNAVAILABLE" and not isinstance(original, LinkageError):
        original = unavailable_error()
    if isinstance(original, LinkageError):
        extensions["rule"] = original.rule
        formatted["message"] = original.message
    elif code == "BAD_INPUT":
        extensions["rule"] = "GRAPHQL_INVALID"
    else:
        extensions["rule"] = "INTERNAL_ERROR"
        formatted["message"] = "an internal error occurred; it was logged"
    formatted["extensions"] = extensions
    return formatted


def build_schema() -> LinkageSchema:
    schema = LinkageSchema(
        query=merge_types("Query", (Query, PlanQuery)),
        mutation=merge_types("Mutation", (Mutation, PlanMutation)),
        types=[Topic, Unit],
        scalar_overrides={datetime: DateTimeScalar},
        config=StrawberryConfig(auto_camel_case=True),
        extensions=[
            LimitRules,
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            CostLimit,
            # County apps repeat the same documents: parse and validate each once
            lambda: ParserCache(maxsize=CACHED_DOCUMENTS),
            lambda: ValidationCache(maxsize=CACHED_DOCUMENTS),
        ],
    )
    describe(schema._schema)  # Chinese and English, from one table (api.graphql.descriptions)
    return schema


def schema_sdl() -> str:
    return build_schema().as_str() + "\n"


def main() -> None:
    """`python -m api.graphql.schema` rewrites schema.graphql from the code."""
    SCHEMA_FILE.write_text(schema_sdl(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
