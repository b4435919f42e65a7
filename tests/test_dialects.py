"""The user's own file in every separator dialect: quoted RFC 4180 CSV, semicolons,
whitespace runs, tabs and commas all give the same Dataset as the plain comma file."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import background_rows

from ncf_keras.data.dataset import Dataset
from ncf_keras.data.parsing import WHITESPACE, Dialect, sniff_dialect
from ncf_keras.data.sources import from_file
from ncf_keras.errors import DataError

HEADER = ["user", "item", "rating", "timestamp"]


def write_text(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


def lines_of(rows: list[tuple], sep: str, header: list[str] | None = None, quote=False) -> str:
    """`rows` as text, fields joined by `sep`, every field quoted with '"' if `quote`."""
    table = ([header] if header else []) + [list(map(str, row)) for row in rows]
    if quote:
        table = [['"' + field.replace('"', '""') + '"' for field in row] for row in table]
    return "".join(sep.join(row) + "\n" for row in table)


def aligned(rows: list[tuple]) -> str:
    """Columns padded with runs of spaces, a tab here and there, as `column -t` would."""
    out = []
    for k, row in enumerate(rows):
        gap = "\t" if k % 3 == 0 else "   "
        out.append(gap.join(f"{field:<8}" for field in map(str, row)).rstrip() + "\n")
    return "".join(out)


def same_dataset(a: Dataset, b: Dataset) -> None:
    assert (a.num_users, a.num_items) == (b.num_users, b.num_items)
    for field in ("train_users", "train_items", "test_items", "test_negatives"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert [str(x) for x in a.user_labels] == [str(x) for x in b.user_labels]
    assert [str(x) for x in a.item_labels] == [str(x) for x in b.item_labels]


ROWS = background_rows()
DIALECTS = {
    # id: (file name, text of the file with ROWS)
    "tab": ("log.tsv", lines_of(ROWS, "\t")),
    "quoted": ("log.csv", lines_of(ROWS, ",", HEADER, quote=True)),
    "quoted-no-header": ("log.csv", lines_of(ROWS, ",", quote=True)),
    "semicolon": ("log.csv", lines_of(ROWS, ";", HEADER)),
    "semicolon-gz": ("log.csv.gz", lines_of(ROWS, ";")),
    "single-spaces": ("log.txt", lines_of(ROWS, " ", HEADER)),
    "whitespace-runs": ("log.txt", aligned(ROWS)),
    "whitespace-runs-header": ("log.txt", aligned([tuple(HEADER), *ROWS])),
    "comma-space": ("log.csv", lines_of(ROWS, ", ", HEADER)),
    "crlf": ("log.csv", lines_of(ROWS, ",", HEADER).replace("\n", "\r\n")),
}


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Dataset:
    """The reference: a plain comma file with a header."""
    folder = tmp_path_factory.mktemp("plain")
    return from_file(write_text(folder / "plain.csv", lines_of(ROWS, ",", HEADER)))


@pytest.mark.parametrize("dialect", list(DIALECTS), ids=list(DIALECTS))
def test_every_dialect_gives_the_plain_comma_dataset(tmp_path, plain, dialect):
    name, text = DIALECTS[dialect]
    same_dataset(from_file(write_text(tmp_path / name, text)), plain)


def test_quoted_ids_may_hold_the_separator(tmp_path):
    """RFC 4180: "smith, ann" is one field; "" inside quotes is one quote."""
    named = [(f"smith, {u}", f'item "{i}", cut', r, t) for u, i, r, t in ROWS]
    quoted = from_file(write_text(tmp_path / "q.csv", lines_of(named, ",", HEADER, quote=True)))
    tabbed = from_file(write_text(tmp_path / "t.tsv", lines_of(named, "\t", HEADER)))
    same_dataset(quoted, tabbed)
    assert "smith, 1" in quoted.user_labels.tolist()
    assert 'item "1", cut' in quoted.item_labels.tolist()


def test_semicolon_files_may_write_decimal_commas(tmp_path, plain):
    """A semicolon file from a spreadsheet: ratings "4,5"; line 1 is data, not a header."""
    rows = [(u, i, f"{r},5", t) for u, i, r, t in ROWS]
    same_dataset(from_file(write_text(tmp_path / "excel.csv", lines_of(rows, ";"))), plain)


SNIFFED = {
    # id: (first lines, the dialect)
    "comma": (["user,item", "1,2"], Dialect(",")),
    "tab with spaces in ids": (["ann smith\tThe Matrix", "bob\tHeat 2"], Dialect("\t")),
    "semicolon": (["1;2;5;100", "1;3;4;101"], Dialect(";")),
    "semicolon, decimal comma": (["1;2;4,5;100"], Dialect(";", decimal=",")),
    "comma and space": (["1, 2, 5", "1, 3, 4"], Dialect(",", skipinitialspace=True)),
    "quoted": (['"1","2"', '"1","3"'], Dialect(",")),
    "single spaces": (["1 2 5 100", "1 3 4 101"], Dialect(WHITESPACE)),
    "runs of spaces": (["user  item", "1     2", "10    3"], Dialect(WHITESPACE)),
    "a bad line among few": (["1,2", "1,3", "2,4,5", "2,5", "3,1"], Dialect(",")),
}


@pytest.mark.parametrize("lines, expected", SNIFFED.values(), ids=SNIFFED)
def test_sniff_dialect(lines, expected):
    assert sniff_dialect(lines, "f.csv") == expected


@pytest.mark.parametrize(
    "first", ["1|2|5|100", "1::2::5::978300760", "12345"], ids=["pipe", "double-colon", "one"]
)
def test_an_unsupported_separator_is_one_line_naming_the_file(tmp_path, first):
    path = write_text(tmp_path / "log.dat", f"{first}\n{first}\n")
    with pytest.raises(DataError) as error:
        from_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: line 1: no supported separator in {first!r}")
    assert message.endswith("with commas, semicolons, tabs or spaces")
    assert "\n" not in message


ERRORS = {
    # id: (file name, text, expected message after "<path>: ")
    "semicolon extra field": ("a.csv", "1;2\n1;3\n2;4\n2;5;6\n", r"line 4: expected 2 fields"),
    "whitespace missing field": (
        "b.txt",
        "user  item  rating\n1  2  5\n1  3  4\n2  4\n",
        r"line 4: expected 3 non-empty fields, saw 2",
    ),
    "quote never closed": ("c.csv", 'user,item\n1,2\n1,"3\n2,4\n', r"line 3: a quoted field"),
    "quoted rating not a number": (
        "d.csv",
        '"user","item","rating"\n"1","2","5"\n"1","3","x"\n',
        r"line 3: field 3 is not a number: 'x'",
    ),
}


@pytest.mark.parametrize("case", list(ERRORS), ids=list(ERRORS))
def test_errors_in_every_dialect_name_the_line(tmp_path, case):
    name, text, message = ERRORS[case]
    path = write_text(tmp_path / name, text)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": " + message) as error:
        from_file(path)
    assert "\n" not in str(error.value)
