"""Read and validate a divisions folder (行政区划): the five CSV files of one edition.

The folder holds ``provinces.csv``, ``cities.csv``, ``areas.csv``, ``streets.csv`` and
the villages as ``villages.csv.gz`` (gzip) or ``villages.csv``, in the layout of the
``divisions-2023`` data set: a header row, then one unit a row, the code unquoted and
the name quoted, UTF-8. Every unit's parent is read from its explicit column (never
derived from the code) and must be among the rows already read of the level above;
the code must start with the parent's code, and the other ancestor columns
(provinceCode, cityCode, areaCode) must agree with the parent's own ancestry.

Anything wrong raises one `DivisionsFileError` naming the file, the line (1-based,
the header is line 1) and what is wrong in plain words, with the values involved.
"""

from __future__ import annotations

import csv
import gc
import gzip
import hashlib
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from domain.units import CODE_LENGTH, Level, UnitRecord, level_of_code

__all__ = [
    "PROGRESS_EVERY",
    "VILLAGES_GZ",
    "DivisionsFileError",
    "DivisionsSet",
    "read_divisions",
]

# `progress` is called after every this many records (and once more at the end).
PROGRESS_EVERY = 10_000

LEVEL_WORDS = {
    Level.PROVINCE: "province",
    Level.CITY: "city",
    Level.COUNTY: "county",
    Level.TOWNSHIP: "township",
    Level.VILLAGE: "village",
}

# The column that names an ancestor of each level.
_CODE_COLUMN = {
    Level.PROVINCE: "provinceCode",
    Level.CITY: "cityCode",
    Level.COUNTY: "areaCode",
    Level.TOWNSHIP: "streetCode",
}
# Columns 0 and 1 are code and name; column 2 the parent; from 3 on, the other
# ancestors from the province down (checked in `_FileSpec.__post_init__`).
_ANCESTORS_FROM = 3


@dataclass(frozen=True)
class _FileSpec:
    name: str
    level: Level
    header: tuple[str, ...]

    def __post_init__(self) -> None:
        above = [_CODE_COLUMN[lvl] for lvl in Level if lvl < self.level]
        expected = ("code", "name", *above[-1:], *above[:-1])
        if self.header != expected:  # pragma: no cover - a programming error
            raise ValueError(f"{self.name}: header {self.header} is not laid out as {expected}")


_SPECS = (
    _FileSpec("provinces.csv", Level.PROVINCE, ("code", "name")),
    _FileSpec("cities.csv", Level.CITY, ("code", "name", "provinceCode")),
    _FileSpec("areas.csv", Level.COUNTY, ("code", "name", "cityCode", "provinceCode")),
    _FileSpec(
        "streets.csv", Level.TOWNSHIP, ("code", "name", "areaCode", "provinceCode", "cityCode")
    ),
    _FileSpec(
        "villages.csv",
        Level.VILLAGE,
        ("code", "name", "streetCode", "provinceCode", "cityCode", "areaCode"),
    ),
)
VILLAGES_GZ = "villages.csv.gz"


