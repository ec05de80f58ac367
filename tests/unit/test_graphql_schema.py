"""The served schema is the one in schema.graphql, and it holds the whole contract."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    build_schema,
)

from api.graphql.schema import SCHEMA_FILE, schema_sdl

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contract.graphql"


def test_the_exported_schema_graphql_is_the_served_schema() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_sdl(), (
        "schema.graphql drifted from the code; run `python -m api.graphql.schema` and review"
    )


# The sections of contract-next.graphql built so far (checked as contract_check.py --next does).
BUILT_SECTIONS = ("plans",)


def contract_sdl() -> str:
    sdl = CONTRACT.read_text(encoding="utf-8")
    text = (CONTRACT.parent / "contract-next.graphql").read_text(encoding="utf-8")
    marks = list(re.finditer(r"^# == section: (\w+) ==$", text, re.M))
    for i, mark in enumerate(marks):
        if mark.group(1) in BUILT_SECTIONS:
            sdl += "\n" + text[mark.end() : marks[i + 1].start() if i + 1 < len(marks) else None]
    return sdl


def test_the_schema_holds_every_type_field_argument_and_enum_value_of_the_contract() -> None:
    contract = build_schema(contract_sdl())
    schema = build_schema(schema_sdl())
    missing = []
    for name, ctype in contract.type_map.items():
        if name.startswith("__"):
            continue
        stype = schema.type_map.get(name)
        if stype is None:
            missing.append(f"type {name}")
        elif isinstance(ctype, GraphQLEnumType):
            assert isinstance(stype, GraphQLEnumType)
            missing += [f"{name}.{v}" for v in ctype.values if v not in stype.values]
        elif isinstance(ctype, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            sfields = getattr(stype, "fields", {})
            for fname, cfield in ctype.fields.items():
                sfield = sfields.get(fname)
                if sfield is None or str(sfield.type).rstrip("!") != str(cfield.type).rstrip("!"):
                    missing.append(f"{name}.{fname}")
                    continue
                for aname, carg in getattr(cfield, "args", {}).items():
                    sarg = sfield.args.get(aname)
                    if sarg is None or str(sarg.type).rstrip("!") != str(carg.type).rstrip("!"):
                        missing.append(f"{name}.{fname}({aname})")
    assert missing == []
