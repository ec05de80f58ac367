"""`linkage relay`: the notification log → the Kafka topic (DESIGN §7).

The event store is the outbox. The relay reads the log after its published
position, sends each event (key = topic id) with an idempotent producer
(`acks=all`), waits for the broker to acknowledge the whole batch, and only then
stores the new position — with the next offset of every partition the batch
wrote — in PostgreSQL. A crash between the broker's acknowledgement and that
update sends the batch again: at-least-once, never a gap, and one topic's events
keep their order (one partition per topic; the idempotent producer never reorders
a partition). Consumers drop the repeats by (topic id, version).

One relay publishes at a time (a PostgreSQL advisory lock); a second one waits
as a standby. While the broker is away the relay records the error, keeps the
position, and resumes from it when the broker answers again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.persistence import Notification
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from infra.bootstrap import Runtime
from infra.stream import StreamError, messages
from infra.stream.state import STATE_DDL
from projections.envelope import envelope

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
RELAY_LOCK = 0x6C696E6B  # pg advisory lock id: one publishing relay at a time
HEARTBEAT_SECONDS = 1.0

SELECT_STATE = "SELECT position, offsets FROM public.relay_state WHERE name = %s"
INSERT_STATE = (
    "INSERT INTO public.relay_state (name, kafka_topic) VALUES (%s, %s) ON CONFLICT DO NOTHING"
)
UPDATE_PUBLISHED = (
    "UPDATE public.relay_state SET position = %s, offsets = offsets || %s::jsonb,"
    " published_at = now(), heartbeat_at = now(), error = NULL WHERE name = %s"
)
UPDATE_ERROR = "UPDATE public.relay_state SET heartbeat_at = now(), error = %s WHERE name = %s"
UPDATE_HEARTBEAT = "UPDATE public.relay_state SET heartbeat_at = now() WHERE name = %s"
FLUSH_TIMEOUT = 10.0  # seconds the broker has to acknowledge a batch before it counts as failed


def producer_config(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap.split(","),
        "client_id": "linkage-relay",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 10,
        "batch_size": 512 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "request_timeout_ms": 5000,
        "delivery_timeout_ms": 15000,
        "max_block_ms": 5000,
        "bootstrap_timeout_ms": 5000,
        "reconnect_backoff_max_ms": 2000,
    }


def ensure_topic(bootstrap: str, name: str, partitions: int, replication: int = 1) -> bool:
    """Create the Kafka topic if missing; True when it was created now."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap.split(","),
        client_id="linkage-admin",
        request_timeout_ms=5000,
        bootstrap_timeout_ms=5000,
    )
    try:
        admin.create_topics([NewTopic(name, partitions, replication)])
        return True
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()


@dataclass(frozen=True, slots=True)
class RelayStatus:
    position: int
    offsets: dict[int, int]