class DivisionsFileError(Exception):
    """One problem in a divisions folder: the file, the line (None: whole file), what."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        self.file = file
        self.line = line
        self.problem = problem
        super().__init__(file, line, problem)

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.problem}"
        return f"{self.file}:{self.line}: {self.problem}"


@dataclass(frozen=True)
class DivisionsSet:
    """The units of a divisions folder (or of one of its provinces), validated."""

    records: list[UnitRecord]  # provinces, cities, counties, townships, villages
    content_hash: str  # sha256 over the decompressed files, in fixed order, with names
    provinces: set[str]  # the 2-digit province codes covered
    source: str  # the folder as given


def read_divisions(
    path: Path,
    province: str | None = None,
    progress: Callable[[int], object] | None = None,
) -> DivisionsSet:
    """Read and validate the divisions folder `path`, all of it or one `province`.

    `province` ("62") keeps only the rows whose provinceCode (in provinces.csv: whose
    code) is that province; the other rows are checked for their column count only.
    `progress(n)` is called every `PROGRESS_EVERY` records with the number read since
    the last call, and once at the end with the rest (if any): the calls add up to
    ``len(records)``.

    `content_hash` covers the whole files whatever `province` is: it identifies the
    files read, not the selection.
    """
    folder = Path(path)
    if province is not None and level_of_code(province) is not Level.PROVINCE:
        raise DivisionsFileError(
            "provinces.csv",
            None,
            f"province {province!r} is not a province code (2 digits, e.g. 62)",
        )
    if not folder.is_dir():
        raise DivisionsFileError(str(path), None, "is not a folder")

    # Load every file first: a missing or broken file is reported before any row is.
    loaded = [(spec, *_load(folder, spec)) for spec in _SPECS]
    digest = hashlib.sha256()
    for spec, _name, data in loaded:
        # The canonical (uncompressed) name: gzipping the villages changes no content.
        digest.update(spec.name.encode() + b"\0" + len(data).to_bytes(8, "big"))
        digest.update(data)

    records: list[UnitRecord] = []
    counter = _Counter(progress)
    above: dict[str, list[str]] = {}  # code -> its ancestors' codes, province first
    # Hundreds of thousands of small objects: the cyclic collector would only rescan
    # them over and over (it roughly halves the time); no cycles are created here.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for spec, name, data in loaded:
            above = _read_file(
                spec,
                name,
                _decode(name, data),
                above=above,
                province=province,
                records=records,
                counter=counter,
            )
            if spec.level is Level.PROVINCE and province is not None and province not in above:
                raise DivisionsFileError(name, None, f"province {province} is not in the file")
    finally:
        if gc_was_enabled:
            gc.enable()
    if progress is not None and counter.pending:
        progress(counter.pending)

    return DivisionsSet(
        records=records,
        content_hash=digest.hexdigest(),
        provinces={r.code for r in records if r.level is Level.PROVINCE},
        source=str(path),
    )


class _Counter:
    """Records read since `progress` was last called."""

    __slots__ = ("pending", "progress")

    def __init__(self, progress: Callable[[int], object] | None) -> None:
        self.progress = progress
        self.pending = 0


def _load(folder: Path, spec: _FileSpec) -> tuple[str, bytes]:
    """The file's name as found and its (decompressed) bytes."""
    if spec.level is not Level.VILLAGE:
        file = folder / spec.name
        if not file.is_file():
            raise DivisionsFileError(spec.name, None, f"file is missing from {folder}")
        return spec.name, _read_bytes(file, spec.name)
    plain, packed = folder / spec.name, folder / VILLAGES_GZ
    if plain.is_file() and packed.is_file():
        raise DivisionsFileError(
            VILLAGES_GZ, None, f"both {VILLAGES_GZ} and {spec.name} are in {folder}; keep only one"
        )
    if plain.is_file():
        return spec.name, _read_bytes(plain, spec.name)
    if not packed.is_file():
        raise DivisionsFileError(
            VILLAGES_GZ, None, f"file is missing from {folder} (and there is no {spec.name})"
        )
    raw = _read_bytes(packed, VILLAGES_GZ)
    try:
        return VILLAGES_GZ, gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DivisionsFileError(VILLAGES_GZ, None, f"not a valid gzip file ({exc})") from None


def _read_bytes(file: Path, name: str) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise DivisionsFileError(name, None, f"cannot be read ({exc.strerror or exc})") from None


def _decode(name: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.end].hex(" ")
        raise DivisionsFileError(
            name, line, f"not UTF-8 text (byte {bad} at offset {exc.start} of the file)"
        ) from None
    return text.removeprefix("\ufeff")  # a byte-order mark is tolerated


def _read_header(name: str, spec: _FileSpec, reader: Iterator[list[str]]) -> None:
    header = next(reader, None)
    if header is None:
        raise DivisionsFileError(
            name, None, f"file is empty; expected the header {','.join(spec.header)}"
        )
    if tuple(header) != spec.header:
        raise DivisionsFileError(
            name, 1, f"header is {','.join(header)!r}; expected {','.join(spec.header)!r}"
        )


