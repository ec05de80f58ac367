"""Reading and validating a divisions folder (infra.divisions)."""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import infra
from domain.units import Level, UnitRecord
from infra.divisions import PROGRESS_EVERY, DivisionsFileError, DivisionsSet, read_divisions

GANSU = Path(infra.__file__).parent / "data" / "gansu"
NATIONAL = Path("/work/shared/data/divisions-2023")

HEADERS = {
    "provinces.csv": "code,name",
    "cities.csv": "code,name,provinceCode",
    "areas.csv": "code,name,cityCode,provinceCode",
    "streets.csv": "code,name,areaCode,provinceCode,cityCode",
    "villages.csv": "code,name,streetCode,provinceCode,cityCode,areaCode",
}

# A row is a tuple (code, name, other columns...) written like the real files (code
# unquoted, name quoted), or a str written as the line itself (for broken rows).
Row = tuple[str, ...] | str


def two_provinces() -> dict[str, list[Row]]:
    """Gansu (62) and Qinghai (63), a few units each; row i is on line i + 2."""
    return {
        "provinces.csv": [("62", "甘肃省"), ("63", "青海省")],
        "cities.csv": [
            ("6201", "兰州市", "62"),
            ("6202", "嘉峪关市", "62"),
            ("6301", "西宁市", "63"),
        ],
        "areas.csv": [
            ("620102", "城关区", "6201", "62"),
            ("620103", "七里河区", "6201", "62"),
            ("630102", "城东区", "6301", "63"),
        ],
        "streets.csv": [
            ("620102001", "酒泉路街道", "620102", "62", "6201"),
            ("620102002", "张掖路街道", "620102", "62", "6201"),
            ("620103001", "西园街道", "620103", "62", "6201"),
            ("630102001", "东关大街街道", "630102", "63", "6301"),
        ],
        "villages.csv": [
            ("620102001001", "畅家巷社区居委会", "620102001", "62", "6201", "620102"),
            ("620102001002", "张家园社区居委会", "620102001", "62", "6201", "620102"),
            ("620102002001", "陇西路社区居委会", "620102002", "62", "6201", "620102"),
            ("620103001001", "下西园社区居委会", "620103001", "62", "6201", "620103"),
            ("630102001001", "东关社区居委会", "630102001", "63", "6301", "630102"),
        ],
    }


