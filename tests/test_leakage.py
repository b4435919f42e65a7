"""No leakage, on every loader: a test item is never a training item of its user, test
negatives never come from the user's history (nor, for the log-based loaders, equal
the test item), and each user gets 99 distinct negatives. Dataset itself refuses a
leaking split, and the validation hold-out keeps the real test items out of its
negatives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import (
    NcfSplit,
    assert_no_leakage,
    hand_dataset,
    ml1m_zip,
    write_table,
)

from ncf_keras.data.dataset import validation_split
from ncf_keras.data.grouplens import movielens_1m
from ncf_keras.data.paper_split import movielens_1m_ncf
from ncf_keras.data.sources import (
    from_file,
    load_dataset,
    synthetic,
)
from ncf_keras.errors import DataError


def messy_log(seed: int) -> list[tuple[int, int, int, int]]:
    """A random log with repeated (user, item) pairs and many tied timestamps."""
    rng = np.random.default_rng(seed)
    n = 900
    users = rng.integers(1, 31, n)
    items = rng.integers(1, 161, n)
    stamps = rng.integers(0, 40, n)  # few distinct times: ties everywhere
    ratings = rng.integers(1, 6, n)
    return list(zip(users.tolist(), items.tolist(), ratings.tolist(), stamps.tolist(), strict=True))


def seq_log(rows) -> list[tuple[int, int, int]]:
    """(UserID, MovieID, seq) rows with each user's history numbered in time order."""
    position: dict[int, int] = {}
    out = []
    for user, item, _, _ in sorted(rows, key=lambda r: (r[0], r[3])):
        out.append((user, item, position.setdefault(user, 0)))
        position[user] += 1
    return out


def distinct_pairs(rows):
    seen, out = set(), []
    for row in rows:
        if row[:2] not in seen:
            seen.add(row[:2])
            out.append(row)
    return out


def load_synthetic(tmp_path, rows):
    return synthetic(num_users=200, num_items=160, interactions_per_user=15, seed=1)


def load_from_file(tmp_path, rows):
    with pytest.warns(UserWarning, match="collapsed"):
        return from_file(write_table(tmp_path / "log.csv", rows, header=["u", "item", "r", "t"]))


def load_from_gz_without_time(tmp_path, rows):
    with pytest.warns(UserWarning, match="collapsed"):
        return load_dataset(str(write_table(tmp_path / "log.tsv.gz", [r[:2] for r in rows], "\t")))


def load_ml1m_zip(tmp_path, rows):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "ml-1m.zip").write_bytes(ml1m_zip(distinct_pairs(rows)))
    return movielens_1m(data_dir)


def load_ml1m_interactions(tmp_path, rows):
    path = tmp_path / "data" / "ml-1m-interactions" / "interactions.tsv.gz"
    write_table(path, seq_log(distinct_pairs(rows)), "\t", ["UserID", "MovieID", "seq"])
    return movielens_1m(tmp_path / "data")


LOG_LOADERS = {
    "synthetic": load_synthetic,
    "from_file": load_from_file,
    "from_file-gz-no-time": load_from_gz_without_time,
    "movielens_1m-zip": load_ml1m_zip,
    "movielens_1m-interactions": load_ml1m_interactions,
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("loader", list(LOG_LOADERS), ids=list(LOG_LOADERS))
def test_log_based_loaders_do_not_leak(tmp_path, loader, seed):
    """Log-based splits: no test item or negative in train, negatives exclude the test item."""
    dataset = LOG_LOADERS[loader](tmp_path, messy_log(seed))
    assert dataset.num_users > 0
    assert_no_leakage(dataset, negatives_may_hold_test_item=False)


def test_ncf_loader_does_not_leak(tmp_path):
    """The NCF split as given: negatives may hold the test item (its known quirk), never train."""
    split = NcfSplit(tmp_path / "data", num_users=12, num_items=140, seed=9).write()
    assert_no_leakage(movielens_1m_ncf(split.data_dir), negatives_may_hold_test_item=True)


def test_dataset_refuses_a_test_item_in_train():
    """A split whose test item is also a training item of that user is a DataError."""
    negatives = {0: [5, 6, 7], 1: [5, 6, 7]}
    with pytest.raises(DataError, match=r"hand: test item 2 of user 1 is also in its training"):
        hand_dataset({0: [1, 2], 1: [0, 2]}, {0: 3, 1: 2}, negatives, num_items=8)


def test_dataset_refuses_a_test_negative_in_train():
    """A split whose test negative is a training item of that user is a DataError."""
    negatives = {0: [5, 6, 7], 1: [5, 0, 7]}
    with pytest.raises(DataError, match=r"hand: a test negative of user 1 is in its training"):
        hand_dataset({0: [1, 2], 1: [0, 2]}, {0: 3, 1: 4}, negatives, num_items=8)


def test_dataset_refuses_a_test_item_count_that_is_not_one_per_user():
    """Every user needs exactly one test item."""
    dataset = hand_dataset({0: [1], 1: [2]}, {0: 3, 1: 4}, {0: [5], 1: [5]}, num_items=8)
    with pytest.raises(DataError, match=r"hand: 1 test items for 2 users"):
        dataclasses.replace(dataset, test_items=dataset.test_items[:1])


@pytest.mark.parametrize("seed", [0, 1])
def test_validation_split_never_uses_the_test_item(seed):
    """One training item per user is held out; its negatives exclude train *and* test items.

    With 160 items and 16 interactions per user, 99 negatives drawn from the
    144 items outside training would hold the real test item for most users.
    """
    data = synthetic(num_users=50, num_items=160, interactions_per_user=16, seed=seed)
    validation = validation_split(data, seed)
    assert_no_leakage(validation, negatives_may_hold_test_item=False)
    for user in range(data.num_users):
        history = set(data.history(user).tolist())
        held = int(validation.test_items[user])
        assert held in history
        assert set(validation.history(user).tolist()) == history - {held}
        negatives = set(validation.test_negatives[user].tolist())
        assert not negatives & history
        assert int(data.test_items[user]) not in negatives, f"user {user}: test item used"


def test_validation_split_is_seeded():
    """The same seed gives the same hold-out and negatives; another seed does not."""
    data = synthetic(num_users=50, num_items=160, interactions_per_user=16, seed=0)
    first, again, other = (validation_split(data, s) for s in (3, 3, 4))
    for field in ("train_items", "test_items", "test_negatives"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert not np.array_equal(first.test_items, other.test_items)


def test_validation_split_needs_two_training_items():
    """A user with one training item cannot give one up: a DataError naming the user."""
    data = hand_dataset({0: [1, 2], 1: [0]}, {0: 3, 1: 4}, {0: [5], 1: [5]}, num_items=8)
    with pytest.raises(DataError, match=r"hand: user 1 has 1 training items; a validation"):
        validation_split(data)
