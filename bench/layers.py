"""Where one in-process command's CPU goes, by layer (cProfile on CPU time).

`n` topics submitted from one thread through `LinkageApp.submit_topic`, profiled
with the process's CPU clock; each function's own time is charged to the layer
its module belongs to (domain, eventsourcing, psycopg, infra, …).

    python -m bench.layers [--home bench/.data] [--commands 500] [--single]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from pathlib import Path
from typing import Any

from domain.topic import Actor, Role
from infra.bootstrap import bootstrap
from infra.recorder import LinkageRecorder
from infra.settings import Settings

LAYERS = (
    ("domain/", "domain (rules, aggregate)"),
    ("eventsourcing/", "eventsourcing (mapper, repository, recorder)"),
    ("psycopg", "psycopg (driver, pool)"),
    ("infra/", "infra (recorder, units)"),
    ("projections/", "projections (unit directory)"),
    ("json", "json"),
    ("cryptography", "cryptography"),
    ("threading.py", "waiting (locks)"),
)


def layer_of(filename: str) -> str:
    for needle, name in LAYERS:
        if needle in filename:
            return name
    if filename.startswith("~") or "<built-in" in filename:
        return "builtins (C)"
    return "other Python"


def run(home: Path, commands: int = 500, group: bool = True) -> dict[str, Any]:
    settings = Settings.from_env({"LINKAGE_HOME": str(home.resolve())})
    with bootstrap(settings) as runtime:
        recorder = runtime.app.recorder
        assert isinstance(recorder, LinkageRecorder)
        recorder.group_commit = group
        with runtime.database.connect() as conn:
            row = conn.execute("SELECT code FROM units WHERE level = 5 LIMIT 1").fetchone()
        assert row is not None, "the store has no villages"
        actor = Actor("bench-layers", str(row[0]), Role.STAFF)

        def submit(i: int) -> None:
            runtime.app.submit_topic(
                actor,
                title=f"剖析议题 {i}",
                description="小区路灯损坏，夜间出行不便",
                category="市政设施",
                source="GRID",
                location=actor.unit,
            )

        for i in range(20):  # warm caches
            submit(i)
        profile = cProfile.Profile(time.process_time)
        cpu, wall = time.process_time(), time.perf_counter()
        profile.enable()
        for i in range(commands):
            submit(i)
        profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    stats = pstats.Stats(profile)
    layers: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = layer_of(filename)
        layers[name] = layers.get(name, 0.0) + own
    total = sum(layers.values()) or 1.0
    return {
        "commands": commands,
        "group_commit": group,
        "cpu_ms_per_command": round(cpu / commands * 1000, 3),
        "wall_ms_per_command": round(wall / commands * 1000, 3),
        "layers_share": {
            k: round(v / total, 3) for k, v in sorted(layers.items(), key=lambda kv: -kv[1])
        },
        "notes": ["cProfile adds its own overhead: read the shares, not the absolute times"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("bench/.data"))
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--single", action="store_true", help="group commit off")
    args = parser.parse_args()
    print(json.dumps(run(args.home, args.commands, not args.single), indent=2))


if __name__ == "__main__":
    main()
