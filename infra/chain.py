"""The hash chain over the event store: every stored event linked to its predecessor.

Shape: one global chain in notification-id (position) order, computed inside
PostgreSQL by a statement-level trigger on the events table. Writers already hold
the table's EXCLUSIVE lock (eventsourcing's recorder takes it so that insert order
equals commit order), so the chain grows in position order with no gap between
transactions, and every insert path — the pipelined INSERT, the binary COPY of
large saves — is chained without Python code. For each event the side table `CHAIN`
records:

* ``content_hash`` = SHA-256(originator id (16 bytes) ‖ version (int8) ‖ position
  (int8) ‖ byte length of the topic (int4) ‖ topic (UTF-8) ‖ state): what the row
  held when it was written;
* ``prev_position``: the position of the event before it in the chain (0 for the
  first), so a removed row leaves a dangling link that names its position;
* ``hash`` = SHA-256(previous hash ‖ prev_position (int8) ‖ content_hash), the
  first event's previous hash being 32 zero bytes;
* the event's originator id and version, so a removed event is named by topic.

One `HEAD` row anchors the end: the last position, its hash, the number of chained
events and the last event's id and version; removing the newest events leaves the
chain short of the head. Verification (`infra.audit_verify`) checks every link on
its own (set-based, in SQL), so it needs no sequential pass.

Installation is idempotent and runs with the recorder's table creation: the first
time (no head and no chain yet) it chains the events already stored, once.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from psycopg import sql

EVENTS_TABLE = "linkage_events"  # eventsourcing names it after the application ("linkage")
GENESIS_HASH = bytes(32)


def chain_table(events_table: str) -> str:
    return f"{events_table}_chain"


def head_table(events_table: str) -> str:
    return f"{events_table}_chain_head"


def content_hash(
    originator_id: uuid.UUID, version: int, position: int, topic: str, state: bytes
) -> bytes:
    """What the database computes for a row (the reference the tests and auditors use)."""
    topic_bytes = topic.encode()
    return hashlib.sha256(
        originator_id.bytes
        + version.to_bytes(8, "big", signed=True)
        + position.to_bytes(8, "big", signed=True)
        + len(topic_bytes).to_bytes(4, "big", signed=True)
        + topic_bytes
        + state
    ).digest()


def link_hash(prev_hash: bytes, prev_position: int, content: bytes) -> bytes:
    return hashlib.sha256(
        prev_hash + prev_position.to_bytes(8, "big", signed=True) + content
    ).digest()


def content_hash_sql(alias: str) -> sql.Composable:
    """The SQL expression of `content_hash` over the events-table row `alias`."""
    return sql.SQL(
        "sha256(uuid_send({a}.originator_id) || int8send({a}.originator_version)"
        " || int8send({a}.notification_id)"
        " || int4send(octet_length(convert_to(coalesce({a}.topic, ''), 'UTF8')))"
        " || convert_to(coalesce({a}.topic, ''), 'UTF8') || coalesce({a}.state, ''::bytea))"
    ).format(a=sql.Identifier(alias))


@dataclass(frozen=True, slots=True)
class ChainNames:
    schema: str
    events: str

    @property
    def chain(self) -> sql.Composable:
        return sql.Identifier(self.schema, chain_table(self.events))

    @property
    def head(self) -> sql.Composable:
        return sql.Identifier(self.schema, head_table(self.events))

    @property
    def table(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.events)

    def function(self, suffix: str) -> sql.Composable:
        return sql.Identifier(self.schema, f"{self.events}_chain_{suffix}")

    @property
    def trigger_name(self) -> str:
        return f"{self.events}_chain"


def install_statements(schema: str, events_table: str) -> list[sql.Composed]:
    """DDL that installs the chain on `schema.events_table` (idempotent, one transaction).

    Appended to the recorder's own table-creation statements, so it runs wherever
    the store is created or opened.
    """
    n = ChainNames(schema, events_table)
    names = {
        "table": n.table,
        "chain": n.chain,
        "head": n.head,
        "append": n.function("append"),
        "on_insert": n.function("on_insert"),
        "install": n.function("install"),
        "trigger": sql.Identifier(n.trigger_name),
        "trigger_name": sql.Literal(n.trigger_name),
        "table_oid": sql.Literal(f"{schema}.{events_table}"),
        "lock_key": sql.Literal(f"linkage chain {schema}.{events_table}"),
        "ch_new": content_hash_sql("n"),
        "ch_e": content_hash_sql("e"),
    }

    def q(text: str) -> sql.Composed:
        return sql.SQL(text).format(**names)

    return [
        # concurrent starts (several API workers) install one after the other
        q("SELECT pg_advisory_xact_lock(hashtext({lock_key}))"),
        q(
            "CREATE TABLE IF NOT EXISTS {chain} ("
            " position bigint PRIMARY KEY,"
            " prev_position bigint NOT NULL,"
            " originator_id uuid NOT NULL,"
            " originator_version bigint NOT NULL,"
            " content_hash bytea NOT NULL,"
            " hash bytea NOT NULL)"
        ),
        q(
            "CREATE TABLE IF NOT EXISTS {head} ("
            " id smallint PRIMARY KEY CHECK (id = 1),"
            " position bigint NOT NULL,"
            " hash bytea NOT NULL,"
            " count bigint NOT NULL,"
            " originator_id uuid,"
            " originator_version bigint)"
        ),
        # the fold: link each event to the previous one, under the head's row lock
        q(
            "CREATE OR REPLACE FUNCTION {append}("
            " positions bigint[], ids uuid[], versions bigint[], contents bytea[])"
            " RETURNS void LANGUAGE plpgsql AS $f$ "
            "DECLARE"
            " prev_pos bigint; prev_hash bytea; n int := coalesce(cardinality(positions), 0);"
            " prevs bigint[]; hashes bytea[]; r record; last int; "
            "BEGIN"
            " IF n = 0 THEN RETURN; END IF;"
            " SELECT h.position, h.hash INTO prev_pos, prev_hash FROM {head} h"
            "  WHERE h.id = 1 FOR UPDATE;"
            " IF NOT FOUND THEN"
            "  RAISE EXCEPTION 'the hash chain of % has no head row', {table_oid};"
            " END IF;"
            " prevs := array_fill(NULL::bigint, ARRAY[n]);"
            " hashes := array_fill(NULL::bytea, ARRAY[n]);"
            " FOR r IN SELECT u.pos, u.content, u.i"
            "  FROM unnest(positions, contents) WITH ORDINALITY AS u(pos, content, i)"
            "  ORDER BY u.pos LOOP"
            "  IF r.pos <= prev_pos THEN"
            "   RAISE EXCEPTION 'hash chain of %: position % is not after the chain''s head %"
            " (events must be written under the table''s EXCLUSIVE lock)',"
            "    {table_oid}, r.pos, prev_pos;"
            "  END IF;"
            "  prevs[r.i] := prev_pos;"
            "  prev_hash := sha256(prev_hash || int8send(prev_pos) || r.content);"
            "  hashes[r.i] := prev_hash;"
            "  prev_pos := r.pos;"
            "  last := r.i;"
            " END LOOP;"
            " INSERT INTO {chain}"
            "  (position, prev_position, originator_id, originator_version, content_hash, hash)"
            "  SELECT * FROM unnest(positions, prevs, ids, versions, contents, hashes);"
            " UPDATE {head} SET position = prev_pos, hash = prev_hash, count = count + n,"
            "  originator_id = ids[last], originator_version = versions[last] WHERE id = 1; "
            "END $f$"
        ),
        q(
            "CREATE OR REPLACE FUNCTION {on_insert}() RETURNS trigger LANGUAGE plpgsql AS $f$ "
            "BEGIN"
            " PERFORM {append}(array_agg(n.notification_id), array_agg(n.originator_id),"
            "  array_agg(n.originator_version), array_agg({ch_new}))"
            " FROM new_events n;"
            " RETURN NULL; "
            "END $f$"
        ),
        # first installation: the head row, and the events stored before, chained once
        q(
            "CREATE OR REPLACE FUNCTION {install}() RETURNS bigint LANGUAGE plpgsql AS $f$ "
            "DECLARE done bigint := 0; upto bigint := 0; batch bigint; "
            "BEGIN"
            " IF EXISTS (SELECT 1 FROM {head}) OR EXISTS (SELECT 1 FROM {chain}) THEN"
            "  RETURN 0;"
            " END IF;"
            " LOCK TABLE {table} IN EXCLUSIVE MODE;"
            "  INSERT INTO {head} VALUES (1, 0, decode(repeat('00', 32), 'hex'), 0, NULL, NULL);"
            " LOOP"
            "  SELECT count(*), max(s.notification_id) INTO batch, upto FROM ("
            "   SELECT e.notification_id FROM {table} e WHERE e.notification_id > done"
            "   ORDER BY e.notification_id LIMIT 50000) s;"
            "  EXIT WHEN batch = 0;"
            "  PERFORM {append}(array_agg(e.notification_id), array_agg(e.originator_id),"
            "   array_agg(e.originator_version), array_agg({ch_e}))"
            "  FROM {table} e WHERE e.notification_id > done AND e.notification_id <= upto;"
            "  done := upto;"
            " END LOOP;"
            " RETURN done; "
            "END $f$"
        ),
        q(
            "DO $d$ BEGIN"
            " IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = {trigger_name}"
            "  AND tgrelid = {table_oid}::regclass) THEN"
            "  CREATE TRIGGER {trigger} AFTER INSERT ON {table}"
            "   REFERENCING NEW TABLE AS new_events"
            "   FOR EACH STATEMENT EXECUTE FUNCTION {on_insert}();"
            " END IF; "
            "END $d$"
        ),
        q("SELECT {install}()"),
    ]
