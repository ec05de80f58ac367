"""Extract the Gansu (甘肃省, 62) subset of a divisions folder into ``infra/data/gansu/``.

The shipped fixture is made from the national ``divisions-2023`` data set (see
``/work/shared/data/README.md``) by this script; run it again after changing it:

    .venv/bin/python infra/data/make_gansu.py
    .venv/bin/python infra/data/make_gansu.py --source DIR --province 62 --out DIR

It writes the same five files (provinces.csv, cities.csv, areas.csv, streets.csv,
villages.csv.gz). Each is the header row followed by the rows whose provinceCode (in
provinces.csv: whose code) is the province, copied byte for byte, so the quoting
style of the original (code unquoted, name quoted), the line ends and the order are
kept. villages.csv.gz is gzip at level 9 with mtime 0 and the name "villages.csv"
in its header, so the output is deterministic: the same input gives the same bytes.
The result is then read back with `infra.divisions.read_divisions` and its counts are
printed (Gansu: 1 province, 14 cities, 88 counties, 1,403 townships, 17,718 villages).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = Path("/work/shared/data/divisions-2023")
DEFAULT_OUT = HERE / "gansu"
PLAIN_FILES = ("provinces.csv", "cities.csv", "areas.csv", "streets.csv")
VILLAGES = "villages.csv"


def filter_rows(text: str, province: str) -> str:
    """The header and the rows of `province`, each copied exactly as it was written."""
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        # csv.reader pulls one line at a time and no further than the record it parses,
        # so `consumed` holds exactly the text of the row just returned.
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), strict=True)
    header = next(reader)
    column = header.index("provinceCode") if "provinceCode" in header else header.index("code")
    kept = ["".join(consumed)]
    consumed.clear()
    for row in reader:
        if len(row) > column and row[column] == province:
            kept.append("".join(consumed))
        consumed.clear()
    return "".join(kept)


def write_gzip(path: Path, data: bytes, name: str) -> None:
    """Deterministic gzip: fixed level, mtime 0, the given name in the header."""
    with path.open("wb") as raw, gzip.GzipFile(name, "wb", 9, raw, mtime=0) as packed:
        packed.write(data)


def make(source: Path, out: Path, province: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in PLAIN_FILES:
        text = (source / name).read_bytes().decode("utf-8")
        (out / name).write_bytes(filter_rows(text, province).encode("utf-8"))
    packed = source / f"{VILLAGES}.gz"
    data = (
        gzip.decompress(packed.read_bytes())
        if packed.exists()
        else (source / VILLAGES).read_bytes()
    )
    subset = filter_rows(data.decode("utf-8"), province).encode("utf-8")
    write_gzip(out / f"{VILLAGES}.gz", subset, VILLAGES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="national folder")
    parser.add_argument("--province", default="62", help="2-digit province code (default 62)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    make(args.source, args.out, args.province)

    if __package__ in (None, ""):  # run as a file: make the repository importable
        sys.path.insert(0, str(HERE.parents[1]))
    from collections import Counter

    from infra.divisions import read_divisions

    divisions = read_divisions(args.out)
    counts = Counter(record.level.name.lower() for record in divisions.records)
    print(f"{args.out}: provinces {sorted(divisions.provinces)}", end="")
    for level, count in counts.items():
        print(f", {level} {count:,}", end="")
    print(f"\ncontent hash {divisions.content_hash}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
