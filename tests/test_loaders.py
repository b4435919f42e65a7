"""Loaders on small generated files, in every supported format: the user's own
CSV/TSV files, GroupLens ML-1M (zip, extracted, or the pre-placed interactions
file) and the NCF paper's split files."""

from __future__ import annotations

import gzip
import re
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    BACKGROUND_ITEMS,
    BACKGROUND_USERS,
    NcfSplit,
    assert_no_leakage,
    background_rows,
    held_out_label,
    index_of,
    listing,
    ml1m_zip,
    movies_dat,
    ratings_dat,
    train_labels,
    write_table,
    zip_bytes,
)

from ncf_keras.data import grouplens, paper_split
from ncf_keras.data.download import RemoteFile
from ncf_keras.data.grouplens import movielens_1m
from ncf_keras.data.paper_split import movielens_1m_ncf
from ncf_keras.data.sources import (
    from_file,
    load_dataset,
    resolve_data_dir,
)
from ncf_keras.errors import DataError


def latest_by_time(rows) -> dict[str, str]:
    """Each user's item with the largest timestamp, the later line winning ties."""
    latest: dict[str, tuple[int, int, str]] = {}
    for line, (user, item, _, stamp) in enumerate(rows):
        if str(user) not in latest or (stamp, line) > latest[str(user)][:2]:
            latest[str(user)] = (stamp, line, str(item))
    return {user: value[2] for user, value in latest.items()}


def last_in_file(rows) -> dict[str, str]:
    """Each user's item on its last line."""
    return {str(row[0]): str(row[1]) for row in rows}


def held_out_labels(dataset) -> dict[str, str]:
    return {str(u): held_out_label(dataset, u) for u in dataset.user_labels}


@pytest.fixture
def no_download(monkeypatch, closed_port_url):
    """Point the ML-1M download at a dead URL, so any download attempt fails loudly."""
    monkeypatch.setattr(grouplens, "ML_1M_ZIP", RemoteFile(closed_port_url, "ml-1m.zip"))
    for key, remote in list(paper_split.NCF_FILES.items()):
        dead = RemoteFile(closed_port_url.replace("ml-1m.zip", remote.filename), remote.filename)
        monkeypatch.setitem(paper_split.NCF_FILES, key, dead)


# --- The user's own file: formats ------------------------------------------------------

HEADER4 = ["user", "item", "rating", "timestamp"]
FORMATS = {
    # id: (file name, separator, header, columns kept)
    "csv-header-4": ("log.csv", ",", HEADER4, 4),
    "tsv-noheader-4": ("log.tsv", "\t", None, 4),
    "csv-noheader-2": ("log.csv", ",", None, 2),
    "tsv-header-2": ("log.tsv", "\t", ["userId", "movieId"], 2),
    "csv-header-3-rating": ("log.csv", ",", ["user", "item", "rating"], 3),
    "csv-noheader-3-rating": ("log.csv", ",", None, 3),
    "tsv-header-3-time": ("log.tsv", "\t", ["user_id", "item_id", "timestamp"], 3),
    "csv-gz-header-4": ("log.csv.gz", ",", HEADER4, 4),
    "tsv-gz-noheader-2": ("log.tsv.gz", "\t", None, 2),
}


@pytest.mark.parametrize("fmt", list(FORMATS), ids=list(FORMATS))
def test_from_file_reads_every_format(tmp_path, log_rows, fmt):
    """CSV/TSV, with or without header, 2-4 columns, plain or gzipped: the same split."""
    name, sep, header, columns = FORMATS[fmt]
    rows = sorted(log_rows, key=lambda r: r[3])  # file order = time order
    if header and header[-1] == "timestamp" and columns == 3:
        kept = [(u, i, t) for u, i, _, t in rows]
    else:
        kept = [r[:columns] for r in rows]
    dataset = from_file(write_table(tmp_path / name, kept, sep, header))

    assert dataset.name == name
    assert dataset.num_users == BACKGROUND_USERS
    assert dataset.num_items == BACKGROUND_ITEMS
    assert len(dataset.train_users) == len(rows) - BACKGROUND_USERS
    assert held_out_labels(dataset) == latest_by_time(rows)
    for user in dataset.user_labels:
        expected = {str(i) for u, i, _, _ in rows if u == user} - {held_out_label(dataset, user)}
        assert train_labels(dataset, user) == expected
    assert_no_leakage(dataset)


