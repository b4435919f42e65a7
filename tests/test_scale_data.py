"""Data at ML-20M scale, in small: GroupLens ml-20m/25m/32m zips, the synthetic generator
and its `synthetic:` forms, `--test-negatives`, and the fast leave-one-out against a
plain-Python reference. Every file is built here; nothing is downloaded."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

import numpy as np
import pytest
from helpers import assert_no_leakage, held_out_label, listing, md5_of, train_labels, zip_bytes

from ncf_keras import checks
from ncf_keras.data import grouplens, synthetic_logs
from ncf_keras.data.dataset import leave_one_out, validation_split
from ncf_keras.data.sources import load_dataset, synthetic_sizes
from ncf_keras.errors import ArgumentError, DataError

# (userId, movieId, rating, timestamp): user 1's latest is movie 3; user 2 has a tie at
# its latest time (the later line, movie 1, wins); user 3 has one rating and is dropped.
RATINGS = [
    (1, 1, 4.0, 100),
    (1, 3, 3.5, 300),
    (1, 2, 5.0, 200),
    (2, 2, 1.0, 50),
    (2, 3, 2.5, 70),
    (2, 1, 4.5, 70),
    (3, 1, 4.0, 10),
]
TITLES = {1: "Amélie (2001)", 2: "Toy Story, Part 2 (1999)", 3: 'The "Café" (1993)'}
# Movies 100..399 rated by users 4 (even) and 5 (odd), in time order: every user still
# has more than 99 movies it never rated.
EXTRA_MOVIES = range(100, 400)


def ratings_csv(rows=RATINGS) -> bytes:
    lines = ["userId,movieId,rating,timestamp"] + [f"{u},{i},{r},{t}" for u, i, r, t in rows]
    lines += [f"{4 + movie % 2},{movie},3.0,{1000 + movie}" for movie in EXTRA_MOVIES]
    return ("\n".join(lines) + "\n").encode()


def movies_csv() -> bytes:
    def quoted(title: str) -> str:
        return '"' + title.replace('"', '""') + '"'

    genres = ["Comedy|Romance", "(no genres listed)"]
    lines = ["movieId,title,genres"] + [
        f"{m},{quoted(t)},{genres[m % 2]}" for m, t in TITLES.items()
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def grouplens_zip(name: str = "ml-20m") -> bytes:
    return zip_bytes(
        {
            f"{name}/ratings.csv": ratings_csv(),
            f"{name}/movies.csv": movies_csv(),
            f"{name}/README.txt": b"test archive\n",
        }
    )


@pytest.fixture(autouse=True)
def _no_grouplens_downloads(monkeypatch, closed_port_url):
    """The ml-20m/25m/32m URLs point at a closed port unless a test publishes the file."""
    for name, remote in list(grouplens.CSV_ZIPS.items()):
        monkeypatch.setitem(grouplens.CSV_ZIPS, name, replace(remote, url=closed_port_url))


# --- GroupLens ml-20m, ml-25m, ml-32m ----------------------------------------------


def check_small_grouplens(dataset, name: str) -> None:
    assert dataset.name == name
    assert [str(u) for u in dataset.user_labels] == ["1", "2", "4", "5"]
    assert held_out_label(dataset, 1) == "3"
    assert train_labels(dataset, 1) == {"1", "2"}
    assert held_out_label(dataset, 2) == "1"  # a tie at time 70: the later line wins
    assert train_labels(dataset, 2) == {"2", "3"}
    assert held_out_label(dataset, 4) == "398"
    assert held_out_label(dataset, 5) == "399"
    item = int(np.flatnonzero(dataset.item_labels.astype(str) == "3")[0])
    assert dataset.title(item) == 'The "Café" (1993)'
    item = int(np.flatnonzero(dataset.item_labels.astype(str) == "2")[0])
    assert dataset.title(item) == "Toy Story, Part 2 (1999)"
    assert dataset.genres(item) == ("Comedy", "Romance")
    item = int(np.flatnonzero(dataset.item_labels.astype(str) == "3")[0])
    assert dataset.genres(item) == ()  # "(no genres listed)"
    assert dataset.title(0) == "Amélie (2001)"
    assert_no_leakage(dataset)


@pytest.mark.parametrize("name", ["ml-20m", "ml-25m", "ml-32m"])
def test_grouplens_csv_zip_in_the_data_folder(tmp_path, name):
    (tmp_path / f"{name}.zip").write_bytes(grouplens_zip(name))
    with pytest.warns(UserWarning, match="dropped 1 users with fewer than 2"):
        dataset = load_dataset(name, tmp_path, seed=0)
    check_small_grouplens(dataset, name)
    assert (tmp_path / name / "ratings.csv").is_file()


def test_ml_20m_extracted_folder_is_used_without_a_zip(tmp_path):
    folder = tmp_path / "ml-20m"
    folder.mkdir()
    (folder / "ratings.csv").write_bytes(ratings_csv())
    (folder / "movies.csv").write_bytes(movies_csv())
    with pytest.warns(UserWarning, match="dropped 1 users"):
        check_small_grouplens(load_dataset("ml-20m", tmp_path), "ml-20m")


def test_ml_20m_is_downloaded_and_md5_verified(tmp_path, monkeypatch, file_server):
    data = grouplens_zip()
    url = file_server.publish("ml-20m.zip", data)
    remote = replace(grouplens.CSV_ZIPS["ml-20m"], url=url, md5=md5_of(data))
    monkeypatch.setitem(grouplens.CSV_ZIPS, "ml-20m", remote)
    with pytest.warns(UserWarning, match="dropped 1 users"):
        check_small_grouplens(load_dataset("ml-20m", tmp_path / "data"), "ml-20m")
    assert (tmp_path / "data" / "ml-20m.zip").read_bytes() == data


def test_ml_20m_download_with_another_md5_is_refused_and_not_kept(
    tmp_path, monkeypatch, file_server
):
    url = file_server.publish("ml-20m.zip", grouplens_zip())
    monkeypatch.setitem(
        grouplens.CSV_ZIPS, "ml-20m", replace(grouplens.CSV_ZIPS["ml-20m"], url=url)
    )
    with pytest.raises(DataError, match="md5 mismatch") as error:
        load_dataset("ml-20m", tmp_path / "data")
    assert "cd245b17a1ae2cc31bb14903e1204af3" in str(error.value)
    assert not (tmp_path / "data").exists() or listing(tmp_path / "data") == []


def test_ml_20m_offline_is_one_line_naming_zip_folder_and_readme(tmp_path):
    with pytest.raises(DataError) as error:
        load_dataset("ml-20m", tmp_path)
    message = str(error.value)
    assert "\n" not in message
    for part in ("ml-20m:", str(tmp_path.resolve()), "ml-20m.zip", "ml-20m/ratings.csv"):
        assert part in message
    assert "data/README.md" in message


def test_grouplens_csv_urls_and_md5s():
    assert grouplens.CSV_ZIPS["ml-20m"].md5 == "cd245b17a1ae2cc31bb14903e1204af3"
    assert grouplens.CSV_ZIPS["ml-25m"].md5 == "6b51fb2759a8657d3bfcbfc42b592ada"
    assert grouplens.CSV_ZIPS["ml-32m"].md5 == "d472be332d4daa821edc399621853b57"


def test_a_ratings_csv_without_its_header_names_the_file(tmp_path):
    folder = tmp_path / "ml-20m"
    folder.mkdir()
    (folder / "ratings.csv").write_text("1,2,3.0,4\n1,3,3.0,5\n")
    with pytest.raises(DataError, match=r"ratings\.csv: cannot parse .*userId,movieId"):
        load_dataset("ml-20m", tmp_path)


# --- the synthetic generator ------------------------------------------------------


def test_generator_log_has_the_sizes_and_shape_asked_for():
    users, items, times = synthetic_logs.interaction_log(1_000, 5_000, 100_000, seed=4)
    assert len(users) == len(items) == len(times) == 100_000
    assert users.dtype == np.int32 and items.dtype == np.int32 and times.dtype == np.int64
    keys = users.astype(np.int64) * 10_000 + items
    assert np.all(np.diff(keys) > 0), "not sorted by (user, item), or a duplicate pair"
    counts = np.bincount(users)[1:]
    assert len(counts) == 1_000 and counts.min() >= synthetic_logs.MIN_PER_USER
    assert counts.max() <= 2_500  # at most half the items
    assert counts.max() > 10 * np.median(counts), "no heavy tail of users"
    popularity = np.sort(np.bincount(items, minlength=5_001)[1:])[::-1]
    assert popularity[0] > 10 * np.median(popularity), "no popular head of items"
    dense = counts > 5_000 // synthetic_logs._DENSE_FRACTION
    assert dense.any() and not dense.all(), "the dense or the sparse path went untested"


def test_generator_is_seeded():
    first = synthetic_logs.interaction_log(100, 300, 5_000, seed=1)
    again = synthetic_logs.interaction_log(100, 300, 5_000, seed=1)
    other = synthetic_logs.interaction_log(100, 300, 5_000, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[1], other[1])


def test_generator_sampling_without_replacement_follows_popularity():
    """Each user's picks are a weighted sample without repeats: the most popular items
    are in nearly every user's list, the least popular in few."""
    _, items, _ = synthetic_logs.interaction_log(2_000, 1_000, 80_000, seed=0)
    share = np.sort(np.bincount(items, minlength=1_001)[1:] / 2_000)
    assert share[-1] > 0.2 and share[-1] > 50 * share[0] and share[-1] > 5 * np.median(share)


