"""The catalogue of commands (domain.topic_commands) is the one both protocols follow.

Every command type is a GraphQL mutation and a REST route and nothing else is;
each protocol's input carries the command's fields; every `Topic` method that
records an event is reached by exactly one command; `command_of` refuses what
is not a command with BAD_INPUT naming the field.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
import uuid
from collections import abc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from graphql import GraphQLInputObjectType, GraphQLNonNull, build_schema

from api.commands import COMMANDS, command_of
from api.graphql.mutations import INPUTS
from api.rest.routes import ROUTES, path_parameters
from domain.application import LinkageApp
from domain.errors import BadInputError
from domain.plan_commands import PLAN_COMMANDS
from domain.topic import MAX_ITEMS, Actor, Role, Topic
from domain.topic_commands import (
    COMMAND_TYPES,
    TOPIC_COMMANDS,
    AssignTask,
    CommandContext,
    MergeTopic,
    ScheduleDeliberation,
    SubmitTopic,
    TopicCommand,
)
from tests.utils.factories import VILLAGE

SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text("utf-8"))
ROUTED = {route.command: route for routes in ROUTES.values() for route in routes}


def snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def fields_of(kind: type) -> dict[str, dataclasses.Field[object]]:
    return {f.name: f for f in dataclasses.fields(kind)}


def required(kind: type) -> set[str]:
    return {
        name
        for name, f in fields_of(kind).items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


def test_the_catalogue_names_each_command_once() -> None:
    names = [kind.name for kind in COMMAND_TYPES]
    assert len(names) == len(set(names)) == 29
    assert set(COMMANDS) == set(names)
    assert COMMAND_TYPES[0] is SubmitTopic
    assert all(issubclass(kind, TopicCommand) for kind in TOPIC_COMMANDS)
    for kind in COMMAND_TYPES:
        assert kind.__dataclass_params__.frozen, kind  # type: ignore[attr-defined]


def test_every_command_is_a_mutation_of_schema_graphql_and_every_mutation_a_command() -> None:
    mutation = SCHEMA.mutation_type
    assert mutation is not None
    topic_names = [kind.name for kind in COMMAND_TYPES]
    fields = list(mutation.fields)
    assert fields[: len(topic_names)] == topic_names  # in catalogue order
    assert set(fields[len(topic_names) :]) == {kind.name for kind in PLAN_COMMANDS}


def test_every_command_is_a_rest_route_and_every_route_a_command() -> None:
    assert set(ROUTED) == set(COMMAND_TYPES)
    assert sum(len(routes) for routes in ROUTES.values()) == len(COMMAND_TYPES)


@pytest.mark.parametrize("kind", TOPIC_COMMANDS, ids=lambda kind: kind.name)
def test_a_mutations_input_carries_the_commands_fields(kind: type[TopicCommand]) -> None:
    mutation = SCHEMA.mutation_type
    assert mutation is not None
    input_type = mutation.fields[kind.name].args["input"].type
    assert isinstance(input_type, GraphQLNonNull)
    assert isinstance(input_type.of_type, GraphQLInputObjectType)
    assert input_type.of_type.name == INPUTS[kind.name].__name__
    given = {snake(name) for name in input_type.of_type.fields}
    assert given <= set(fields_of(kind)), given - set(fields_of(kind))
    assert required(kind) <= given, required(kind) - given


@pytest.mark.parametrize("kind", TOPIC_COMMANDS, ids=lambda kind: kind.name)
def test_a_rest_route_carries_the_commands_fields(kind: type[TopicCommand]) -> None:
    route = ROUTED[kind]
    given = set(route.body.model_fields) - {"expected_version"} | set(path_parameters(route.path))
    assert given <= set(fields_of(kind)), given - set(fields_of(kind))
    assert required(kind) <= given, required(kind) - given


class RecordingTopic:
    """Stands in for a topic: records which of its methods a command calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., str]:
        def method(*args: object) -> str:
            self.calls.append((name, args))
            return "X1"

        return method


def sample(hint: object) -> object:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    first = next(o for o in typing.get_args(hint) if o is not type(None)) if union else hint
    base = typing.get_origin(first) or first
    values: dict[object, object] = {
        str: "文本",
        bool: True,
        datetime: datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        uuid.UUID: uuid.uuid4(),
    }
    if base in values:
        return values[base]
    (item,) = typing.get_args(first)
    return [{"name": "王委员", "kind": "MEMBER", "member_id": None}] if item is not str else ["a"]


def a_command(kind: type[TopicCommand]) -> TopicCommand:
    hints = typing.get_type_hints(kind)
    arguments = {name: sample(hints[name]) for name in fields_of(kind) if name != "topic_id"}
    command = command_of(kind.name, uuid.uuid4(), arguments)
    assert isinstance(command, kind)
    return command


def topic_command_methods() -> set[str]:
    """The methods of `Topic` that record an event, except submission."""
    return {
        name
        for name, member in vars(Topic).items()
        if inspect.isfunction(member) and "._trigger(" in inspect.getsource(member)
    }


