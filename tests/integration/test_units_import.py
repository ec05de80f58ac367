"""The hierarchy importer against real PostgreSQL: good files, changed files, broken files."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from domain.units import Level, is_ancestor, is_within
from infra.bootstrap import Runtime
from infra.divisions import DivisionsFileError
from infra.units_import import GANSU, import_units


def _copy_gansu(tmp_path: Path) -> Path:
    folder = tmp_path / "gansu"
    shutil.copytree(GANSU, folder)
    return folder


def _units_by_level(runtime: Runtime) -> dict[int, int]:
    with runtime.database.connect() as conn:
        rows = conn.execute(
            "SELECT level, count(*) FROM units WHERE NOT retired GROUP BY level"
        ).fetchall()
    return {int(level): int(n) for level, n in rows}


def _largest_event(runtime: Runtime) -> int:
    with runtime.database.connect() as conn:
        row = conn.execute("SELECT max(length(state)) FROM linkage_events").fetchone()
    assert row is not None
    return int(row[0])


def test_importing_gansu_records_the_whole_hierarchy_in_events_of_bounded_size(
    runtime: Runtime,
) -> None:
    report = import_units(runtime, GANSU, show_progress=False)

    assert report.summary["added"] == 1 + 14 + 88 + 1403 + 17718
    assert _units_by_level(runtime) == {1: 1, 2: 14, 3: 88, 4: 1403, 5: 17718}
    assert _largest_event(runtime) < 300_000
    village = runtime.units.get("620102001001")
    assert village is not None
    assert village.name == "畅家巷社区居委会"
    assert village.level == Level.VILLAGE
    assert village.path == ("62", "6201", "620102", "620102001", "620102001001")
    assert is_ancestor(runtime.units, "6201", "620102001001")
    assert not is_ancestor(runtime.units, "6202", "620102001001")
    assert is_within(runtime.units, "620102", "620102")


def test_a_reimport_of_the_same_files_changes_nothing(runtime: Runtime) -> None:
    import_units(runtime, GANSU, show_progress=False)
    head = runtime.app.head_position()

    again = import_units(runtime, GANSU, show_progress=False)

    assert again.position is None
    assert runtime.app.head_position() == head
    assert "unchanged" in again.describe()


def test_renames_reparents_and_retirements_are_recorded_as_later_events(
    runtime: Runtime, tmp_path: Path
) -> None:
    import_units(runtime, GANSU, show_progress=False)
    folder = _copy_gansu(tmp_path)
    streets = (folder / "streets.csv").read_text(encoding="utf-8")
    # 酒泉路街道 is renamed; 张掖路街道 (620102002) moves under 七里河区 (620103).
    streets = streets.replace('620102001,"酒泉路街道"', '620102001,"酒泉路新街道"')
    streets = streets.replace(
        '620102002,"张掖路街道",620102,62,6201', '620102002,"张掖路街道",620103,62,6201'
    )
    (folder / "streets.csv").write_text(streets, encoding="utf-8")
    with gzip.open(folder / "villages.csv.gz", "rt", encoding="utf-8") as f:
        villages = [line for line in f if not line.startswith("620102001002,")]
    villages = [
        line.replace(",620102002,62,6201,620102", ",620102002,62,6201,620103") for line in villages
    ]
    with gzip.open(folder / "villages.csv.gz", "wt", encoding="utf-8") as f:
        f.writelines(villages)

    report = import_units(runtime, folder, show_progress=False)

    assert report.summary["renamed"] == 1
    assert report.summary["reparented"] >= 1
    assert report.summary["retired"] == 1
    township = runtime.units.get("620102001")
    assert township is not None
    assert township.name == "酒泉路新街道"
    moved_village = runtime.units.get("620102002001")
    assert moved_village is not None
    assert moved_village.path[:3] == ("62", "6201", "620103")
    gone = runtime.units.get("620102001002")
    assert gone is not None
    assert gone.retired


def test_a_broken_file_records_nothing_and_names_the_file_and_line(
    runtime: Runtime, tmp_path: Path
) -> None:
    import_units(runtime, GANSU, show_progress=False)
    head = runtime.app.head_position()
    folder = _copy_gansu(tmp_path)
    areas = (folder / "areas.csv").read_text(encoding="utf-8").splitlines()
    areas.append('629999,"不存在的县",6299,62')
    (folder / "areas.csv").write_text("\n".join(areas) + "\n", encoding="utf-8")

    with pytest.raises(DivisionsFileError) as error:
        import_units(runtime, folder, show_progress=False)

    assert str(error.value).startswith(f"areas.csv:{len(areas)}:")
    assert "6299" in str(error.value)
    assert runtime.app.head_position() == head


def test_a_truncated_gzip_records_nothing(runtime: Runtime, tmp_path: Path) -> None:
    folder = _copy_gansu(tmp_path)
    data = (folder / "villages.csv.gz").read_bytes()
    (folder / "villages.csv.gz").write_bytes(data[: len(data) // 2])

    with pytest.raises(DivisionsFileError, match=r"villages\.csv\.gz"):
        import_units(runtime, folder, show_progress=False)

    assert runtime.app.head_position() == 0
    assert runtime.units_view.count() == 0


def test_one_province_of_the_national_files_imports_without_touching_others(
    runtime: Runtime,
) -> None:
    national = Path(__file__).parents[3] / "shared" / "data" / "divisions-2023"
    if not national.exists():  # pragma: no cover - the shared data sits beside the repo
        pytest.fail(f"the national divisions are expected at {national}")
    report = import_units(runtime, national, province="63", show_progress=False)

    assert report.summary["added"] > 4000
    assert runtime.units.get("63") is not None
    assert runtime.units.get("62") is None