@pytest.mark.parametrize(
    ("sizes", "match"),
    [
        ((10, 30, 200), "items=30 is too few"),
        ((10, 400, 100), "interactions=100 does not fit users=10"),
        ((10, 400, 10 * 201), "use interactions between 200 and 2,000"),
        ((0, 400, 100), "users=0 must be at least 1"),
    ],
)
def test_generator_refuses_sizes_it_cannot_draw(sizes, match):
    with pytest.raises(DataError, match=match):
        synthetic_logs.interaction_log(*sizes)


def test_synthetic_ml_20m_means_ml_20m_sizes():
    assert synthetic_sizes("synthetic:ml-20m") == {
        "users": 138_493,
        "items": 26_744,
        "interactions": 20_000_263,
        "min_per_user": 20,
        "seed": None,
    }
    assert synthetic_sizes("synthetic:users=5,seed=3") == {
        "users": 5,
        "items": 26_744,
        "interactions": 20_000_263,
        "min_per_user": 20,
        "seed": 3,
    }


def test_synthetic_spec_loads_a_split_log():
    dataset = load_dataset("synthetic:users=80,items=300,interactions=4000", seed=2)
    assert dataset.name == "synthetic:users=80,items=300,interactions=4000"
    assert dataset.num_users == 80 and dataset.num_items <= 300
    assert len(dataset.train_users) == 4000 - 80
    assert_no_leakage(dataset)
    again = load_dataset("synthetic:users=80,items=300,interactions=4000", seed=2)
    assert np.array_equal(dataset.test_negatives, again.test_negatives)
    fixed = load_dataset("synthetic:users=80,items=300,interactions=4000,seed=2", seed=5)
    assert fixed.fingerprint() == dataset.fingerprint()  # seed= fixes the log alone


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            "synthetic:user=10",
            "unknown key 'user'; accepted keys: users, items, interactions, min_per_user, seed",
        ),
        ("synthetic:ml-25m", "unknown key 'ml-25m'"),
        ("synthetic:users=ten", "users='ten' is not a whole number"),
        ("synthetic:items", "'items' has no value"),
        ("synthetic:users=-3", "users=-3 must not be negative"),
        ("synthetic:users=10,items=150,interactions=500", "too few for 99 test negatives"),
    ],
)
def test_a_bad_synthetic_spec_is_one_line(spec, match):
    with pytest.raises(DataError, match=match) as error:
        load_dataset(spec)
    assert "\n" not in str(error.value)


