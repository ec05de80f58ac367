"""The commands as the API offers them: one catalogue shared by GraphQL and REST.

`COMMANDS` names every command type of the domain (domain.topic_commands) by its
contract mutation name; `command_of` builds a typed command from a protocol's
arguments (field names as the command's, BAD_INPUT naming any unknown or
missing field). `CommandService.run` acts for a token: it picks the token's
first role that the domain permits for the command (`domain.access.acting_role`;
a token usually has one role), hands the command to `LinkageApp.handle` and
records the command's latency and outcome for /metrics. Every refusal stays a
`LinkageError`; each protocol renders it its own way.
"""

from __future__ import annotations

import dataclasses
import enum
import time
import types
import typing
import uuid
from collections import abc

from api.auth import Principal
from api.ids import decode_global_id
from api.metrics import COMMAND_SECONDS, COMMANDS_TOTAL
from domain.access import acting_role
from domain.application import CommandResult, LinkageApp
from domain.errors import BadInputError, LinkageError
from domain.plan_commands import AnyPlanCommand, DraftPlan, PlanCommand, handle_plan
from domain.topic_commands import COMMAND_TYPES, Command, SubmitTopic, TopicCommand

# contract mutation name -> command type
COMMANDS: dict[str, type[SubmitTopic] | type[TopicCommand]] = {c.name: c for c in COMMAND_TYPES}


class CommandService:
    def __init__(self, app: LinkageApp) -> None:
        self.app = app

    def run(
        self,
        principal: Principal,
        command: Command | AnyPlanCommand,
        *,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Run `command` for `principal` (optimistic when `expected_version` is given)."""
        started = time.perf_counter()
        outcome = "OK"
        try:
            actor = principal.actor(acting_role(principal.roles, command.name))
            if isinstance(command, DraftPlan | PlanCommand):
                return handle_plan(self.app, actor, command, expected_version=expected_version)
            return self.app.handle(actor, command, expected_version=expected_version)
        except LinkageError as err:
            outcome = err.code
            raise
        except Exception:
            outcome = "ERROR"
            raise
        finally:
            COMMANDS_TOTAL.labels(command.name, outcome).inc()
            COMMAND_SECONDS.labels(command.name).observe(time.perf_counter() - started)


def command_of(
    name: str, topic_id: uuid.UUID | str | None, arguments: typing.Mapping[str, object]
) -> Command:
    """The command `name` (a contract mutation name) on `topic_id` (a UUID, its text
    or its Topic global id; None for a submission) with `arguments` by the
    command's field names. Enum members become their values, nested inputs plain
    dicts; a topic reference is parsed like `topic_id`."""
    kind = COMMANDS.get(name)
    if kind is None:
        raise BadInputError("UNKNOWN_COMMAND", f"there is no command {name!r}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    hints = _hints(kind)
    unknown = sorted(set(arguments) - set(fields) - {"topic_id"})
    if unknown:
        raise BadInputError(
            "UNKNOWN_FIELD",
            f"{name} has no field {', '.join(map(repr, unknown))}; "
            f"its fields are {', '.join(f for f in fields if f != 'topic_id')}",
        )
    values: dict[str, object] = {}
    if topic_id is not None:
        values["topic_id"] = (
            topic_id if isinstance(topic_id, uuid.UUID) else parse_topic_id(topic_id)
        )
    elif issubclass(kind, TopicCommand):
        raise BadInputError("MISSING_FIELD", f"{name} needs topicId: the topic it addresses")
    for field, value in arguments.items():
        if field != "topic_id":
            values[field] = _converted(name, field, hints[field], _plain(value))
    missing = [
        f
        for f, spec in fields.items()
        if f not in values
        and spec.default is dataclasses.MISSING
        and spec.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise BadInputError(
            "MISSING_FIELD", f"{name} needs {', '.join(_camel(f) for f in missing)}"
        )
    return kind(**values)  # type: ignore[arg-type]  # checked field by field above


_HINTS: dict[type, dict[str, object]] = {}


def _hints(kind: type) -> dict[str, object]:
    hints = _HINTS.get(kind)
    if hints is None:
        hints = _HINTS[kind] = typing.get_type_hints(kind)
    return hints


def _plain(value: object) -> object:
    """Protocol values as the domain takes them: enum values, dicts, lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _converted(command: str, field: str, hint: object, value: object) -> object:
    """`value` checked against the field's type (a topic reference parsed)."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = typing.get_args(hint) if union else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise BadInputError("MISSING_FIELD", f"{command} needs {_camel(field)}")
    if uuid.UUID in allowed:
        if isinstance(value, uuid.UUID):
            return value
        return parse_topic_id(str(value), _camel(field))
    if any(_accepts(option, value) for option in allowed):
        return value
    raise BadInputError(
        "INVALID_FIELD",
        f"{command}.{_camel(field)} must be {_type_name(hint)}, not {type(value).__name__}",
    )


def _accepts(option: object, value: object) -> bool:
    base = typing.get_origin(option) or option
    if base in (abc.Sequence, list):
        return isinstance(value, list)
    if base in (abc.Mapping, dict):
        return isinstance(value, dict)
    if isinstance(value, bool):
        return base is bool
    return isinstance(base, type) and isinstance(value, base)


def _type_name(hint: object) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.capitalize() for part in rest)


def parse_topic_id(value: str, field: str = "topicId") -> uuid.UUID:
    """A topic's UUID, from the UUID itself or from its GraphQL global id."""
    text = value.strip()
    kind_id = decode_global_id(text)
    if kind_id is not None and kind_id[0] == "Topic":
        text = kind_id[1]
    try:
        return uuid.UUID(text)
    except ValueError:
        raise BadInputError(
            "INVALID_TOPIC_ID", f"{field} {value!r} is neither a topic UUID nor a Topic id"
        ) from None
