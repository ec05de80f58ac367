"""P7 of DESIGN §9: the national hierarchy import (about 665,000 units) in seconds.

    python -m bench.hierarchy [--home bench/.data] [--province CODE]

Imports `../shared/data/divisions-2023` (relative to the repository) — the whole
country, or one province — into a fresh database (`bench_hierarchy`) on the
store's embedded server, through `import_units`, the code behind
`linkage units import`: read and validate every file, record the changes as
events in one transaction, update the units view.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from infra.bootstrap import build_runtime
from infra.database import start_embedded
from infra.settings import Settings
from infra.units_import import GANSU, import_units

REPO = Path(__file__).resolve().parent.parent
DIVISIONS = REPO.parent / "shared" / "data" / "divisions-2023"
SCRATCH_DBNAME = "bench_hierarchy"


def import_time(home: Path, path: Path, province: str | None = None) -> dict[str, Any]:
    """Seconds to import `path` (one `province` of it, or all) into an empty store."""
    home = home.resolve()
    admin = start_embedded(home / "pgdata", dbname="postgres")
    with psycopg.connect(admin.conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(SCRATCH_DBNAME)
            )
        )
    database = start_embedded(home / "pgdata", dbname=SCRATCH_DBNAME)
    settings = Settings.from_env({"LINKAGE_HOME": str(home)})
    with build_runtime(database, settings) as runtime:
        started = time.perf_counter()
        report = import_units(runtime, path, province)
        elapsed = time.perf_counter() - started
    return {
        "source": str(path),
        "province": province,
        "units": report.read,
        "seconds": round(elapsed, 1),
        "units_per_s": round(report.read / elapsed),
        "notes": [f"{report.read:,} units" + (f" of province {province}" if province else "")],
    }


def divisions_folder() -> tuple[Path, str]:
    """The shared national data if this checkout sits beside it, else the Gansu copy
    the project ships (the same format), with a word on which."""
    if (DIVISIONS / "provinces.csv").exists():
        return DIVISIONS, "national divisions-2023"
    return GANSU, f"{DIVISIONS} is missing: the shipped Gansu copy instead"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("bench/.data"))
    parser.add_argument("--province", help="one province (2-digit code) instead of all")
    args = parser.parse_args()
    print(json.dumps(import_time(args.home, DIVISIONS, args.province), indent=2))


if __name__ == "__main__":
    main()