def test_a_synthetic_log_too_large_for_memory_is_refused_before_drawing(monkeypatch):
    monkeypatch.setattr(checks, "available_memory", lambda: 2**30)
    monkeypatch.setattr(synthetic_logs, "interaction_log", lambda *a: pytest.fail("drawn"))
    with pytest.raises(ArgumentError, match=r"dataset is too large: synthetic:ml-20m's") as e:
        load_dataset("synthetic:ml-20m")
    assert e.value.argument == "dataset"


# --- --test-negatives ------------------------------------------------------------------


def test_test_negatives_sets_how_many_items_are_drawn(tmp_path):
    dataset = load_dataset("synthetic:users=40,items=600,interactions=1600", test_negatives=250)
    assert dataset.test_negatives.shape == (40, 250)
    for user in range(40):
        row = dataset.test_negatives[user]
        assert len(set(row.tolist())) == 250
        assert not set(row.tolist()) & set(dataset.history(user).tolist())
        assert dataset.test_items[user] not in row
    assert validation_split(dataset).test_negatives.shape == (40, 250)
    assert load_dataset("synthetic", test_negatives=7).test_negatives.shape[1] == 7
    path = tmp_path / "log.csv"
    path.write_text("".join(f"{u},{12 * u + i}\n" for u in range(3) for i in range(12)))
    assert load_dataset(str(path), test_negatives=5).test_negatives.shape == (3, 5)