def test_from_file_orders_by_timestamp_not_file_order(tmp_path, log_rows):
    """With a timestamp column the latest timestamp is held out, wherever its line is."""
    by_time, by_line = latest_by_time(log_rows), last_in_file(log_rows)
    assert by_time != by_line  # the shuffled log makes the two orders disagree
    with_time = from_file(write_table(tmp_path / "t.csv", log_rows, header=HEADER4))
    assert held_out_labels(with_time) == by_time
    without_time = from_file(write_table(tmp_path / "n.csv", [r[:3] for r in log_rows]))
    assert held_out_labels(without_time) == by_line


def test_from_file_time_column_named_in_a_three_column_header(tmp_path, log_rows):
    """A third column named like a time orders; one named rating does not."""
    rows = [(u, i, t) for u, i, _, t in log_rows]
    timed = from_file(write_table(tmp_path / "a.csv", rows, header=["user", "item", "time"]))
    assert held_out_labels(timed) == latest_by_time(log_rows)
    rated = from_file(write_table(tmp_path / "b.csv", rows, header=["user", "item", "rating"]))
    assert held_out_labels(rated) == last_in_file(log_rows)


def test_from_file_reads_iso_dates_as_times(tmp_path, log_rows):
    """A "date" column of ISO 8601 dates orders like the timestamps it spells."""
    rows = [(u, i, stamp_to_iso(t)) for u, i, _, t in log_rows]
    dated = from_file(write_table(tmp_path / "d.csv", rows, header=["user", "item", "date"]))
    assert held_out_labels(dated) == latest_by_time(log_rows)


def stamp_to_iso(stamp: int) -> str:
    """Unix seconds as an ISO 8601 date and time, written with a +02:00 offset."""
    local = datetime.fromtimestamp(stamp, timezone(timedelta(hours=2)))
    return local.isoformat()


def test_from_file_breaks_timestamp_ties_by_file_order(tmp_path, log_rows):
    """Equal timestamps: the later line is the later interaction."""
    planted = [(900, 7, 5, 500), (900, 8, 5, 500), (900, 9, 5, 100)]
    planted += [(901, 8, 5, 500), (901, 7, 5, 500), (901, 9, 5, 100)]
    dataset = from_file(write_table(tmp_path / "ties.csv", log_rows + planted, header=HEADER4))
    assert held_out_label(dataset, 900) == "8"
    assert held_out_label(dataset, 901) == "7"
    assert train_labels(dataset, 900) == {"7", "9"}


def test_from_file_collapses_duplicates_into_the_latest_occurrence(tmp_path, log_rows):
    """Repeated (user, item) rows become one interaction at the latest time, with a warning."""
    planted = [(800, 1, 4, 10), (800, 2, 4, 20), (800, 1, 5, 30)]  # 1 is latest: test item
    planted += [(801, 3, 4, 50), (801, 4, 4, 40), (801, 3, 2, 10)]  # 3's latest is t=50
    path = write_table(tmp_path / "dups.csv", log_rows + planted, header=HEADER4)
    with pytest.warns(UserWarning, match=r"dups\.csv: collapsed 2 duplicate"):
        dataset = from_file(path)
    assert (held_out_label(dataset, 800), train_labels(dataset, 800)) == ("1", {"2"})
    assert (held_out_label(dataset, 801), train_labels(dataset, 801)) == ("3", {"4"})
    assert len(dataset.train_users) == len(log_rows) - BACKGROUND_USERS + 2
    assert_no_leakage(dataset)


