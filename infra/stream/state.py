"""The stream's shared state in PostgreSQL: what the relay and the projectors record.

`relay_state` (the relay's published position and partition ends), `projector_offsets`
and `projector_applied` (the projectors' progress and repeats) are written by
`infra.stream.relay` and `infra.stream.projector`; their tables are declared here, and
read here for the runtime (`Watermark`) and the API's /readyz and /metrics
(`stream_status`). Nothing here imports the relay, the projector or the runtime.

`Watermark` tells the API up to which store position the read models are
complete: the relay's published position, lowered to the last position applied on
any partition whose projector has not yet reached the end the relay recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor

STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS public.relay_state ("
    " name text PRIMARY KEY,"
    " kafka_topic text NOT NULL,"
    " position bigint NOT NULL DEFAULT 0,"
    " offsets jsonb NOT NULL DEFAULT '{}'::jsonb,"  # partition → next offset at `position`
    " published_at timestamptz,"
    " heartbeat_at timestamptz NOT NULL DEFAULT now(),"
    " error text)"
)
OFFSETS_DDL = (
    "CREATE TABLE IF NOT EXISTS public.projector_offsets ("
    " kafka_topic text NOT NULL,"
    " partition int NOT NULL,"
    " next_offset bigint NOT NULL DEFAULT 0,"
    " last_position bigint NOT NULL DEFAULT 0,"
    " member text,"
    " updated_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (kafka_topic, partition))"
)
APPLIED_DDL = (
    "CREATE TABLE IF NOT EXISTS public.projector_applied ("
    " topic_id text PRIMARY KEY, version int NOT NULL)"
)
WATERMARK = """
WITH r AS (SELECT position, offsets FROM public.relay_state WHERE name = %(relay)s),
ends AS (SELECT key::int AS partition, value::bigint AS end_offset
         FROM r, jsonb_each_text(r.offsets))
SELECT LEAST(
  (SELECT position FROM r),
  (SELECT min(COALESCE(o.last_position, 0)) FROM ends
   LEFT JOIN public.projector_offsets o
     ON o.kafka_topic = %(topic)s AND o.partition = ends.partition
   WHERE COALESCE(o.next_offset, 0) < ends.end_offset)) AS watermark
"""
PARTITIONS = """
WITH r AS (SELECT offsets FROM public.relay_state WHERE name = %(relay)s),
ends AS (SELECT key::int AS partition, value::bigint AS end_offset
         FROM r, jsonb_each_text(r.offsets))
SELECT ends.partition, ends.end_offset, COALESCE(o.next_offset, 0) AS next_offset,
       o.member, o.updated_at
FROM ends LEFT JOIN public.projector_offsets o
  ON o.kafka_topic = %(topic)s AND o.partition = ends.partition
ORDER BY ends.partition
"""


def create_tables(curs: Cursor[Any]) -> None:
    curs.execute(STATE_DDL)
    curs.execute(OFFSETS_DDL)
    curs.execute(APPLIED_DDL)


class Watermark:
    """How far the Kafka-fed read models are complete, in store positions."""

    def __init__(self, datastore: PostgresDatastore, kafka_topic: str, relay: str = "relay"):
        self.datastore = datastore
        self.params = {"relay": relay, "topic": kafka_topic}
        with datastore.transaction(commit=True) as curs:
            create_tables(curs)

    def __call__(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(WATERMARK, self.params)
            row = curs.fetchone()
        return int(row["watermark"] or 0) if row else 0

    def partitions(self) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(PARTITIONS, self.params)
            return [dict(r) for r in curs.fetchall()]


RELAY_STATUS = (
    "SELECT position, error, published_at,"
    " extract(epoch FROM now() - heartbeat_at) AS silent_for"
    " FROM public.relay_state WHERE name = %s"
)
FOREIGN_MESSAGES = (
    "SELECT count(*) AS n FROM public.projection_dead_letters WHERE projection LIKE 'kafka:%%'"
)
RELAY_SILENT_SECONDS = 15.0  # a relay that has not reported for this long is stopped


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """The relay and the projector group as /readyz and /metrics report them."""

    head: int
    relay_state: str  # publishing | degraded | stopped | absent
    relay_position: int
    relay_error: str | None
    fed_up_to: int
    partitions: list[dict[str, Any]]
    foreign_messages: int = 0  # messages on the topic that are not events (dead letters)

    @property
    def relay_lag(self) -> int:
        return max(self.head - self.relay_position, 0)

    @property
    def consumer_lag(self) -> int:
        """Messages published but not yet applied, over all partitions."""
        return sum(max(p["end_offset"] - p["next_offset"], 0) for p in self.partitions)

    @property
    def problems(self) -> list[str]:
        found = []
        if self.relay_state == "absent":
            found.append("no relay has run: events are not published to Kafka")
        elif self.relay_state == "stopped":
            found.append(f"the relay has not reported for over {RELAY_SILENT_SECONDS:g} s")
        elif self.relay_state == "degraded":
            found.append(f"the relay cannot publish: {self.relay_error}")
        if self.foreign_messages:
            found.append(
                f"{self.foreign_messages} Kafka messages are not Linkage events"
                " (projection_dead_letters, projection 'kafka:PARTITION')"
            )
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "relay": {
                "state": self.relay_state,
                "position": self.relay_position,
                "lag": self.relay_lag,
                "error": self.relay_error,
            },
            "consumer": {
                "position": self.fed_up_to,
                "lag": self.consumer_lag,
                "foreign_messages": self.foreign_messages,
                "partitions": [
                    {
                        "partition": p["partition"],
                        "end_offset": p["end_offset"],
                        "next_offset": p["next_offset"],
                        "lag": max(p["end_offset"] - p["next_offset"], 0),
                        "member": p["member"],
                    }
                    for p in self.partitions
                ],
            },
        }


def stream_status(watermark: Watermark, head: int, relay: str = "relay") -> StreamStatus:
    with watermark.datastore.transaction(commit=False) as curs:
        curs.execute(RELAY_STATUS, (relay,))
        row = curs.fetchone()
        curs.execute(FOREIGN_MESSAGES)
        foreign = curs.fetchone()
    if row is None:
        state, position, error = "absent", 0, None
    else:
        position, error = int(row["position"]), row["error"]
        state = "publishing"
        if error:
            state = "degraded"
        elif float(row["silent_for"]) > RELAY_SILENT_SECONDS:
            state = "stopped"
    return StreamStatus(
        head,
        state,
        position,
        error,
        watermark(),
        watermark.partitions(),
        int(foreign["n"]) if foreign else 0,
    )
