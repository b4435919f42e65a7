"""The user's own data as it really is: ids exactly as written, columns picked by
name, Parquet, packed files (.gz, .bz2, .xz, .zip) and ISO times with time zones."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import error_line, held_out_label, read_metrics, zip_bytes

from ncf_keras.cli.main import main
from ncf_keras.data.dataset import Dataset, leave_one_out
from ncf_keras.data.sources import from_file, load_dataset
from ncf_keras.errors import DataError

ITEMS = 150  # every user below has 4 or 25 items, so far more than 99 unseen
VARIED = "".join(f"{k},{k * 7919 % 10007}\n" for k in range(20000)).encode()  # packs badly


def log(
    users: list[str], items: list[str] | None = None, background: str = "bg"
) -> list[tuple[str, str, int]]:
    """(user, item, time) rows: user k has 4 items, its latest written first; then six
    background users "bg0".."bg5" (`background` + k) with 25 items each use every item."""
    items = items or [str(i) for i in range(1, ITEMS + 1)]
    rows = []
    for k, user in enumerate(users):
        for step in range(4):
            rows.append((user, items[(7 * k + 31 * step) % len(items)], 1000 + k - step))
    for k, item in enumerate(items):
        rows.append((f"{background}{k % 6}", item, k))
    return rows


def write(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    packers = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}
    path.write_bytes(packers.get(path.suffix, bytes)(data))
    return path


def csv_lines(rows, header=("user", "item", "timestamp")) -> list[str]:
    return ([",".join(header)] if header else []) + [",".join(map(str, r)) for r in rows]


def same(a: Dataset, b: Dataset) -> None:
    assert (a.num_users, a.num_items) == (b.num_users, b.num_items)
    for field in ("train_users", "train_items", "test_items", "test_negatives"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), field)
    assert list(map(str, a.user_labels)) == list(map(str, b.user_labels))
    assert list(map(str, a.item_labels)) == list(map(str, b.item_labels))


# --- 2. Ids exactly as written ------------------------------------------------------

HUGE = [str(2**60 + k) for k in range(101)] + ["0.5"]  # above 2**53: a float merges them
NEAR_2_63 = [str(2**63 - 3 + k) for k in range(6)] + ["2.5"]  # one float: all one user
NOTATIONS = ["7", "007", "+7", "7.0", "0.5", "-7", "1e3", "1000", "0", "-0", "3" * 20]
NA_LIKE = ["NA", "null", "None", "nan", "N/A", "NaN", "#N/A", "n/a", "NULL", "<NA>", "-"]
ID_CASES = {"huge": HUGE, "near-2**63": NEAR_2_63, "notations": NOTATIONS, "na-like": NA_LIKE}


@pytest.mark.parametrize("sep", [",", " "], ids=["comma (pyarrow)", "spaces (pandas)"])
@pytest.mark.parametrize("ids", list(ID_CASES.values()), ids=list(ID_CASES))
def test_there_are_as_many_users_and_items_as_distinct_ids_in_the_file(tmp_path, ids, sep):
    """No id passes through a float or becomes missing: each written id is one label,
    whichever of the two readers reads the file."""
    items = ids + [str(5000 + k) for k in range(ITEMS - len(ids))]
    rows = log(ids, items, background="90")  # numbers only, but for the NA-like ids
    lines = [line.replace(",", sep) for line in csv_lines(rows)]
    dataset = from_file(write(tmp_path / "ids.csv", lines))
    assert dataset.num_users == len({r[0] for r in rows}) == len(ids) + 6
    assert dataset.num_items == len({r[1] for r in rows}) == ITEMS
    assert {str(label) for label in dataset.user_labels} == {r[0] for r in rows}
    assert {str(label) for label in dataset.item_labels} == {r[1] for r in rows}
    for user in ids:  # the latest row of each user is its test item, by the ids as written
        assert held_out_label(dataset, user) == next(r[1] for r in rows if r[0] == user)


def test_ids_that_are_numbers_at_first_and_text_later_are_one_label_each(tmp_path):
    """pandas guesses a type per 2**19 rows: an id column of numbers whose first text
    comes later held both 7 and "7", two users for one id (2,001 users, not 1,001)."""
    rows = [(k % 1000, k % ITEMS) for k in range(2**19)]
    rows += [(k, (k + j) % ITEMS) for k in range(1000) for j in (7, 8)] + [("abc", 1), ("abc", 2)]
    lines = ["user,item"] + [f"{u},{i}" for u, i in rows]
    with pytest.warns(UserWarning, match="collapsed"):
        dataset = from_file(write(tmp_path / "late.csv", lines))
    assert dataset.num_users == 1001 and dataset.num_items == ITEMS


def test_integer_ids_stay_integers_and_keep_their_fingerprint(tmp_path):
    """The common case reads as int64, the same split and fingerprint as integer arrays."""
    rows = log([str(u) for u in range(1, 21)], background="90")
    dataset = from_file(write(tmp_path / "ints.csv", csv_lines(rows)))
    assert dataset.user_labels.dtype == np.int64 and dataset.item_labels.dtype == np.int64
    users, items, times = (np.array([r[k] for r in rows], np.int64) for k in range(3))
    expected = leave_one_out("ints.csv", users, items, times, 0)
    same(dataset, expected)
    assert dataset.fingerprint() == expected.fingerprint()


def test_an_empty_id_is_still_an_error_naming_the_line(tmp_path):
    lines = csv_lines(log(["a", "b"]))
    lines[3] = ",2,1003"
    with pytest.raises(DataError, match=r"e\.csv: line 4: expected 3 non-empty fields, saw 2"):
        from_file(write(tmp_path / "e.csv", lines))


# --- 3. --columns, Parquet, packed files, times -----------------------------------------

ROWS = log([f"u{k}" for k in range(12)])


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Dataset:
    return from_file(write(tmp_path_factory.mktemp("plain") / "plain.csv", csv_lines(ROWS)))


def test_columns_picks_columns_by_name_in_any_order(tmp_path, plain):
    """Named columns in another order, among others (some empty) that are ignored."""
    header = ["comment", "when", "rating", "item_id", "customer"]
    lines = [",".join(header)] + [f",{t},x,{i},{u}" for u, i, t in ROWS]
    path = write(tmp_path / "export.csv", lines)
    same(from_file(path, columns="user=customer,item=item_id,time=when"), plain)
    untimed = from_file(path, columns="item=item_id,user=customer")  # file order is time
    assert held_out_label(untimed, "u0") == [i for u, i, _ in ROWS if u == "u0"][-1]


@pytest.mark.parametrize(
    "columns, message",
    [
        (
            "user=customer,item=sku",
            r"line 1, the header, has no column 'sku' \(--columns item=\); "
            r"its columns: 'customer', 'item_id', 'when'",
        ),
        ("user=customer", r"--columns 'user=customer' must name user= and item="),
        ("user=customer,item=item_id,rating=x", r"--columns .*'rating=x' is not KEY=NAME"),
        ("user=when,item=when", r"--columns .* names one column for two roles"),
    ],
    ids=["missing-name", "no-item", "unknown-key", "same-column"],
)
def test_bad_columns_are_one_error_line(tmp_path, capsys, columns, message):
    path = write(
        tmp_path / "x.csv", ["customer,item_id,when"] + [f"{u},{i},{t}" for u, i, t in ROWS]
    )
    argv = ["train", "--model", "gmf", "--dataset", str(path), "--out", str(tmp_path / "run")]
    assert main([*argv, "--columns", columns]) == 2
    assert re.search(message, error_line(capsys))
    assert not (tmp_path / "run").exists()


def test_columns_needs_a_header_and_a_file(tmp_path, capsys):
    path = write(tmp_path / "bare.csv", [f"{k},{i},{t}" for k, (_, i, t) in enumerate(ROWS)])
    with pytest.raises(DataError, match=r"bare\.csv: line 1 is data .* not a header"):
        from_file(path, columns="user=a,item=b")
    argv = ["train", "--model", "gmf", "--dataset", "ml-1m", "--out", str(tmp_path / "r")]
    assert main([*argv, "--columns", "user=a,item=b"]) == 2
    assert "--columns picks the columns of your own file; dataset 'ml-1m'" in error_line(capsys)


def test_train_records_columns_and_recommend_takes_ids_as_written(tmp_path, capsys):
    """evaluate and recommend reload the file with the run's --columns; --user is the
    id as written: "007" and "7" are two users."""
    users = ["007", "7", str(2**63 + 1), "NA"] + [f"u{k}" for k in range(8)]
    rows = log(users)
    lines = ["item,ignored,user,ts"] + [f"{i},?,{u},{t}" for u, i, t in rows]
    path = write(tmp_path / "mine.csv", lines)
    run = tmp_path / "run"
    argv = ["train", "--model", "gmf", "--dataset", str(path), "--epochs", "1", "--out", str(run)]
    assert main([*argv, "--verbose", "0", "--columns", "user=user,item=item,time=ts"]) == 0
    assert read_metrics(run)["config"]["columns"] == "user=user,item=item,time=ts"
    assert main(["evaluate", "--run", str(run)]) == 0
    for user in ("007", "7", str(2**63 + 1), "NA"):
        capsys.readouterr()
        assert main(["recommend", "--run", str(run), "--user", user, "--top", "3"]) == 0
        assert f"user {user}: 3 items in training" in capsys.readouterr().out
    assert main(["recommend", "--run", str(run), "--user", "07"]) == 2
    assert "user '07' is not in dataset" in error_line(capsys)


def parquet(path: Path, columns: dict) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_of_every_id_and_time_type_gives_the_csv_dataset(tmp_path, plain):
    users = [u for u, _, _ in ROWS]
    items = pa.array([int(i) for _, i, _ in ROWS], pa.int32())
    stamps = pd.to_datetime([t for _, _, t in ROWS], unit="D")
    zoned = pa.array(stamps.tz_localize("UTC").tz_convert("Asia/Kolkata"))
    path = parquet(tmp_path / "log.parquet", {"user": users, "item": items, "ts": zoned})
    same(from_file(path), plain)
    dates = pa.array(stamps.date, pa.date32())
    other = {"d": dates, "x": [0.5] * len(users), "i": pa.array(items).cast(pa.string())}
    path = parquet(tmp_path / "wide.parquet", {**other, "who": pa.array(users).dictionary_encode()})
    same(from_file(path, columns="user=who,item=i,time=d"), plain)


@pytest.mark.parametrize(
    "ids, message",
    [
        ([0.5, 1.0], r"row 1: column 'user' holds 0\.5"),
        ([1.0, 2.0**60], r"row 2: column 'user' holds 1\.15\d*e\+18"),
        ([1, None], r"row 2: column 'user' is empty \(null\)"),
    ],
    ids=["fraction", "beyond-2**53", "null"],
)
def test_parquet_ids_that_cannot_be_exact_are_refused(tmp_path, ids, message):
    path = parquet(tmp_path / "f.parquet", {"user": ids, "item": [1, 2]})
    with pytest.raises(DataError, match=re.escape(str(path)) + ": " + message):
        from_file(path)


def test_whole_float_ids_in_parquet_are_read_exactly(tmp_path, plain):
    """Ids that pandas stored as floats (a column with gaps once): whole numbers < 2**53."""
    rows = log([str(k) for k in range(12)], background="90")
    table = {"u": [float(r[0]) for r in rows], "i": [float(r[1]) for r in rows]}
    dataset = from_file(parquet(tmp_path / "f.parquet", {**table, "t": [r[2] for r in rows]}))
    assert dataset.user_labels.dtype == np.int64
    assert [str(u) for u in dataset.user_labels] == list(dict.fromkeys(r[0] for r in rows))


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zip", ".csv"])
def test_packed_files_give_the_plain_dataset(tmp_path, plain, suffix):
    """.gz, .bz2, .xz and a one-file .zip (macOS's extra entries skipped); the packing
    is told by the content, so a .csv that holds gzip is read too."""
    text = ("\n".join(csv_lines(ROWS)) + "\n").encode()
    path = tmp_path / f"log{suffix}"
    if suffix == ".zip":
        path.write_bytes(zip_bytes({"log.csv": text, "__MACOSX/._log.csv": b"\0\5\26\7"}))
    elif suffix == ".csv":
        path.write_bytes(gzip.compress(text))
    else:
        write(path, csv_lines(ROWS))
    same(from_file(path), plain)


PACKING_ERRORS = {
    # id: (file name, bytes, message after "<path>: ")
    "zip-of-two": (
        "two.zip",
        zip_bytes({"a.csv": b"1,2\n", "b.csv": b"1,3\n"}),
        r"the zip holds 2 files \('a\.csv', 'b\.csv'\); pass a zip of exactly one",
    ),
    "empty-zip": ("none.zip", zip_bytes({}), r"the zip holds no file"),
    "zstd": ("log.csv.zst", b"\x28\xb5\x2f\xfd" + bytes(20), r"a zstd file, which cannot be read"),
    "7z-by-name": ("log.7z", b"1,2\n", r"a 7-Zip file, which cannot be read"),
    "tar-gz": ("log.tar.gz", gzip.compress(b"x"), r"a tar file, which cannot be read"),
    "cut-bz2": (
        "cut.csv.bz2",
        bz2.compress(VARIED)[:5000],
        r"a truncated or corrupt bzip2 file",
    ),
    "bad-xz": (
        "bad.csv.xz",
        lzma.compress(VARIED)[:5000] + b"garbage!!",
        r"a truncated or corrupt xz file",
    ),
    "cut-zip": (
        "cut.zip",
        zip_bytes({"a.csv": VARIED})[:5000],
        r"a truncated or corrupt zip file",
    ),
}


@pytest.mark.parametrize("case", list(PACKING_ERRORS), ids=list(PACKING_ERRORS))
def test_packed_files_that_cannot_be_read_are_one_line_naming_the_file(tmp_path, capsys, case):
    name, data, message = PACKING_ERRORS[case]
    path = tmp_path / name
    path.write_bytes(data)
    argv = ["train", "--model", "gmf", "--dataset", str(path), "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert re.search(re.escape(f"error: {path}: ") + message, error_line(capsys))


def iso(minutes: int, offset_hours: int) -> str:
    """2000-01-01 00:00 UTC plus `minutes`, written in the time zone UTC+offset_hours."""
    stamp = pd.Timestamp("2000-01-01", tz="UTC") + pd.Timedelta(minutes=minutes)
    return stamp.tz_convert(f"Etc/GMT{-offset_hours:+d}").isoformat()


def test_iso_times_with_time_zones_order_by_the_instant(tmp_path, plain):
    """Offsets, "Z" and BigQuery's " UTC": the latest instant is held out, not the latest
    wall-clock time; a file without a header keeps its first line."""
    zones = [5, -8, 0, 2]
    written = [
        (u, i, iso(t, zones[k % 4]).replace("+00:00", " UTC" if k % 8 else "Z"))
        for k, (u, i, t) in enumerate(ROWS)
    ]
    lines = [f"{u},{i},5,{t}" for u, i, t in written]
    same(from_file(write(tmp_path / "zoned.csv", lines)), plain)
    clash = [("a", 1, "2000-01-01T10:00:00+05:00"), ("a", 2, "2000-01-01T06:00:00Z")]
    clash += [("b", 1, "2000-01-01T09:00:00-01:00"), ("b", 2, "2000-01-01 09:30:00 UTC")]
    dataset = from_file(
        write(
            tmp_path / "clash.csv",
            [f"{u},{i},5,{t}" for u, i, t in clash]
            + [f"c{k},{k},5,2000-01-02T00:00:00Z" for k in range(3, 150)]
            + [f"c{k},{k + 1},5,2000-01-02T00:00:00Z" for k in range(3, 150)],
        )
    )
    assert held_out_label(dataset, "a") == "2"  # 06:00 UTC is after 10:00+05:00 = 05:00 UTC
    assert held_out_label(dataset, "b") == "1"  # 09:00-01:00 = 10:00 UTC, after 09:30 UTC


@pytest.mark.parametrize("header", [None, "user,item,day"], ids=["no-header", "any-name"])
def test_a_time_column_of_dates_only(tmp_path, plain, header):
    """Dates without a time of day: in a file without a header (line 1 is data), or
    under a header whose name is not a time word."""
    dates = [
        (u, i, str(pd.Timestamp("2001-01-01") + pd.Timedelta(days=t)).split()[0])
        for u, i, t in ROWS
    ]
    lines = ([header] if header else []) + [f"{u},{i},{d}" for u, i, d in dates]
    same(from_file(write(tmp_path / "dates.csv", lines)), plain)


def test_times_with_and_without_an_offset_are_refused(tmp_path):
    lines = ["user,item,time", "a,1,2000-01-01T10:00:00Z", "a,2,2000-01-01T11:00:00"]
    with pytest.raises(DataError, match=r"m\.csv: line 3: field 3 has no UTC offset"):
        from_file(write(tmp_path / "m.csv", lines))


def test_load_dataset_passes_columns_to_the_file(tmp_path, plain):
    path = write(tmp_path / "c.csv", ["t,i,u"] + [f"{t},{i},{u}" for u, i, t in ROWS])
    same(load_dataset(str(path), columns="user=u,item=i,time=t"), plain)