def test_from_file_drops_users_with_fewer_than_two_interactions(tmp_path, log_rows):
    """A single-interaction user is dropped with a warning; ids stay contiguous."""
    planted = [(700, 999, 5, 1)]  # item 999 appears only here
    planted += [(701, 5, 5, 1), (701, 5, 5, 2)]  # one interaction after collapsing
    path = write_table(tmp_path / "few.csv", log_rows + planted, header=HEADER4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = from_file(path)
    messages = [str(w.message) for w in caught]
    assert any(re.search(r"collapsed 1 duplicate", m) for m in messages), messages
    assert any(re.search(r"dropped 2 users with fewer than 2", m) for m in messages), messages
    assert dataset.num_users == BACKGROUND_USERS
    assert "700" not in dataset.user_labels.astype(str)
    assert "701" not in dataset.user_labels.astype(str)
    assert "999" not in dataset.item_labels.astype(str)
    assert dataset.num_items == len(dataset.item_labels) == BACKGROUND_ITEMS
    assert dataset.train_items.max() < dataset.num_items
    assert held_out_labels(dataset) == latest_by_time(log_rows)
    assert_no_leakage(dataset)


def test_from_file_refuses_a_file_where_no_user_has_two_interactions(tmp_path):
    """Nothing left after dropping: DataError, not an empty dataset."""
    path = write_table(tmp_path / "single.csv", [(u, u) for u in range(5)], header=["user", "item"])
    with (
        pytest.warns(UserWarning, match="dropped 5 users"),
        pytest.raises(DataError, match=r"single\.csv: no user has 2 or more"),
    ):
        from_file(path)


def test_from_file_keeps_string_ids(tmp_path, log_rows):
    """Non-numeric ids are kept as labels; ids like "user-04" are data, not a header."""
    rows = [(f"user-{u:02d}", f"m{i:03d}", r, t) for u, i, r, t in log_rows]
    dataset = from_file(write_table(tmp_path / "names.tsv", rows, sep="\t"))
    assert dataset.user_labels[0] == rows[0][0]
    assert dataset.item_labels[0] == rows[0][1]
    assert set(dataset.user_labels) == {r[0] for r in rows}
    assert held_out_labels(dataset) == latest_by_time(rows)
    assert dataset.title(0) == f"item {rows[0][1]}"


def test_load_dataset_dispatches_on_path_and_name(tmp_path, log_rows):
    """load_dataset(path) reads the file; an unknown name is a DataError naming it."""
    path = write_table(tmp_path / "mine.csv", log_rows, header=HEADER4)
    dataset = load_dataset(str(path), seed=3)
    assert dataset.name == "mine.csv" and dataset.num_users == BACKGROUND_USERS
    with pytest.raises(DataError, match=r"unknown dataset 'movielens-20m'"):
        load_dataset("movielens-20m")
    with pytest.raises(DataError, match=r"unknown dataset"):
        load_dataset(str(tmp_path / "missing.csv"))


def test_test_negatives_follow_the_seed(tmp_path, log_rows):
    """The same seed draws the same test negatives; another seed draws others."""
    path = write_table(tmp_path / "log.csv", log_rows, header=HEADER4)
    first, again, other = from_file(path, seed=1), from_file(path, seed=1), from_file(path, seed=2)
    np.testing.assert_array_equal(first.test_negatives, again.test_negatives)
    assert not np.array_equal(first.test_negatives, other.test_negatives)
    np.testing.assert_array_equal(first.test_items, other.test_items)


def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    """The argument wins over $NCF_DATA_DIR, which wins over data/."""
    assert resolve_data_dir() == Path("data")
    monkeypatch.setenv("NCF_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir(tmp_path / "x") == tmp_path / "x"


# --- The user's own file: errors -------------------------------------------------------


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    data = ("\n".join(lines) + "\n").encode(encoding)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


MALFORMED = {
    # id: (file name, lines, expected message after "<path>: ")
    "extra-field": (
        "a.csv",
        ["1,2", "1,3", "2,4", "2,5,6", "3,1"],
        r"line 4: expected 2 fields, saw 3",
    ),
    "extra-field-after-header": (
        "b.tsv",
        ["user\titem\trating", "1\t2\t5", "1\t3\t4", "2\t4\t3", "2\t5\t4\t9"],
        r"line 5: expected 3 fields, saw 4",
    ),
    "missing-field": (
        "c.csv",
        ["1,2,5,10", "1,3,5,11", "2,4"],
        r"line 3: expected 4 non-empty fields, saw 2",
    ),
    "blank-line": (
        "d.csv",
        ["1,2", "1,3", "", "2,4", "2,5"],
        r"line 3: expected 2 non-empty fields, saw 0",
    ),
    "rating-not-a-number": (
        "e.csv",
        ["user,item,rating", "1,2,5", "1,3,4", "2,4,five", "2,5,3"],
        r"line 4: field 3 is not a number: 'five'",
    ),
    "timestamp-not-a-number": (
        "f.tsv",
        ["1\t2\t5\t100", "1\t3\t4\t101", "2\t4\t3\t102", "2\t5\t3\t103", "3\t1\t3\t2020-01-01"],
        r"line 5: field 4 is not a number: '2020-01-01'",
    ),
    "date-not-a-date": (
        "k.csv",
        ["user,item,date", "1,2,2000-12-31", "1,3,2001-02-30", "2,4,2001-01-01"],
        r"line 3: field 3 is not a date: '2001-02-30'",
    ),
    "too-many-columns": ("g.csv", ["1,2,3,4,5", "1,2,3,4,5"], r"line 1: expected 2 to 4 fields"),
    "gzipped-extra-field": (
        "h.csv.gz",
        ["u,i", "1,2", "1,3", "2,4,5"],
        r"line 4: expected 2 fields, saw 3",
    ),
    "empty": ("i.csv", [""], r"line 1 is empty"),
    "header-only": (
        "j.csv",
        ["user,item,rating,timestamp"],
        r"the file has a header line but no data rows",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_from_file_names_the_file_and_line_of_malformed_input(tmp_path, case):
    """Malformed input is a one-line DataError naming the file and the right line."""
    name, lines, message = MALFORMED[case]
    path = write_lines(tmp_path / name, lines)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": " + message) as error:
        from_file(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["latin1.csv", "latin1.csv.gz"])
def test_from_file_names_the_line_that_is_not_utf8(tmp_path, name):
    """A Latin-1 export is a one-line DataError naming its first non-UTF-8 line."""
    lines = ["user,item", "ann,Heat", "ann,Amélie", "bob,Heat", "bob,Ran"]
    path = write_lines(tmp_path / name, lines, encoding="latin-1")
    with pytest.raises(DataError, match=re.escape(f"{path}: line 3: not UTF-8 text")):
        from_file(path)


def test_from_file_refuses_a_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: cannot read"):
        from_file(tmp_path / "nope.csv")


# --- GroupLens ML-1M -------------------------------------------------------------------

# Planted on top of the background log: user 100's latest timestamp is not on its last
# line; user 101's two latest interactions share a timestamp (the later line wins).
PLANTED_ML = [(100, 1, 5, 300), (100, 2, 3, 100), (100, 3, 4, 200)]
PLANTED_ML += [(101, 3, 4, 900), (101, 2, 4, 900), (101, 1, 4, 100)]


@pytest.fixture
def ml_rows(log_rows) -> list[tuple[int, int, int, int]]:
    return log_rows + PLANTED_ML


def check_ml1m(dataset, rows) -> None:
    assert dataset.name == "ml-1m"
    assert dataset.num_users == BACKGROUND_USERS + 2
    assert held_out_labels(dataset) == latest_by_time(rows)
    assert held_out_label(dataset, 100) == "1"
    assert held_out_label(dataset, 101) == "2"
    assert train_labels(dataset, 101) == {"3", "1"}
    assert dataset.title(index_of(dataset.item_labels, 1)) == "Amélie (2001)"
    assert dataset.title(index_of(dataset.item_labels, 3)) == "Café au lait (1993)"
    assert dataset.title(index_of(dataset.item_labels, 57)) == "item 57"
    assert_no_leakage(dataset)


def test_movielens_1m_from_a_placed_zip(tmp_path, ml_rows, no_download):
    """A pre-placed ml-1m.zip is trusted, extracted, and split by latest timestamp."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "ml-1m.zip").write_bytes(ml1m_zip(ml_rows))
    dataset = movielens_1m(data_dir)
    check_ml1m(dataset, ml_rows)
    assert (data_dir / "ml-1m" / "ratings.dat").read_bytes() == ratings_dat(ml_rows)
    assert listing(data_dir) == [
        ".ml-1m.zip.extracted.json",  # what extraction wrote, to re-extract a damaged file
        "ml-1m",
        "ml-1m.zip",
        "ml-1m/movies.dat",
        "ml-1m/ratings.dat",
    ]


def test_movielens_1m_from_extracted_files(tmp_path, ml_rows, no_download):
    """ml-1m/ratings.dat and movies.dat already in place: used as they are."""
    folder = tmp_path / "data" / "ml-1m"
    folder.mkdir(parents=True)
    (folder / "ratings.dat").write_bytes(ratings_dat(ml_rows))
    (folder / "movies.dat").write_bytes(movies_dat())
    check_ml1m(movielens_1m(tmp_path / "data"), ml_rows)


def test_movielens_1m_from_the_data_dir_environment(tmp_path, ml_rows, no_download, monkeypatch):
    """With no argument, $NCF_DATA_DIR names the data folder."""
    folder = tmp_path / "env" / "ml-1m"
    folder.mkdir(parents=True)
    (folder / "ratings.dat").write_bytes(ratings_dat(ml_rows))
    monkeypatch.setenv("NCF_DATA_DIR", str(tmp_path / "env"))
    dataset = load_dataset("ml-1m")
    assert held_out_labels(dataset) == latest_by_time(ml_rows)
    assert dataset.title(index_of(dataset.item_labels, 1)) == "item 1"  # no movies.dat


def test_movielens_1m_from_the_interactions_file(tmp_path, ml_rows, no_download):
    """The pre-placed interactions.tsv.gz (UserID, MovieID, seq) is ordered by seq."""
    ordered = sorted(ml_rows, key=lambda r: (r[0], r[3]))
    seq_rows, position = [], {}
    for user, item, _, _ in ordered:
        seq_rows.append((user, item, position.setdefault(user, 0)))
        position[user] += 1
    shuffled = [seq_rows[k] for k in np.random.default_rng(1).permutation(len(seq_rows))]
    folder = tmp_path / "data" / "ml-1m-interactions"
    write_table(folder / "interactions.tsv.gz", shuffled, "\t", ["UserID", "MovieID", "seq"])
    (folder / "movies.dat").write_bytes(movies_dat())

    with pytest.warns(UserWarning, match=r"ml-1m: no ml-1m/ratings.dat or ml-1m.zip in .*; using"):
        dataset = movielens_1m(tmp_path / "data")
    assert dataset.name == "ml-1m"
    last_seq = {str(u): str(i) for u, i, _ in sorted(seq_rows, key=lambda r: (r[0], r[2]))}
    assert held_out_labels(dataset) == last_seq
    assert held_out_label(dataset, 100) == "1"
    assert dataset.title(index_of(dataset.item_labels, 1)) == "Amélie (2001)"
    assert_no_leakage(dataset)


def test_movielens_1m_names_the_bad_line_of_ratings_dat(tmp_path, ml_rows, no_download):
    """A malformed ratings.dat inside the zip: DataError naming ratings.dat and its line."""
    bad = ratings_dat(ml_rows[:4]) + b"7::8::x::100\n" + ratings_dat(ml_rows[4:])
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "ml-1m.zip").write_bytes(
        zip_bytes({"ml-1m/ratings.dat": bad, "ml-1m/movies.dat": movies_dat()})
    )
    with pytest.raises(DataError, match=r"ratings\.dat: line 5: field 3 is not a number: 'x'"):
        movielens_1m(data_dir)


def test_movielens_1m_names_the_bad_line_of_movies_dat(tmp_path, ml_rows, no_download):
    folder = tmp_path / "data" / "ml-1m"
    folder.mkdir(parents=True)
    (folder / "ratings.dat").write_bytes(ratings_dat(ml_rows))
    (folder / "movies.dat").write_bytes(movies_dat() + b"oops\n")
    with pytest.raises(DataError, match=r"movies\.dat: line 4: expected MovieID::Title::Genres"):
        movielens_1m(tmp_path / "data")


# --- The NCF split ------------------------------------------------------------------------


def test_movielens_1m_ncf_reads_the_split_as_given(ncf_split, no_download):
    """Users, items, training pairs, test items and negatives exactly as in the files."""
    dataset = movielens_1m_ncf(ncf_split.data_dir)
    assert dataset.name == "ml-1m-ncf"
    assert dataset.num_users == ncf_split.num_users
    assert dataset.num_items == ncf_split.num_items  # the largest id is only a negative
    for user in range(ncf_split.num_users):
        assert sorted(dataset.history(user).tolist()) == sorted(ncf_split.train[user])
        assert dataset.test_items[user] == ncf_split.test[user]
        assert dataset.test_negatives[user].tolist() == ncf_split.negatives[user]
    assert dataset.test_items[0] in dataset.test_negatives[0]
    assert_no_leakage(dataset, negatives_may_hold_test_item=True)


def test_movielens_1m_ncf_titles_come_from_item_map_and_movies(ncf_split, no_download):
    """item_map.tsv maps NCF items to MovieIDs; movies.dat (latin-1) gives the titles."""
    dataset = movielens_1m_ncf(ncf_split.data_dir)
    assert dataset.title(0) == "Amélie (2001)"
    assert dataset.title(1) == "Toy Story (1995)"
    assert dataset.title(2) == "Café au lait (1993)"
    assert dataset.title(50) == "item 50"


def test_movielens_1m_ncf_without_titles(tmp_path, no_download):
    """Without item_map.tsv or ml-1m.zip, and offline, items show their ids, with a warning."""
    split = NcfSplit(tmp_path / "data").write(titles=False)
    with pytest.warns(UserWarning, match="items show their ids, not titles"):
        dataset = movielens_1m_ncf(split.data_dir)
    assert dataset.item_titles is None
    assert dataset.title(7) == "item 7"


def with_row(rows: list, index: int, row: tuple) -> list:
    """`rows` with rows[index] replaced by `row`."""
    return [*rows[:index], row, *rows[index + 1 :]]


# Each rule of the NCF files: (file, how to break it, the error it must give).
NCF_RULES = {
    "test rows one per user, in order": (
        "test",
        lambda rows: [rows[0], rows[2], rows[1], *rows[3:]],
        r"test\.rating: line 2: expected user 1, saw 2",
    ),
    "negative pairs match the test rows": (
        "negative",
        lambda rows: with_row(rows, 3, ("(3,128)", *rows[3][1:])),
        r"test\.negative: its \(user,item\) pairs differ",
    ),
    "negative rows start with a pair": (
        "negative",
        lambda rows: with_row(rows, 2, ("2;5", *rows[2][1:])),
        r"test\.negative: line 3: expected '\(user,item\)' first",
    ),
    "negative rows hold 99 negatives": (
        "negative",
        lambda rows: with_row(rows, 4, rows[4][:-1]),
        r"test\.negative: line 5: expected 100 non-empty fields, saw 99",
    ),
    "train pairs are not repeated": (
        "train",
        lambda rows: [*rows, rows[0]],
        r"train\.rating: contains duplicate",
    ),
    "train users have a test row": (
        "train",
        lambda rows: [*rows[:2], (6, 3, 1, 0), *rows[2:]],
        r"train\.rating: line 3: user 6 has no test row",
    ),
    "train rows have 4 fields, the first one too": (
        "train",
        lambda rows: with_row(rows, 0, rows[0][:3]),
        r"train\.rating: line 1: expected 4 fields, saw 3",
    ),
    "test rows have 4 fields, not more": (
        "test",
        lambda rows: with_row(rows, 2, (*rows[2], 7)),
        r"test\.rating: line 3: expected 4 fields, saw 5",
    ),
    "train ids are integers": (
        "train",
        lambda rows: with_row(rows, 1, (rows[1][0], "x7", 1, 0)),
        r"train\.rating: line 2: field 2 is not a number",
    ),
}


@pytest.mark.parametrize("key, corrupt, message", NCF_RULES.values(), ids=NCF_RULES)
def test_ncf_files_that_break_a_rule_are_rejected(ncf_split, no_download, key, corrupt, message):
    rows = {
        "test": ncf_split.test_rows,
        "negative": ncf_split.negative_rows,
        "train": ncf_split.train_rows,
    }[key]()
    write_table(ncf_split.paths[key], corrupt(rows), sep="\t")
    with pytest.raises(DataError, match=message):
        movielens_1m_ncf(ncf_split.data_dir)


def test_ncf_missing_file_is_downloaded_and_failure_named(ncf_split, no_download):
    """A missing split file is fetched; when that fails the DataError names the URL."""
    ncf_split.paths["negative"].unlink()
    with pytest.raises(DataError, match=r"could not download http://127\.0\.0\.1:\d+/ml-1m\.test"):
        movielens_1m_ncf(ncf_split.data_dir)
    assert not ncf_split.paths["negative"].exists()
    assert not [p for p in listing(ncf_split.folder) if p.startswith(".")]


def test_a_header_only_file_is_not_called_empty(tmp_path):
    path = write_table(tmp_path / "header.csv", [], ",", ["user", "item", "rating"])
    with pytest.raises(DataError, match=r"header.csv: the file has a header line but no data rows"):
        from_file(path)


def test_a_truncated_gzip_is_one_error_naming_the_file(tmp_path):
    """A .gz cut short: a DataError naming the file, not an EOFError traceback."""
    full = write_table(tmp_path / "full.csv.gz", background_rows(), ",")
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(full.read_bytes()[: len(full.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"cut.csv.gz: a truncated or corrupt gzip file"):
        from_file(cut)
