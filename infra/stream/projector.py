"""`linkage projector`: the Kafka consumer group that feeds the read models.

Each poll's records are applied in ONE PostgreSQL transaction together with the
next offset of every partition they came from (`projector_offsets`): a crash
anywhere loses nothing and applies nothing twice. When partitions are assigned
(start, restart, rebalance) the consumer seeks to the offsets stored there, not
to Kafka's committed offsets. The offset rows are locked for the transaction and
records below the stored offset are dropped, so even a projector that lost its
partitions in a rebalance it did not notice cannot apply them twice. The relay
may publish an event again (at-least-once): those repeats are dropped by
(topic id, version) against `projector_applied`.

The views and their failure handling are the embedded runner's own
(`ProjectionRunner.apply_envelopes`): a failing topic parks, others go on.

How far the projectors have got is read through `infra.stream.state`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from psycopg import Cursor
from psycopg.rows import DictRow, dict_row

from infra.bootstrap import Runtime
from infra.stream import messages
from infra.stream.state import create_tables
from projections.envelope import Envelope
from projections.runner import INSERT_DEAD, ProjectionRunner

log = logging.getLogger(__name__)

MAX_RECORDS = 2000
# Tansu's group join waits out the rebalance timeout (= max_poll_interval_ms) of
# members that left; 300 s by default. One batch is applied well within this.
MAX_POLL_INTERVAL_MS = 10_000

LOCK_OFFSETS = (
    "SELECT partition, next_offset FROM public.projector_offsets"
    " WHERE kafka_topic = %s AND partition = ANY(%s) ORDER BY partition FOR UPDATE"
)
ENSURE_OFFSETS = (
    "INSERT INTO public.projector_offsets (kafka_topic, partition)"
    " SELECT %s, unnest(%s::int[]) ON CONFLICT DO NOTHING"
)
SELECT_OFFSETS = (
    "SELECT partition, next_offset FROM public.projector_offsets"
    " WHERE kafka_topic = %s AND partition = ANY(%s)"
)
UPDATE_OFFSET = (
    "UPDATE public.projector_offsets SET next_offset = %s,"
    " last_position = GREATEST(last_position, %s), member = %s, updated_at = now()"
    " WHERE kafka_topic = %s AND partition = %s"
)
SELECT_APPLIED = (
    "SELECT topic_id, version FROM public.projector_applied WHERE topic_id = ANY(%s) FOR UPDATE"
)
UPSERT_APPLIED = (
    "INSERT INTO public.projector_applied (topic_id, version)"
    " SELECT * FROM unnest(%s::text[], %s::int[])"
    " ON CONFLICT (topic_id) DO UPDATE"
    " SET version = GREATEST(projector_applied.version, EXCLUDED.version)"
)


@dataclass
class BatchReport:
    records: int = 0
    applied: int = 0
    repeats: int = 0


class Projector:
    """One member of the projector group."""

    def __init__(self, runtime: Runtime, *, member: str | None = None) -> None:
        settings = runtime.settings
        if settings.kafka_bootstrap is None:
            raise ValueError("LINKAGE_KAFKA_BOOTSTRAP is not set: the projector needs a broker")
        self.runtime = runtime
        self.runner: ProjectionRunner = runtime.projections
        self.views = list(self.runner.views.values())
        self.bootstrap = settings.kafka_bootstrap
        self.kafka_topic = settings.kafka_topic
        self.group = settings.kafka_group
        self.member = member or f"{socket.gethostname()}:{os.getpid()}"
        self.applied = 0
        with psycopg.connect(runtime.database.conninfo, autocommit=True) as conn:
            create_tables(conn.cursor())

    # -- applying --------------------------------------------------------------------

    def apply(
        self, conn: psycopg.Connection[DictRow], records: Sequence[ConsumerRecord]
    ) -> BatchReport:
        """One transaction: the views' writes for `records` and the partitions' offsets."""
        report = BatchReport(records=len(records))
        by_partition: dict[int, list[ConsumerRecord]] = {}
        for r in records:
            by_partition.setdefault(r.partition, []).append(r)
        with conn.transaction(), conn.cursor() as curs:
            parts = sorted(by_partition)
            curs.execute(ENSURE_OFFSETS, (self.kafka_topic, parts))
            curs.execute(LOCK_OFFSETS, (self.kafka_topic, parts))
            stored = {row["partition"]: row["next_offset"] for row in curs.fetchall()}
            fresh: list[tuple[ConsumerRecord, Envelope]] = []
            for p in parts:
                for r in sorted(by_partition[p], key=lambda r: r.offset):
                    if r.offset < stored[p]:
                        report.repeats += 1  # applied before (a rebalance we missed)
                        continue
                    try:
                        fresh.append((r, messages.decode(r.value)))
                    except messages.MessageError as exc:
                        self._bury_message(curs, r, str(exc))
            kept = self._drop_repeats(curs, [e for _, e in fresh])
            report.repeats += len(fresh) - len(kept)
            kept.sort(key=lambda e: e.position)
            for view in self.views:
                after = view.position()  # a rebuild's position: what it already holds
                mine = [e for e in kept if e.position > after]
                if mine:
                    ProjectionRunner.apply_envelopes(curs, view, mine, view.name)
            latest: dict[str, int] = {}
            for e in kept:
                latest[e.topic_id] = max(latest.get(e.topic_id, 0), e.version)
            if latest:
                curs.execute(UPSERT_APPLIED, (list(latest), list(latest.values())))
            for p in parts:
                mine_p = by_partition[p]
                positions = [e.position for r, e in fresh if r.partition == p]
                curs.execute(
                    UPDATE_OFFSET,
                    (
                        max(r.offset for r in mine_p) + 1,
                        max(positions, default=0),
                        self.member,
                        self.kafka_topic,
                        p,
                    ),
                )
        report.applied = len(kept)
        self.applied += len(kept)
        return report

    @staticmethod
    def _drop_repeats(curs: Cursor[DictRow], envelopes: list[Envelope]) -> list[Envelope]:
        """Keep each (topic id, version) once, above what was applied before."""
        if not envelopes:
            return []
        curs.execute(SELECT_APPLIED, (sorted({e.topic_id for e in envelopes}),))
        current = {row["topic_id"]: row["version"] for row in curs.fetchall()}
        kept = []
        for e in envelopes:  # one topic's records are in offset order within a partition
            if e.version > current.get(e.topic_id, 0):
                current[e.topic_id] = e.version
                kept.append(e)
        return kept

    def _bury_message(self, curs: Cursor[DictRow], r: ConsumerRecord, error: str) -> None:
        log.warning("partition %d offset %d is not an event: %s", r.partition, r.offset, error)
        key = r.key.decode(errors="replace") if r.key else ""
        curs.execute(
            INSERT_DEAD, (f"kafka:{r.partition}", r.offset, key, None, None, f"message: {error}")
        )

    # -- consuming -------------------------------------------------------------------

    def stored_offsets(self, partitions: Sequence[int]) -> dict[int, int]:
        with psycopg.connect(self.runtime.database.conninfo, autocommit=True) as conn:
            rows = conn.execute(SELECT_OFFSETS, (self.kafka_topic, list(partitions))).fetchall()
        return {int(p): int(o) for p, o in rows}

    def consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            bootstrap_servers=self.bootstrap.split(","),
            group_id=self.group,
            client_id=self.member,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
            session_timeout_ms=MAX_POLL_INTERVAL_MS,
            heartbeat_interval_ms=1000,
            request_timeout_ms=MAX_POLL_INTERVAL_MS + 5000,
            reconnect_backoff_max_ms=2000,
        )

    def run(self, stop: threading.Event, poll_ms: int = 500) -> None:
        """Consume until `stop` is set; failures of the broker or the database restart
        the consumer, which then resumes from the offsets stored in PostgreSQL."""
        while not stop.is_set():
            consumer = None
            try:
                with psycopg.connect(self.runtime.database.conninfo, row_factory=dict_row) as conn:
                    consumer = self.consumer()
                    consumer.subscribe([self.kafka_topic], listener=_SeekToStored(self, consumer))
                    while not stop.is_set():
                        polled = consumer.poll(timeout_ms=poll_ms, max_records=MAX_RECORDS)
                        records = [r for batch in polled.values() for r in batch]
                        if records:
                            self.apply(conn, records)
            except (KafkaError, psycopg.Error, OSError) as exc:
                log.warning("projector: %s: %s; restarting the consumer", type(exc).__name__, exc)
                stop.wait(1.0)
            finally:
                if consumer is not None:
                    try:
                        consumer.close(autocommit=False)
                    except Exception as exc:
                        log.debug("closing the consumer: %s", exc)


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, start each partition where PostgreSQL says it stands."""

    def __init__(self, projector: Projector, consumer: KafkaConsumer) -> None:
        self.projector = projector
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        stored = self.projector.stored_offsets([tp.partition for tp in assigned])
        for tp in assigned:
            self.consumer.seek(tp, stored.get(tp.partition, 0))
        log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))
