"""Long-tailed logs at scale (issue 27, section 5): `synthetic:...,min_per_user=K`,
memory per user bounded by its interactions and its test negatives, evaluation in
chunks, and full ranking on a seeded sample of users. Small data throughout; the
3M-user timings are in benchmarks/scale.py."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from helpers import ScoreByItem, assert_no_leakage, error_line, hand_dataset, train_args

from ncf_keras import checks, metrics
from ncf_keras.cli.main import main
from ncf_keras.data import dataset as dataset_module
from ncf_keras.data import sampling, synthetic_logs
from ncf_keras.data.dataset import leave_one_out, validation_split
from ncf_keras.data.sampling import UnseenItems
from ncf_keras.data.sources import load_dataset, synthetic_sizes
from ncf_keras.errors import ArgumentError, DataError

LONG_TAIL = "synthetic:users=3000,items=70000,interactions=7000,min_per_user=2"


def content_sha256(data) -> str:
    """SHA-256 of the split's arrays as int32: training pairs, test items, test negatives."""
    digest = hashlib.sha256()
    for array in (data.train_users, data.train_items, data.test_items, data.test_negatives):
        digest.update(np.ascontiguousarray(array, np.int32).tobytes())
    return digest.hexdigest()


# --- the long-tail generator --------------------------------------------------------


def test_min_per_user_sets_the_fewest_interactions_and_most_users_sit_near_it():
    users, items, _ = synthetic_logs.interaction_log(5_000, 2_000, 12_000, seed=3, min_per_user=2)
    counts = np.bincount(users)[1:]
    assert len(counts) == 5_000 and counts.sum() == 12_000
    assert counts.min() == 2 and np.median(counts) == 2
    assert counts.max() > 10, "no tail of heavier users"
    keys = users.astype(np.int64) * 10_000 + items
    assert np.all(np.diff(keys) > 0), "not sorted by (user, item), or a duplicate pair"


def test_synthetic_spec_takes_min_per_user_and_loads_a_long_tailed_split():
    assert synthetic_sizes(LONG_TAIL)["min_per_user"] == 2
    assert synthetic_sizes("synthetic:ml-20m")["min_per_user"] == 20
    data = load_dataset(LONG_TAIL, seed=1)
    assert data.num_users == 3_000 and len(data.train_users) == 7_000 - 3_000
    assert np.bincount(data.train_users).min() == 1  # 2 interactions: 1 to train, 1 to test
    assert_no_leakage(data)


def test_default_min_per_user_keeps_todays_logs_bit_identical():
    """SHA-256s of the generator's log and split as they were before min_per_user existed."""
    spec = "synthetic:users=300,items=2000,interactions=40000"
    data = load_dataset(spec, seed=0)
    expected = "06eb861ee08ce6c65366aef5d08275083d97d05dbd733d6abd7e9746cd20727f"
    assert data.fingerprint()["sha256"] == expected
    expected = "d0a59908910ddf0dbc0d45a24761e129e6b550db70139bf6bcf7f1d5f4292f2e"
    assert content_sha256(data) == expected
    explicit = load_dataset(f"{spec},min_per_user=20", seed=0)
    assert content_sha256(explicit) == content_sha256(data)


@pytest.mark.parametrize(
    ("sizes", "match"),
    [
        ((10, 400, 100, 1), "min_per_user=1 is too few: leave-one-out needs 2"),
        ((10, 400, 10, 2), "does not fit users=10 x 2 to 200 items each; use .* between 20 and"),
        ((10, 6, 30, 4), "items=6 is too few: each user has at least 4 items"),
    ],
)
def test_min_per_user_outside_what_can_be_drawn_is_one_line(sizes, match):
    with pytest.raises(DataError, match=match) as error:
        synthetic_logs.interaction_log(*sizes[:3], min_per_user=sizes[3])
    assert "\n" not in str(error.value)


