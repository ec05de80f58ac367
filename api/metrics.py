"""Prometheus metrics (served at /metrics, to an operator's token: api.ops).

Command latency and outcomes are counted where commands run (`api.commands`);
the store head, read-model positions and lag are read when /metrics is scraped.
With several uvicorn workers each process reports its own command counters.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

COMMANDS_TOTAL = Counter(
    "linkage_commands_total", "Commands handled, by name and outcome code", ["command", "outcome"]
)
COMMAND_SECONDS = Histogram(
    "linkage_command_seconds",
    "Command latency inside the API process (validation, domain, event store)",
    ["command"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SQL_STATEMENTS = Counter(
    "linkage_read_sql_statements_total", "SQL statements run by GraphQL/REST reads"
)
