"""A read model's columns declared once, on the dataclass of its rows.

A field made with `field(metadata=sql("text NOT NULL"))` is a column: its name, its SQL type
and constraint. From those fields come the table's DDL, the types each column
travels as in a batch's `unnest` (projections.bulk) and the upsert that writes
them, so adding a column is one line in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

SQL_KEY = "sql"


def sql(declaration: str) -> dict[str, str]:
    """The metadata of a dataclass field that is a column: `field(metadata=sql("text
    NOT NULL"))` declares its SQL type and constraints."""
    return {SQL_KEY: declaration}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sql: str  # type and constraints, as in CREATE TABLE

    @property
    def type(self) -> str:
        return self.sql.split()[0]

    @property
    def travel(self) -> str:
        """The type it travels as in `unnest`: a text[] as one array literal per row
        (unnest would flatten a 2-D array)."""
        return "text" if self.type.endswith("[]") else self.type

    @property
    def value(self) -> str:
        """The unnested value `r.<name>` cast back to the column's type where needed."""
        return f"r.{self.name}::{self.type}" if self.type.endswith("[]") else f"r.{self.name}"


def columns_of(cls: type) -> tuple[Column, ...]:
    """The columns declared on a dataclass, in field order."""
    return tuple(Column(f.name, f.metadata[SQL_KEY]) for f in fields(cls) if SQL_KEY in f.metadata)


def create_table(table: str, cols: Iterable[Column], key: str, suffix: str = "") -> str:
    """CREATE TABLE IF NOT EXISTS {schema}.<table> (…, PRIMARY KEY (key))<suffix>."""
    body = ", ".join(f"{c.name} {c.sql}" for c in cols)
    return f"CREATE TABLE IF NOT EXISTS {{schema}}.{table} ({body}, PRIMARY KEY ({key})){suffix}"


def upsert_unnest(table: str, cols: Sequence[Column], unnest: str) -> str:
    """INSERT the rows of `unnest` (projections.bulk.unnest_of) into `table`; on a
    key conflict (the first column) every other column is replaced."""
    names = [c.name for c in cols]
    return (
        f"INSERT INTO {{schema}}.{table} AS t ({', '.join(names)})"
        f" SELECT {', '.join(c.value for c in cols)} FROM {unnest} AS r({', '.join(names)})"
        f" ON CONFLICT ({names[0]}) DO UPDATE SET "
        + ", ".join(f"{n} = EXCLUDED.{n}" for n in names[1:])
    )