def write_divisions(
    folder: Path,
    files: dict[str, list[Row]],
    *,
    headers: dict[str, str] | None = None,
    gzip_villages: bool = True,
) -> Path:
    """Write the five files into `folder` (villages gzipped unless told otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        header = (headers or {}).get(name, HEADERS[name])
        lines = [header, *(_line(row) for row in rows)]
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        if name == "villages.csv" and gzip_villages:
            (folder / "villages.csv.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / name).write_bytes(data)
    return folder


def _line(row: Row) -> str:
    if isinstance(row, str):
        return row
    code, name, *rest = row
    return ",".join([code, f'"{name}"', *rest])


def read_error(folder: Path, province: str | None = None) -> DivisionsFileError:
    with pytest.raises(DivisionsFileError) as caught:
        read_divisions(folder, province=province)
    return caught.value


def assert_error(
    error: DivisionsFileError, file: str, line: int | None, names: Sequence[str]
) -> None:
    assert (error.file, error.line) == (file, line), str(error)
    for value in names:
        assert value in error.problem, str(error)
    where = f"{file}:{line}" if line is not None else file
    assert str(error) == f"{where}: {error.problem}"


def levels(divisions: DivisionsSet) -> Counter[Level]:
    return Counter(record.level for record in divisions.records)


# --- good folders ----------------------------------------------------------------


def test_reads_the_shipped_gansu_subset_with_its_real_counts() -> None:
    divisions = read_divisions(GANSU)

    assert levels(divisions) == {
        Level.PROVINCE: 1,
        Level.CITY: 14,
        Level.COUNTY: 88,
        Level.TOWNSHIP: 1403,
        Level.VILLAGE: 17718,
    }
    assert divisions.provinces == {"62"}
    assert divisions.source == str(GANSU)
    assert divisions.records[0] == UnitRecord("62", "甘肃省", Level.PROVINCE, None)
    assert UnitRecord("6201", "兰州市", Level.CITY, "62") in divisions.records
    assert (
        UnitRecord("620102001001", "畅家巷社区居委会", Level.VILLAGE, "620102001")
        in divisions.records
    )


@pytest.mark.skipif(not NATIONAL.is_dir(), reason="the national data set is not here")
def test_the_shipped_gansu_subset_is_exactly_province_62_of_the_national_files() -> None:
    national = read_divisions(NATIONAL, province="62")

    assert national.records == read_divisions(GANSU).records


def test_records_come_ordered_by_level_then_file_order() -> None:
    records = read_divisions(GANSU).records

    assert [r.level for r in records] == sorted(r.level for r in records)


def test_parents_are_taken_from_the_explicit_parent_column(tmp_path: Path) -> None:
    divisions = read_divisions(write_divisions(tmp_path, two_provinces()))

    parents = {record.code: record.parent for record in divisions.records}
    assert parents["62"] is None
    assert parents["6202"] == "62"  # provinceCode
    assert parents["620103"] == "6201"  # cityCode
    assert parents["620103001"] == "620103"  # areaCode
    assert parents["620102002001"] == "620102002"  # streetCode
    assert levels(divisions) == {
        Level.PROVINCE: 2,
        Level.CITY: 3,
        Level.COUNTY: 3,
        Level.TOWNSHIP: 4,
        Level.VILLAGE: 5,
    }
    assert divisions.provinces == {"62", "63"}


def test_a_province_argument_keeps_only_that_provinces_rows(tmp_path: Path) -> None:
    folder = write_divisions(tmp_path, two_provinces())

    qinghai = read_divisions(folder, province="63")

    assert [r.code for r in qinghai.records] == [
        "63",
        "6301",
        "630102",
        "630102001",
        "630102001001",
    ]
    assert qinghai.provinces == {"63"}
    gansu = read_divisions(folder, province="62")
    assert {r.code[:2] for r in gansu.records} == {"62"}
    assert len(gansu.records) == 1 + 2 + 2 + 3 + 4


def test_plain_villages_csv_is_read_like_the_gzipped_one(tmp_path: Path) -> None:
    packed = read_divisions(write_divisions(tmp_path / "gz", two_provinces()))
    plain = read_divisions(
        write_divisions(tmp_path / "plain", two_provinces(), gzip_villages=False)
    )

    assert plain.records == packed.records
    assert plain.content_hash == packed.content_hash


def test_content_hash_is_stable_and_changes_when_one_name_changes(tmp_path: Path) -> None:
    files = two_provinces()
    first = read_divisions(write_divisions(tmp_path / "a", files))
    again = read_divisions(tmp_path / "a")
    files["villages.csv"][4] = ("630102001001", "东关社区", "630102001", "63", "6301", "630102")
    renamed = read_divisions(write_divisions(tmp_path / "b", files))

    assert len(first.content_hash) == 64
    assert again.content_hash == first.content_hash
    assert renamed.content_hash != first.content_hash


def test_progress_calls_add_up_to_the_number_of_records() -> None:
    calls: list[int] = []

    divisions = read_divisions(GANSU, progress=calls.append)

    assert sum(calls) == len(divisions.records) == 19224
    assert calls[0] == PROGRESS_EVERY
    assert all(0 < n <= PROGRESS_EVERY for n in calls)
    assert len(calls) == 2


def test_progress_with_a_province_counts_only_the_kept_records(tmp_path: Path) -> None:
    calls: list[int] = []

    divisions = read_divisions(
        write_divisions(tmp_path, two_provinces()), province="63", progress=calls.append
    )

    assert calls == [len(divisions.records)] == [5]


# --- broken folders --------------------------------------------------------------


def test_a_missing_parent_names_the_parent_and_the_child(tmp_path: Path) -> None:
    files = two_provinces()
    files["streets.csv"].append(("620199001", "无名镇", "620199", "62", "6201"))

    error = read_error(write_divisions(tmp_path, files))

    assert_error(error, "streets.csv", 6, ["parent county 620199", "township 620199001"])
    assert error.problem == "parent county 620199 of township 620199001 does not exist"


def test_a_parent_in_another_province_does_not_exist_within_the_province(
    tmp_path: Path,
) -> None:
    files = two_provinces()
    files["areas.csv"][2] = ("630102", "城东区", "6201", "63")

    error = read_error(write_divisions(tmp_path, files), province="63")

    assert_error(error, "areas.csv", 4, ["parent city 6201", "county 630102", "province 63"])


def test_a_code_of_the_wrong_length_names_it_and_the_expected_length(tmp_path: Path) -> None:
    files = two_provinces()
    files["areas.csv"][1] = ("62010", "七里河区", "6201", "62")

    error = read_error(write_divisions(tmp_path, files))

    assert_error(error, "areas.csv", 3, [])
    assert error.problem == "code 62010 has 5 digits; a county code has 6"


def test_a_duplicate_code_names_the_line_of_the_first(tmp_path: Path) -> None:
    files = two_provinces()
    files["cities.csv"].insert(2, ("6201", "兰州", "62"))

    error = read_error(write_divisions(tmp_path, files))

    assert str(error) == "cities.csv:4: duplicate code 6201 (first on line 2)"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:-4], id="trailer-cut"),
        pytest.param(lambda data: b"not gzip at all" + data, id="not-gzip"),
        pytest.param(
            lambda data: data[:20] + bytes(b ^ 0xFF for b in data[20:40]) + data[40:],
            id="corrupt",
        ),
    ],
)
def test_a_broken_gzip_is_a_divisions_error_not_a_raw_traceback(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    folder = write_divisions(tmp_path, two_provinces())
    packed = folder / "villages.csv.gz"
    packed.write_bytes(damage(packed.read_bytes()))

    error = read_error(folder)

    assert_error(error, "villages.csv.gz", None, ["not a valid gzip file"])


def test_a_row_with_the_wrong_column_count_names_the_expected_columns(tmp_path: Path) -> None:
    files = two_provinces()
    files["cities.csv"][1] = '6202,"嘉峪关市"'

    error = read_error(write_divisions(tmp_path, files))

    assert str(error) == "cities.csv:3: expected 3 columns (code,name,provinceCode), found 2"


def test_an_empty_line_is_a_row_with_no_columns(tmp_path: Path) -> None:
    files = two_provinces()
    files["areas.csv"].insert(1, "")

    error = read_error(write_divisions(tmp_path, files))

    assert_error(error, "areas.csv", 3, ["expected 4 columns", "found 0"])


def test_an_unexpected_header_names_both_headers(tmp_path: Path) -> None:
    folder = write_divisions(
        tmp_path, two_provinces(), headers={"areas.csv": "code,name,provinceCode,cityCode"}
    )

    error = read_error(folder)

    assert_error(
        error,
        "areas.csv",
        1,
        ["code,name,provinceCode,cityCode", "code,name,cityCode,provinceCode"],
    )


def test_an_empty_file_says_which_header_was_expected(tmp_path: Path) -> None:
    folder = write_divisions(tmp_path, two_provinces())
    (folder / "cities.csv").write_bytes(b"")

    error = read_error(folder)

    assert_error(error, "cities.csv", None, ["empty", "code,name,provinceCode"])


def test_a_blank_name_names_the_unit(tmp_path: Path) -> None:
    files = two_provinces()
    files["streets.csv"][1] = ("620102002", "  ", "620102", "62", "6201")

    error = read_error(write_divisions(tmp_path, files))

    assert str(error) == "streets.csv:3: the name of township 620102002 is blank"


@pytest.mark.parametrize("code", ["62010200100A", "６２０１０２００１００１", "62010200-001"])
def test_a_code_that_is_not_all_digits_is_named(tmp_path: Path, code: str) -> None:
    files = two_provinces()
    files["villages.csv"][2] = (code, "陇西路社区居委会", "620102002", "62", "6201", "620102")

    error = read_error(write_divisions(tmp_path, files))

    assert_error(error, "villages.csv.gz", 4, [code, "not all digits", "village"])


def test_a_blank_code_is_named(tmp_path: Path) -> None:
    files = two_provinces()
    files["provinces.csv"][1] = ("", "青海省")

    error = read_error(write_divisions(tmp_path, files))

    assert str(error) == "provinces.csv:3: the province code is blank"


def test_the_parent_comes_from_its_column_not_from_the_code_prefix(tmp_path: Path) -> None:
    files = two_provinces()
    files["streets.csv"][2] = ("620103001", "西园街道", "620102", "62", "6201")
    files["villages.csv"] = [
        (*row[:5], "620102") if row[2] == "620103001" else row for row in files["villages.csv"]
    ]

    divisions = read_divisions(write_divisions(tmp_path, files))

    township = next(r for r in divisions.records if r.code == "620103001")
    assert township.parent == "620102"


@pytest.mark.parametrize(
    ("row", "names"),
    [
        pytest.param(
            ("620102001002", "张家园社区居委会", "620102001", "62", "6202", "620102"),
            ["cityCode 6202", "village 620102001002", "township 620102001", "city 6201"],
            id="cityCode",
        ),
        pytest.param(
            ("620102001002", "张家园社区居委会", "620102001", "63", "6201", "620102"),
            ["provinceCode 63", "village 620102001002", "province 62"],
            id="provinceCode",
        ),
        pytest.param(
            ("620102001002", "张家园社区居委会", "620102001", "62", "6201", "620103"),
            ["areaCode 620103", "village 620102001002", "county 620102"],
            id="areaCode",
        ),
    ],
)
def test_an_ancestor_column_that_disagrees_with_the_parent_is_named(
    tmp_path: Path, row: tuple[str, ...], names: list[str]
) -> None:
    files = two_provinces()
    files["villages.csv"][1] = row

    error = read_error(write_divisions(tmp_path, files))

    assert_error(error, "villages.csv.gz", 3, names)


def test_a_county_whose_province_column_disagrees_with_its_city_is_named(
    tmp_path: Path,
) -> None:
    files = two_provinces()
    files["areas.csv"][1] = ("620103", "七里河区", "6201", "63")

    error = read_error(write_divisions(tmp_path, files))

    assert str(error) == (
        "areas.csv:3: provinceCode 63 of county 620103 does not match its city 6201, "
        "which is in province 62"
    )


def test_bytes_that_are_not_utf8_are_reported_with_their_line(tmp_path: Path) -> None:
    folder = write_divisions(tmp_path, two_provinces())
    streets = folder / "streets.csv"
    streets.write_bytes(streets.read_bytes().replace("西园街道".encode(), "西园街道".encode("gbk")))

    error = read_error(folder)

    assert_error(error, "streets.csv", 4, ["not UTF-8"])


def test_bytes_that_are_not_utf8_in_the_gzipped_villages_are_reported_with_their_line(
    tmp_path: Path,
) -> None:
    files = two_provinces()
    folder = write_divisions(tmp_path, files, gzip_villages=False)
    plain = folder / "villages.csv"
    data = plain.read_bytes().replace("东关社区".encode(), "东关社区".encode("gbk"))
    (folder / "villages.csv.gz").write_bytes(gzip.compress(data))
    plain.unlink()

    error = read_error(folder)

    assert_error(error, "villages.csv.gz", 6, ["not UTF-8"])


@pytest.mark.parametrize("name", ["provinces.csv", "areas.csv", "streets.csv"])
def test_a_missing_file_is_named(tmp_path: Path, name: str) -> None:
    folder = write_divisions(tmp_path, two_provinces())
    (folder / name).unlink()

    error = read_error(folder)

    assert_error(error, name, None, ["missing"])


def test_missing_villages_names_the_gzipped_file(tmp_path: Path) -> None:
    folder = write_divisions(tmp_path, two_provinces())
    (folder / "villages.csv.gz").unlink()

    error = read_error(folder)

    assert_error(error, "villages.csv.gz", None, ["missing", "villages.csv"])


def test_both_plain_and_gzipped_villages_is_refused(tmp_path: Path) -> None:
    folder = write_divisions(tmp_path, two_provinces())
    write_divisions(tmp_path, two_provinces(), gzip_villages=False)

    error = read_error(folder)

    assert_error(error, "villages.csv.gz", None, ["villages.csv", "only one"])


def test_a_folder_that_does_not_exist_is_named(tmp_path: Path) -> None:
    error = read_error(tmp_path / "nowhere")

    assert_error(error, str(tmp_path / "nowhere"), None, ["not a folder"])


def test_an_unknown_province_is_not_in_the_file(tmp_path: Path) -> None:
    error = read_error(write_divisions(tmp_path, two_provinces()), province="99")

    assert str(error) == "provinces.csv: province 99 is not in the file"


@pytest.mark.parametrize("province", ["6", "620", "ab", "６２", ""])
def test_a_province_argument_that_is_not_two_digits_is_refused(
    tmp_path: Path, province: str
) -> None:
    error = read_error(write_divisions(tmp_path, two_provinces()), province=province)

    assert_error(error, "provinces.csv", None, [repr(province), "2 digits"])
