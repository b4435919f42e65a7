"""Uniform negative sampling: UnseenItems and training_instances."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from ncf_keras.data import sampling
from ncf_keras.data.sampling import STREAMS, UnseenItems, random_stream, training_instances
from ncf_keras.errors import DataError

NUM_USERS, NUM_ITEMS = 5, 40


def seen_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Seen (user, item) pairs in scrambled order: user 0 has seen 0..29, user 1 the
    even items, user 2 only the last item, user 3 nothing, user 4 items 5..9."""
    seen = {0: range(30), 1: range(0, NUM_ITEMS, 2), 2: [NUM_ITEMS - 1], 3: [], 4: range(5, 10)}
    pairs = [(u, i) for u, items in seen.items() for i in items]
    order = np.random.default_rng(0).permutation(len(pairs))
    users = np.array([pairs[k][0] for k in order])
    items = np.array([pairs[k][1] for k in order])
    return users, items


@pytest.fixture
def sampler() -> UnseenItems:
    users, items = seen_pairs()
    return UnseenItems(users, items, NUM_USERS, NUM_ITEMS)


def unseen_sets() -> dict[int, set[int]]:
    users, items = seen_pairs()
    return {u: set(range(NUM_ITEMS)) - set(items[users == u].tolist()) for u in range(NUM_USERS)}


def test_sample_never_returns_a_seen_item(sampler):
    """Every draw is an unseen item of its own user, and every unseen item is reachable."""
    users = np.repeat(np.arange(NUM_USERS), 2000)
    drawn = sampler.sample(users, np.random.default_rng(1))
    assert drawn.shape == users.shape
    assert drawn.dtype == np.int32
    unseen = unseen_sets()
    for user in range(NUM_USERS):
        assert set(drawn[users == user].tolist()) == unseen[user]


def test_num_unseen_counts_items_left(sampler):
    """num_unseen is num_items minus the number of items each user has seen."""
    np.testing.assert_array_equal(sampler.num_unseen, [10, 20, 39, 40, 35])


def test_sample_is_reproducible_with_a_seed(sampler):
    """The same seed gives the same draws; another seed gives different ones."""
    users = np.repeat(np.arange(NUM_USERS), 50)
    first = sampler.sample(users, np.random.default_rng(7))
    again = sampler.sample(users, np.random.default_rng(7))
    other = sampler.sample(users, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_sample_is_roughly_uniform(sampler):
    """Draws spread evenly over a user's unseen items (chi-square, loose bound, fixed seed)."""
    draws_per_item = 1000
    for user, unseen in unseen_sets().items():
        n = draws_per_item * len(unseen)
        drawn = sampler.sample(np.full(n, user), np.random.default_rng(user))
        counts = np.bincount(drawn, minlength=NUM_ITEMS)[sorted(unseen)]
        chi2 = float(((counts - draws_per_item) ** 2 / draws_per_item).sum())
        dof = len(unseen) - 1
        # Mean dof, sd sqrt(2 dof): dof + 6 sd + 10 is far beyond chance but catches bias.
        assert chi2 < dof + 6 * np.sqrt(2 * dof) + 10, f"user {user}: chi2 {chi2:.1f}"


def test_sample_refuses_a_user_who_has_seen_everything():
    """No negative exists for a user with every item: DataError naming the user."""
    sampler = UnseenItems(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 2]), 2, 3)
    assert sampler.sample(np.array([0, 0]), np.random.default_rng(0)).tolist() != []
    with pytest.raises(DataError, match=r"user 1 has interacted with all 3 items"):
        sampler.sample(np.array([0, 1]), np.random.default_rng(0))


def test_sample_distinct_gives_distinct_unseen_items_per_row(sampler):
    """Each row holds n distinct items, all unseen by that row's user."""
    users = np.array([0, 0, 1, 2, 3, 4, 4, 0])
    drawn = sampler.sample_distinct(users, 10, np.random.default_rng(2))
    assert drawn.shape == (len(users), 10)
    assert drawn.dtype == np.int32
    unseen = unseen_sets()
    for row, user in zip(drawn, users, strict=True):
        assert len(set(row.tolist())) == 10
        assert set(row.tolist()) <= unseen[user]


def test_sample_distinct_takes_every_unseen_item_when_n_equals_their_count(sampler):
    """With n = the number of unseen items, each row is a permutation of all of them."""
    drawn = sampler.sample_distinct(np.array([0, 0, 0]), 10, np.random.default_rng(3))
    for row in drawn:
        assert sorted(row.tolist()) == list(range(30, 40))


def test_sample_distinct_is_reproducible_with_a_seed(sampler):
    """The same seed gives the same rows; another seed gives different rows."""
    users = np.arange(NUM_USERS)
    first = sampler.sample_distinct(users, 8, np.random.default_rng(11))
    again = sampler.sample_distinct(users, 8, np.random.default_rng(11))
    other = sampler.sample_distinct(users, 8, np.random.default_rng(12))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_sample_distinct_is_roughly_uniform(sampler):
    """Each unseen item is in a row with probability n / unseen (loose bound, fixed seed)."""
    rows, n = 4000, 5
    drawn = sampler.sample_distinct(np.full(rows, 1), n, np.random.default_rng(4))
    counts = np.bincount(drawn.ravel(), minlength=NUM_ITEMS)[1::2]  # user 1's unseen: odd items
    expected = rows * n / 20
    assert np.all(np.abs(counts - expected) < 0.15 * expected), counts


def test_sample_distinct_refuses_a_user_with_too_few_unseen_items(sampler):
    """Asking for more distinct items than a user has left is a DataError naming the user."""
    with pytest.raises(DataError, match=r"user 0 has only 10 unseen items; cannot draw 11"):
        sampler.sample_distinct(np.array([3, 0]), 11, np.random.default_rng(0))