def _read_file(
    spec: _FileSpec,
    name: str,
    text: str,
    *,
    above: dict[str, list[str]],
    province: str | None,
    records: list[UnitRecord],
    counter: _Counter,
) -> dict[str, list[str]]:
    """Check and append the units of one file; its codes, each with its ancestors."""
    level = spec.level
    length = CODE_LENGTH[level]
    ncols = len(spec.header)
    province_col = spec.header.index("provinceCode") if level > Level.PROVINCE else 0
    keep = level is not Level.VILLAGE  # nothing lies below a village
    current: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        _read_header(name, spec, reader)
        for row in reader:
            if len(row) != ncols:
                raise DivisionsFileError(
                    name,
                    reader.line_num,
                    f"expected {ncols} columns ({','.join(spec.header)}), found {len(row)}"
                    + ("" if row else " (an empty line)"),
                )
            if province is not None and row[province_col] != province:
                continue
            code = row[0]
            # The same test as level_of_code (which words the problem), inlined for speed.
            if len(code) != length or not code.isdigit() or not code.isascii():
                raise DivisionsFileError(name, reader.line_num, _code_problem(code, level))
            if code in lines:
                raise DivisionsFileError(
                    name, reader.line_num, f"duplicate code {code} (first on line {lines[code]})"
                )
            lines[code] = reader.line_num
            unit_name = row[1]
            if not unit_name.strip():
                raise DivisionsFileError(
                    name, reader.line_num, f"the name of {LEVEL_WORDS[level]} {code} is blank"
                )
            if level is Level.PROVINCE:
                parent = None
                current[code] = []
            else:
                parent = row[2]
                ancestors = above.get(parent)
                # The parent is given explicitly (DESIGN §3): a re-parented unit keeps
                # its code, so no prefix rule is enforced; the columns must agree.
                if ancestors is None or row[_ANCESTORS_FROM:] != ancestors:
                    raise DivisionsFileError(
                        name, reader.line_num, _parent_problem(spec, row, ancestors, province)
                    )
                if keep:
                    current[code] = [*ancestors, parent]
            records.append(UnitRecord(code, unit_name, level, parent))
            counter.pending += 1
            if counter.pending >= PROGRESS_EVERY and counter.progress is not None:
                counter.progress(counter.pending)
                counter.pending = 0
    except csv.Error as exc:
        raise DivisionsFileError(name, reader.line_num, f"malformed CSV ({exc})") from None
    return current


def _code_problem(code: str, level: Level) -> str:
    """What is wrong with `code` as a code of `level`."""
    word = LEVEL_WORDS[level]
    length = CODE_LENGTH[level]
    if not code:
        return f"the {word} code is blank"
    if not (code.isascii() and code.isdigit()):
        return f"code {code!r} is not all digits; a {word} code has {length} digits"
    return f"code {code} has {len(code)} digits; a {word} code has {length}"


def _parent_problem(
    spec: _FileSpec, row: list[str], ancestors: list[str] | None, province: str | None
) -> str:
    """What is wrong between a row and its parent: missing, prefix, ancestor columns."""
    code, parent = row[0], row[2]
    word = LEVEL_WORDS[spec.level]
    parent_level = Level(spec.level - 1)
    parent_word = LEVEL_WORDS[parent_level]
    if ancestors is None:
        where = f" in province {province}" if province is not None else ""
        text = f"parent {parent_word} {parent} of {word} {code} does not exist{where}"
        if level_of_code(parent) is not parent_level:
            text += f" ({spec.header[2]} {parent!r} is not a {parent_word} code)"
        return text
    for i, (given, expected) in enumerate(zip(row[_ANCESTORS_FROM:], ancestors, strict=True)):
        if given != expected:
            column = spec.header[_ANCESTORS_FROM + i]
            return (
                f"{column} {given} of {word} {code} does not match its {parent_word} {parent}, "
                f"which is in {LEVEL_WORDS[Level(i + 1)]} {expected}"
            )
    raise AssertionError("no problem found")  # pragma: no cover
