"""Every type, field and enum value of the served schema is described for county
developers, in Chinese and in English (issue 21): a type added later fails here until
`api.graphql.descriptions` describes it."""

from __future__ import annotations

import re

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    build_schema,
)

from api.graphql.descriptions import ARGUMENTS, BUILT_IN, description_of
from api.graphql.schema import build_schema as served_schema
from api.graphql.schema import schema_sdl

CHINESE = re.compile("[\u4e00-\u9fff]")
LATIN = re.compile("[A-Za-z]{3}")


def _named_types() -> dict[str, object]:
    schema = served_schema()._schema
    return {
        n: t for n, t in schema.type_map.items() if not n.startswith("__") and n not in BUILT_IN
    }


def test_every_type_and_field_has_a_chinese_and_an_english_description() -> None:
    missing = []
    for name, gtype in _named_types().items():
        described = description_of(name)
        if described is None:
            missing.append(name)
        if isinstance(gtype, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f in gtype.fields if description_of(name, f) is None]
            missing += [
                f"{name}.{f}({a})"
                for f, field in gtype.fields.items()
                for a in getattr(field, "args", {})
                if a not in ARGUMENTS
            ]
    assert missing == []
    for name, gtype in _named_types().items():
        entries = [description_of(name)]
        entries += [description_of(name, f) for f in getattr(gtype, "fields", {})]
        for entry in entries:
            assert entry is not None
            zh, en = entry
            assert CHINESE.search(zh), (name, zh)
            assert LATIN.search(en), (name, en)


def test_every_enum_value_has_its_chinese_label() -> None:
    unlabelled = [
        f"{name}.{value}"
        for name, gtype in _named_types().items()
        if isinstance(gtype, GraphQLEnumType)
        for value, definition in gtype.values.items()
        if not (definition.description and CHINESE.search(definition.description))
    ]
    assert unlabelled == []


def test_the_descriptions_reach_introspection_and_schema_graphql() -> None:
    schema = build_schema(schema_sdl())
    topic = schema.type_map["Topic"]
    assert isinstance(topic, GraphQLObjectType)
    assert "协商议题" in (topic.description or "")
    assert "consultation topic" in (topic.description or "")
    assert "当前承办单位" in (topic.fields["owner"].description or "")
    stage = schema.type_map["Stage"]
    assert isinstance(stage, GraphQLEnumType)
    assert stage.values["CLOSED"].description == "已办结"
    reason = schema.type_map["InboxItem"].fields["reason"]  # type: ignore[attr-defined]
    assert "TRANSFER_PENDING 待接收转交" in reason.description
    assert str(reason.type) == "String!"  # the contract's type: the values are described