# --- training_instances -------------------------------------------------------------


@pytest.fixture
def positives() -> tuple[np.ndarray, np.ndarray]:
    users, items = seen_pairs()
    keep = users != 3  # user 3 has no positives to train on
    return users[keep], items[keep]


def test_training_instances_shapes_and_labels(sampler, positives):
    """n positives and n * negatives sampled rows, with exactly n labels of 1."""
    users, items = positives
    n, negatives = len(users), 4
    out_users, out_items, labels = training_instances(
        users, items, sampler, negatives, np.random.default_rng(0)
    )
    for array in (out_users, out_items, labels):
        assert array.shape == (n * (1 + negatives),)
    assert out_users.dtype == np.int32 and out_items.dtype == np.uint16  # few items
    assert labels.dtype == bool
    assert set(np.unique(labels).tolist()) == {False, True}
    assert int(labels.sum()) == n
    # The positive rows are exactly the input pairs, and each user keeps its share of rows.
    positive_pairs = sorted(
        zip(out_users[labels == 1].tolist(), out_items[labels == 1].tolist(), strict=True)
    )
    assert positive_pairs == sorted(zip(users.tolist(), items.tolist(), strict=True))
    np.testing.assert_array_equal(
        np.bincount(out_users, minlength=NUM_USERS),
        np.bincount(users, minlength=NUM_USERS) * (1 + negatives),
    )


def test_training_negatives_are_never_positives_of_their_user(sampler, positives):
    """A negative row never pairs a user with one of its own positive items."""
    users, items = positives
    out_users, out_items, labels = training_instances(
        users, items, sampler, 6, np.random.default_rng(5)
    )
    seen = set(zip(users.tolist(), items.tolist(), strict=True))
    negative_pairs = zip(
        out_users[labels == 0].tolist(), out_items[labels == 0].tolist(), strict=True
    )
    assert not seen & set(negative_pairs)


def test_training_instances_are_shuffled_and_reproducible(sampler, positives):
    """The same seed gives identical rows; another seed a different draw and order."""
    users, items = positives
    first = training_instances(users, items, sampler, 4, np.random.default_rng(9))
    again = training_instances(users, items, sampler, 4, np.random.default_rng(9))
    other = training_instances(users, items, sampler, 4, np.random.default_rng(10))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])
    # Shuffled: the positives are not simply the first n rows.
    assert not np.all(first[2][: len(users)] == 1.0)


def reference_instances(users, items, unseen, negatives, rng):
    """training_instances written the obvious way: all rows side by side, then permuted."""
    all_users = np.concatenate([users, np.repeat(users, negatives)])
    all_items = np.concatenate([items, unseen.sample(np.repeat(users, negatives), rng)])
    labels = np.concatenate([np.ones(len(users)), np.zeros(len(users) * negatives)])
    order = rng.permutation(len(all_users))
    return all_users[order], all_items[order], labels[order]


@pytest.mark.parametrize("chunk", [3, 1 << 21])
def test_training_instances_draw_the_obvious_rows_in_any_chunk_size(
    sampler, positives, monkeypatch, chunk
):
    """The lean, chunked draw gives exactly the rows of the obvious one, for the same seed."""
    monkeypatch.setattr(sampling, "CHUNK", chunk)
    users, items = positives
    for negatives in (0, 1, 4):
        lean = training_instances(users, items, sampler, negatives, np.random.default_rng(3))
        obvious = reference_instances(users, items, sampler, negatives, np.random.default_rng(3))
        for a, b in zip(lean, obvious, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "num_items, item_dtype, most_bytes", [(1_000, np.uint16, 14), (70_000, np.int32, 17)]
)
def test_training_instances_peak_memory_is_about_13_bytes_a_row(
    monkeypatch, num_items, item_dtype, most_bytes
):
    """Drawing an epoch holds little besides its result (7 bytes a row, 9 past 65,536 items).

    With small chunks, as a large epoch has, the chunks' temporaries are negligible.
    """
    monkeypatch.setattr(sampling, "CHUNK", 1 << 14)
    rng = np.random.default_rng(0)
    num_users, n = 2_000, 200_000
    keys = np.unique(rng.integers(0, num_users * num_items, n))
    users, items = (part.astype(np.int32) for part in np.divmod(keys, num_items))
    unseen = UnseenItems(users, items, num_users, num_items)
    tracemalloc.start()
    rows = training_instances(users, items, unseen, 4, rng)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rows[1].dtype == item_dtype
    assert peak / len(rows[0]) < most_bytes


def test_training_instances_with_zero_negatives_and_a_negative_count(sampler, positives):
    """negatives=0 gives only the positives; a negative count is a DataError."""
    users, items = positives
    out_users, _, labels = training_instances(users, items, sampler, 0, np.random.default_rng(0))
    assert len(out_users) == len(users) and np.all(labels)
    with pytest.raises(DataError, match=r"^negatives must be >= 0, got -1"):
        training_instances(users, items, sampler, -1, np.random.default_rng(0))


def test_each_use_of_a_seed_draws_from_its_own_stream():
    """The split, validation, synthetic data and epochs 0..9 never share draws; each repeats."""
    streams = {purpose: lambda p=purpose: random_stream(7, p) for purpose in STREAMS}
    streams |= {f"epoch {e}": lambda e=e: random_stream(7, "epoch", e) for e in range(10)}
    draws = {name: make().random(3) for name, make in streams.items()}
    firsts = [values[0] for values in draws.values()]
    assert len(set(firsts)) == len(firsts), "two uses of one seed share a stream"
    for name, make in streams.items():
        np.testing.assert_array_equal(make().random(3), draws[name])
    assert not np.array_equal(random_stream(8, "split").random(3), draws["split"])