def test_every_topic_method_that_records_an_event_is_reached_by_exactly_one_command() -> None:
    actor = Actor("u1", VILLAGE, Role.STAFF)
    target = RecordingTopic()
    reached: list[str] = []
    for kind in TOPIC_COMMANDS:
        topic = RecordingTopic()
        ctx = CommandContext(actor, units=None, merge_target=lambda _i: target)  # type: ignore[arg-type]
        created = a_command(kind).apply_to(topic, ctx)  # type: ignore[arg-type]
        assert len(topic.calls) == 1, (kind.name, topic.calls)
        method, args = topic.calls[0]
        assert ctx.actor in args, kind.name  # the actor, the time and the arguments pass through
        assert created == ("X1" if kind in (AssignTask, ScheduleDeliberation) else None)
        assert ctx.changed == ([target] if kind is MergeTopic else []), kind.name
        reached.append(method)
    assert len(reached) == len(set(reached))
    assert set(reached) == topic_command_methods()


def test_the_application_has_one_command_entry_and_no_verb_per_command() -> None:
    assert callable(LinkageApp.handle)
    left = [snake(kind.name) for kind in TOPIC_COMMANDS if hasattr(LinkageApp, snake(kind.name))]
    assert left == []


@pytest.mark.parametrize(
    ("name", "topic_id", "arguments", "rule", "words"),
    [
        ("renameTopic", uuid.UUID(int=1), {}, "UNKNOWN_COMMAND", "'renameTopic'"),
        ("declineTopic", uuid.UUID(int=1), {}, "MISSING_FIELD", "declineTopic needs reason"),
        (
            "declineTopic",
            uuid.UUID(int=1),
            {"reason": "重复", "colour": "red"},
            "UNKNOWN_FIELD",
            "no field 'colour'; its fields are reason",
        ),
        ("declineTopic", None, {"reason": "重复"}, "MISSING_FIELD", "needs topicId"),
        ("declineTopic", "not-a-topic", {"reason": "重复"}, "INVALID_TOPIC_ID", "'not-a-topic'"),
        ("declineTopic", uuid.UUID(int=1), {"reason": 3}, "INVALID_FIELD", "reason must be str"),
        (
            "recordReturnVisit",
            uuid.UUID(int=1),
            {"contacted": 1, "solved": True, "satisfaction": "SATISFIED"},
            "INVALID_FIELD",
            "contacted must be bool, not int",
        ),
        (
            "recordDeliberation",
            uuid.UUID(int=1),
            {"meeting_id": "M1", "attendance": "王委员", "minutes": "纪要", "recommendations": []},
            "INVALID_FIELD",
            "attendance must be",
        ),
        (
            "mergeTopic",
            uuid.UUID(int=1),
            {"into_topic_id": "elsewhere", "reason": "合并"},
            "INVALID_TOPIC_ID",
            "intoTopicId 'elsewhere'",
        ),
        ("assignTask", uuid.UUID(int=1), {"handler": "张"}, "MISSING_FIELD", "handlerUnit"),
    ],
)
def test_command_of_refuses_what_is_not_a_command(
    name: str, topic_id: uuid.UUID | str | None, arguments: dict[str, object], rule: str, words: str
) -> None:
    with pytest.raises(BadInputError) as refused:
        command_of(name, topic_id, arguments)
    assert refused.value.rule == rule
    assert words in refused.value.message


def test_command_of_builds_typed_commands_from_protocol_values() -> None:
    into = uuid.uuid4()
    merge = command_of(
        "mergeTopic", str(uuid.UUID(int=7)), {"into_topic_id": str(into), "reason": "合并"}
    )
    assert merge == MergeTopic(topic_id=uuid.UUID(int=7), into_topic_id=into, reason="合并")
    submit = command_of(
        "submitTopic",
        None,
        {
            "title": "t",
            "description": "d",
            "category": "c",
            "source": "HOTLINE_12345",
            "location": VILLAGE,
        },
    )
    assert submit == SubmitTopic(
        title="t", description="d", category="c", source="HOTLINE_12345", location=VILLAGE
    )


@pytest.mark.parametrize("kind", TOPIC_COMMANDS, ids=lambda kind: kind.name)
def test_a_commands_lists_have_the_domains_cap_on_every_protocol(
    kind: type[TopicCommand],
) -> None:
    """REST documents `maxItems` from the domain's MAX_ITEMS, the one cap `check_items`
    enforces for GraphQL and REST alike: a list field of a command without it fails."""
    hints = typing.get_type_hints(kind)
    lists = {
        name for name in fields_of(kind) if typing.get_origin(hints[name]) in (abc.Sequence, list)
    }
    schema = ROUTED[kind].body.model_json_schema(by_alias=False)
    capped = {
        name for name, spec in schema["properties"].items() if spec.get("maxItems") == MAX_ITEMS
    }
    assert lists == capped