def test_memory_check_counts_each_user_and_its_test_negatives(monkeypatch):
    """3M users with 2 interactions each: 6M x 150 bytes fits in 1 GiB, the users'
    test negatives (3M x 99 int32) do not."""
    monkeypatch.setattr(checks, "available_memory", lambda: 2**30)
    monkeypatch.setattr(synthetic_logs, "interaction_log", lambda *a: pytest.fail("drawn"))
    spec = "synthetic:users=3000000,items=200000,interactions=6000000,min_per_user=2"
    with pytest.raises(ArgumentError, match=r"too large: .*6,000,000 interactions of 3,000,000"):
        load_dataset(spec)


# --- memory per user -------------------------------------------------------------------


def test_test_negatives_are_held_in_the_smallest_item_dtype():
    small = load_dataset("synthetic:users=200,items=3000,interactions=5000,min_per_user=3")
    assert small.test_negatives.dtype == np.uint16
    assert validation_split(small).test_negatives.dtype == np.uint16
    wide = leave_one_out("wide", np.arange(70_000) // 100, np.arange(70_000), None, seed=0)
    assert wide.num_items == 70_000 and wide.test_negatives.dtype == np.int32


def test_split_memory_is_its_test_negatives_plus_a_little_per_interaction(monkeypatch):
    """Peak traced memory of leave_one_out on 2 interactions per user: the negatives it
    keeps (int32 here) plus at most 150 bytes per interaction. The dense checks and
    draws of 3M x 99 int64 it replaced took some 3,300 bytes per user beyond them."""
    monkeypatch.setattr(sampling, "CHUNK", 1 << 14)  # small blocks, as at scale
    monkeypatch.setattr(dataset_module, "CHUNK", 1 << 14)
    num_users, num_items = 100_000, 100_000
    users = np.repeat(np.arange(num_users), 2)
    items = (np.arange(2 * num_users) * 7_919) % num_items
    tracemalloc.start()
    try:
        data = leave_one_out("long tail", users, items, None, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data.test_negatives.nbytes == num_users * 99 * 4
    assert peak <= data.test_negatives.nbytes + 150 * len(users)


def test_leak_checks_find_the_leaking_user_across_blocks(monkeypatch):
    """The checks look at rows in blocks: a leak in a later block is still found."""
    monkeypatch.setattr(dataset_module, "CHUNK", 10)
    data = load_dataset("synthetic:users=60,items=400,interactions=1500,min_per_user=2", seed=0)
    negatives = data.test_negatives.copy()
    negatives[47, 3] = data.history(47)[0]
    with pytest.raises(DataError, match="a test negative of user 47 is in its training data"):
        replace(data, test_negatives=negatives)
    test_items = data.test_items.copy()
    test_items[53] = data.history(53)[-1]
    with pytest.raises(DataError, match=rf"test item {test_items[53]} of user 53 is also"):
        replace(data, test_items=test_items)


def test_negatives_drawn_in_blocks_are_those_of_one_piece(monkeypatch):
    data = load_dataset("synthetic:users=80,items=300,interactions=2000,min_per_user=2")
    unseen = UnseenItems(data.train_users, data.train_items, data.num_users, data.num_items)
    users = np.arange(data.num_users)
    whole = unseen.sample_distinct(users, 99, np.random.default_rng(5))
    monkeypatch.setattr(sampling, "CHUNK", 99 * 7)  # 7 rows a block
    assert np.array_equal(unseen.sample_distinct(users, 99, np.random.default_rng(5)), whole)
    assert all(len(set(row)) == 99 for row in whole.tolist())


def test_users_with_few_items_draw_exactly_as_by_binary_search(monkeypatch):
    """Users with at most FEW_SEEN seen items skip the binary search: the same draws."""
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 20, 400)  # some with few seen items, some with many
    users = np.repeat(np.arange(400), counts)
    items = np.concatenate([rng.choice(50, c, replace=False) for c in counts])
    unseen = UnseenItems(users, items, 400, 50)
    queries = rng.permutation(np.repeat(np.arange(400), 9))
    fast = unseen.sample(queries, np.random.default_rng(1))
    monkeypatch.setattr(sampling, "FEW_SEEN", -1)
    assert np.array_equal(unseen.sample(queries, np.random.default_rng(1)), fast)
    seen = set(zip(users.tolist(), items.tolist(), strict=True))
    assert not seen & set(zip(queries.tolist(), fast.tolist(), strict=True))


# --- evaluation in chunks, full ranking on a sample ----------------------------------


class RecordingScore(ScoreByItem):
    """Scores an item by its id and records how many pairs each call scored."""

    def __init__(self):
        self.calls: list[int] = []

    def predict(self, x: dict, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        self.calls.append(len(x["item"]))
        return super().predict(x, batch_size, verbose)


@pytest.fixture
def hand() -> object:
    """Five users, 12 items; user u's test item is 6 + u % 3, negatives include it for user 0."""
    train = {u: [u % 4, 11 - u % 2] for u in range(5)}
    test = {u: 6 + u % 3 for u in range(5)}
    negatives = {u: [9, 3, 6, 1, 5] if u == 0 else [4, 5, 9, 8, 7] for u in range(5)}
    return hand_dataset(train, test, negatives, num_items=12)


def test_sampled_ranks_in_chunks_are_those_of_one_pass(hand):
    small = RecordingScore()
    chunked = metrics.sampled_ranks(small, hand, rows_per_pass=12)  # 2 users of 6 pairs a call
    assert max(small.calls) <= 12 and len(small.calls) == 3
    np.testing.assert_array_equal(chunked, metrics.sampled_ranks(ScoreByItem(), hand))


def test_full_ranks_in_chunks_are_those_of_one_pass_and_bounded(hand):
    small = RecordingScore()
    chunked = metrics.full_ranks(small, hand, rows_per_pass=30)  # 2 users of 12 items a call
    assert max(small.calls) <= 30 and len(small.calls) == 3
    np.testing.assert_array_equal(chunked, metrics.full_ranks(ScoreByItem(), hand))


def test_sample_users_is_seeded_distinct_and_sorted(hand):
    first = metrics.sample_users(hand, 3, seed=4)
    assert len(set(first.tolist())) == 3 and np.all(np.diff(first) > 0)
    assert np.array_equal(first, metrics.sample_users(hand, 3, seed=4))
    draws = {tuple(metrics.sample_users(hand, 3, seed=s).tolist()) for s in range(8)}
    assert len(draws) > 1, "the seed changes nothing"
    assert metrics.sample_users(hand, 5) is None and metrics.sample_users(hand, None) is None
    with pytest.raises(ArgumentError, match="sample_users must be >= 1, got 0"):
        metrics.sample_users(hand, 0)


@pytest.mark.parametrize("full_ranking", [False, True])
def test_evaluate_on_a_user_sample_averages_over_those_users(hand, full_ranking):
    users = np.array([1, 3, 4])
    ranks = (metrics.full_ranks if full_ranking else metrics.sampled_ranks)(ScoreByItem(), hand)
    result = metrics.evaluate(ScoreByItem(), hand, 3, full_ranking, users=users)
    expected = {"hr@3": metrics.hit_rate(ranks[users], 3), "ndcg@3": metrics.ndcg(ranks[users], 3)}
    assert result == pytest.approx(expected)
    scored = RecordingScore()
    metrics.evaluate(scored, hand, full_ranking=True, users=users)
    assert sum(scored.calls) == len(users) * hand.num_items  # only the sample is scored


def test_cli_evaluate_full_ranking_on_a_seeded_user_sample(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args("gmf", run)) == 0
    capsys.readouterr()
    command = ["evaluate", "--run", str(run), "--full-ranking", "--sample-users", "40"]
    assert main(command) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["protocol"] == "full ranking"
    assert first["users"] == 40 and first["of_users"] > 40 and first["sample_seed"] == 0
    assert main(command) == 0
    assert json.loads(capsys.readouterr().out) == first  # the same users, the same numbers
    assert main(["evaluate", "--run", str(run), "--sample-users", "0"]) == 2
    assert error_line(capsys) == "error: --sample-users must be >= 1, got 0"