def test_test_negatives_more_than_unseen_items_names_the_user(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("".join(f"{u},{12 * u + i}\n" for u in range(3) for i in range(12)))
    with pytest.raises(DataError, match=r"has only 24 items .* the test protocol needs 30"):
        load_dataset(str(path), test_negatives=30)


def test_ml_1m_ncf_refuses_another_number_of_test_negatives(ncf_split):
    with pytest.raises(ArgumentError, match="must be 99 for ml-1m-ncf") as error:
        load_dataset("ml-1m-ncf", ncf_split.data_dir, test_negatives=999)
    assert error.value.argument == "test_negatives"


def test_test_negatives_must_be_positive():
    with pytest.raises(ArgumentError, match="test_negatives must be >= 1, got 0"):
        load_dataset("synthetic", test_negatives=0)


def test_cli_records_test_negatives_and_evaluate_rebuilds_them(tmp_path, capsys):
    from helpers import train_args

    from ncf_keras.cli import main as cli

    run = tmp_path / "run"
    spec = "synthetic:users=30,items=400,interactions=900"
    argv = train_args("gmf", run, "--epochs", "1", "--test-negatives", "150")
    argv[argv.index("synthetic")] = spec
    assert cli.main(argv) == 0
    config = json.loads((run / "metrics.json").read_text())["config"]
    assert config["test_negatives"] == 150
    _, dataset, _ = cli._load_run(run, None)
    assert dataset.test_negatives.shape == (30, 150)
    capsys.readouterr()
    assert cli.main(["train", "--model", "gmf", "--dataset", "synthetic:usrs=3", "--out",
                     str(tmp_path / "bad")]) == 2  # fmt: skip
    assert "unknown key 'usrs'" in capsys.readouterr().err


# --- leave_one_out against a plain-Python reference ---------------------------------


def reference_split(users, items, order):
    """Each rule of `dataset.leave_one_out`, spelled out row by row."""
    n = len(users)
    order = list(range(n)) if order is None else list(order)
    latest = {}  # (user, item) -> row of its latest occurrence
    for row in range(n):
        key = (users[row], items[row])
        if key not in latest or (order[row], row) >= (order[latest[key]], latest[key]):
            latest[key] = row
    kept = sorted(latest.values())
    per_user: dict = {}
    for row in kept:
        per_user.setdefault(users[row], []).append(row)
    kept = [row for row in kept if len(per_user[users[row]]) >= 2]
    user_ids = list(dict.fromkeys(users[row] for row in kept))
    item_ids = list(dict.fromkeys(items[row] for row in kept))
    test, train = {}, set()
    for user in user_ids:
        rows = [row for row in kept if users[row] == user]
        last = max(rows, key=lambda row: (order[row], row))
        test[user_ids.index(user)] = item_ids.index(items[last])
        train |= {(user_ids.index(user), item_ids.index(items[r])) for r in rows if r != last}
    return user_ids, item_ids, test, train


@pytest.mark.parametrize("trial", range(12))
def test_leave_one_out_matches_the_reference(trial):
    rng = np.random.default_rng(trial)
    n = int(rng.integers(20, 300))
    users = (rng.integers(0, 15, n) * 7 + 3).tolist()
    items = rng.integers(0, 160, n).tolist()
    order = [None, rng.integers(0, 6, n), rng.random(n)][trial % 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = leave_one_out("t", np.array(users), np.array(items), order, trial, None, 5)
    user_ids, item_ids, test, train = reference_split(users, items, order)
    assert dataset.user_labels.tolist() == user_ids
    assert dataset.item_labels.tolist() == item_ids
    assert dataset.test_items.tolist() == [test[u] for u in range(len(user_ids))]
    assert (
        set(zip(dataset.train_users.tolist(), dataset.train_items.tolist(), strict=True)) == train
    )
    assert dataset.test_negatives.shape == (len(user_ids), 5)