class Relay:
    """Publishes the log to `kafka_topic`, batch by batch."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        name: str = "relay",
        batch_size: int = BATCH_SIZE,
        make_producer: Callable[[], KafkaProducer] | None = None,
    ) -> None:
        settings = runtime.settings
        if settings.kafka_bootstrap is None:
            raise StreamError("LINKAGE_KAFKA_BOOTSTRAP is not set: the relay needs a broker")
        self.runtime = runtime
        self.app = runtime.app
        self.name = name
        self.kafka_topic = settings.kafka_topic
        self.bootstrap = settings.kafka_bootstrap
        self.batch_size = batch_size
        self._make_producer = make_producer or (
            lambda: KafkaProducer(**producer_config(self.bootstrap))
        )
        self._producer: KafkaProducer | None = None
        self._held: psycopg.Connection[Any] | None = None
        self._partitions: dict[bytes, int] = {}
        self._partition_count: int | None = None
        self.paths = messages.OwnerPaths(runtime.units, self._owner_before)
        self.published = 0
        with self._connect() as conn:
            conn.execute(STATE_DDL)
            conn.execute(INSERT_STATE, (name, self.kafka_topic))

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.runtime.database.conninfo, autocommit=True)

    @contextlib.contextmanager
    def _state(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection that holds the relay's lock while it runs, else a new one."""
        if self._held is not None:
            yield self._held
        else:
            with self._connect() as conn:
                yield conn

    def _owner_before(self, topic_id: str, version: int) -> str | None:
        topic: Any = self.app.repository.get(uuid.UUID(topic_id), version=version - 1)
        return str(topic.owner)

    # -- state ----------------------------------------------------------------------

    def status(self) -> RelayStatus:
        with self._state() as conn:
            row = conn.execute(SELECT_STATE, (self.name,)).fetchone()
        if row is None:
            return RelayStatus(0, {})
        return RelayStatus(int(row[0]), {int(k): int(v) for k, v in dict(row[1]).items()})

    def _record(self, position: int, offsets: dict[int, int]) -> None:
        with self._state() as conn:
            conn.execute(UPDATE_PUBLISHED, (position, json.dumps(offsets), self.name))

    def _report(self, error: str | None) -> None:
        with self._state() as conn:
            conn.execute(UPDATE_ERROR, (error, self.name))

    def _beat(self, stop: threading.Event) -> None:
        """While the process lives, say so (a relay blocked on a broker is not dead)."""
        conn: psycopg.Connection[Any] | None = None
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                conn = conn if conn is not None and not conn.closed else self._connect()
                conn.execute(UPDATE_HEARTBEAT, (self.name,))
            except psycopg.Error as exc:
                log.debug("heartbeat: %s", exc)
                conn = None
        if conn is not None:
            conn.close()

    # -- publishing ------------------------------------------------------------------

    def publish_once(self) -> int:
        """Publish the next batch after the stored position; the number of events sent."""
        start = self.status().position
        notifications = self.app.recorder.select_notifications(
            start=start, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        offsets = self._send(notifications)
        self._record(notifications[-1].id, offsets)
        self.published += len(notifications)
        return len(notifications)

    def _send(self, notifications: Sequence[Notification]) -> dict[int, int]:
        producer = self._producer = self._producer or self._make_producer()
        envelopes = []
        for n in notifications:
            try:
                envelopes.append(envelope(self.app.mapper.to_domain_event(n), n.id))
            except Exception as exc:
                raise StreamError(
                    f"cannot read the event at position {n.id} (topic {n.originator_id}, "
                    f"version {n.originator_version}): {type(exc).__name__}: {exc}"
                ) from None
        self.paths.preload(envelopes)
        futures = []
        for e in envelopes:
            key = e.topic_id.encode()
            futures.append(
                producer.send(
                    self.kafka_topic,
                    key=key,
                    value=messages.encode(e, self.paths.after(e)),
                    headers=messages.headers(e),
                    partition=self._partition(producer, key),
                )
            )
        producer.flush(timeout=FLUSH_TIMEOUT)  # KafkaTimeoutError: the batch is sent again
        offsets: dict[int, int] = {}
        for future in futures:
            meta = future.get(timeout=0)  # raises the KafkaError of a failed send
            offsets[meta.partition] = max(offsets.get(meta.partition, 0), meta.offset + 1)
        return offsets

    def _partition(self, producer: KafkaProducer, key: bytes) -> int:
        """The default partitioner's choice (murmur2 of the key, as Java's), remembered
        per topic: computing it in Python costs more than sending the record."""
        partition = self._partitions.get(key)
        if partition is None:
            if self._partition_count is None:
                self._partition_count = len(producer.partitions_for(self.kafka_topic))
            partition = murmur2(key) % self._partition_count
            if len(self._partitions) >= 100_000:
                self._partitions.clear()
            self._partitions[key] = partition
        return partition

    def _reset_producer(self) -> None:
        """After a failed batch: a new producer (new idempotence epoch), paths from the store."""
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception as exc:  # closing a producer of a dead broker
                log.debug("closing the producer: %s", exc)
            self._producer = None
        self.paths.forget()
        self._partition_count = None
        self._partitions.clear()

    def run(self, stop: threading.Event, poll: float = 1.0) -> None:
        """Publish until `stop` is set: the advisory lock first, then batch after batch.

        Broker or database failures are recorded (`relay_state.error`, shown in
        /readyz) and retried; an event that cannot be read stops the relay.
        """
        beating = threading.Event()
        threading.Thread(
            target=self._beat, args=(beating,), name="relay-heartbeat", daemon=True
        ).start()
        try:
            self._run(stop, poll)
        finally:
            beating.set()

    def _run(self, stop: threading.Event, poll: float) -> None:
        while not stop.is_set():
            try:
                with self._connect() as lock_conn:
                    if not lock_conn.execute(
                        "SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK,)
                    ).fetchone()[0]:  # type: ignore[index]
                        log.info("another relay is publishing; standing by")
                        stop.wait(poll * 5)
                        continue
                    self._ensure_topic()
                    self._held = lock_conn
                    try:
                        self._publish_until(stop, lock_conn, poll)
                    finally:
                        self._held = None
            except StreamError:
                raise
            except (KafkaError, psycopg.Error, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("relay: %s; retrying", error)
                self._reset_producer()
                with contextlib.suppress(psycopg.Error):
                    self._report(error)
                stop.wait(poll)

    def _ensure_topic(self) -> None:
        if ensure_topic(self.bootstrap, self.kafka_topic, self.runtime.settings.kafka_partitions):
            log.info("created Kafka topic %s", self.kafka_topic)

    def _publish_until(
        self, stop: threading.Event, lock_conn: psycopg.Connection[Any], poll: float
    ) -> None:
        lock_conn.execute("LISTEN linkage_events")
        failed = True  # until a first round goes through: clears an error left before
        while not stop.is_set():
            sent = self.publish_once()
            if failed:
                self._report(None)
                failed = False
            if sent == 0:
                for _ in lock_conn.notifies(timeout=poll, stop_after=1):
                    pass

    def close(self) -> None:
        self._reset_producer()
