"""HR@K, NDCG@K and the ranking protocols, against hand-computed cases."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from helpers import ConstantScore, ScoreByItem, hand_dataset

from ncf_keras import metrics
from ncf_keras.errors import DataError


def test_rank_counts_candidates_scoring_at_least_the_positive():
    """rank = number of candidates scoring >= the positive: ties count against the model."""
    positive = np.array([0.5, 0.9, 0.2])
    candidates = np.array([[0.9, 0.5, 0.1], [0.1, 0.2, 0.3], [0.2, 0.2, 0.2]])
    np.testing.assert_array_equal(metrics.rank_among(positive, candidates), [2, 0, 3])


def test_rank_skips_candidates_outside_the_valid_mask():
    """A masked-out candidate does not count, even when it scores higher."""
    positive = np.array([0.5, 0.5])
    candidates = np.array([[0.9, 0.5, 0.1], [0.9, 0.5, 0.1]])
    valid = np.array([[False, True, True], [True, True, True]])
    np.testing.assert_array_equal(metrics.rank_among(positive, candidates, valid), [1, 2])


def test_constant_scores_give_hit_rate_zero():
    """A model that scores everything alike ranks the positive last among 99 ties."""
    positive = np.full(4, 0.3)
    candidates = np.full((4, 99), 0.3)
    ranks = metrics.rank_among(positive, candidates)
    np.testing.assert_array_equal(ranks, [99] * 4)
    assert metrics.hit_rate(ranks, 10) == 0.0
    assert metrics.ndcg(ranks, 10) == 0.0


def test_hit_rate_counts_ranks_below_k():
    """HR@K is the fraction of 0-based ranks strictly below K."""
    ranks = np.array([0, 9, 10, 50])
    assert metrics.hit_rate(ranks, 10) == 0.5
    assert metrics.hit_rate(ranks, 1) == 0.25
    assert metrics.hit_rate(ranks, 11) == 0.75


def test_ndcg_is_discounted_by_log2_of_rank_plus_two():
    """NDCG@K = mean of 1/log2(rank + 2) over hits, 0 for misses."""
    ranks = np.array([0, 1, 9, 10])
    expected = (1.0 + 1.0 / math.log2(3) + 1.0 / math.log2(11) + 0.0) / 4
    assert metrics.ndcg(ranks, 10) == pytest.approx(expected)
    assert metrics.ndcg(np.array([0]), 1) == 1.0
    assert metrics.ndcg(np.array([1]), 1) == 0.0


# Two users, 12 items; the stub scores an item by its id.
# User 0: test item 6, its negatives include 6 itself (skipped); 9 and 11 rank ahead.
# User 1: test item 8; only negative 9 ranks ahead; train items 10, 11 score higher
#         but are excluded from full ranking.
TRAIN = {0: [1, 2], 1: [10, 11]}
TEST = {0: 6, 1: 8}
NEGATIVES = {0: [9, 3, 6, 11, 0], 1: [0, 1, 2, 3, 9]}


@pytest.fixture
def tiny() -> object:
    return hand_dataset(TRAIN, TEST, NEGATIVES, num_items=12)


def test_sampled_ranks_skip_a_negative_equal_to_the_test_item(tiny):
    """Sampled rank counts only real competitors: the test item among its negatives is skipped."""
    np.testing.assert_array_equal(metrics.sampled_ranks(ScoreByItem(), tiny), [2, 1])


def test_full_ranks_exclude_training_items(tiny):
    """Full ranking competes against every item outside the user's training history."""
    # User 0: 7, 8, 9, 10, 11 are ahead of 6. User 1: only 9 (10, 11 are training items).
    np.testing.assert_array_equal(metrics.full_ranks(ScoreByItem(), tiny), [5, 1])


def test_full_ranks_do_not_depend_on_chunk_size(tiny):
    """Scoring one user per pass gives the same ranks as scoring all at once."""
    one_by_one = metrics.full_ranks(ScoreByItem(), tiny, rows_per_pass=1)
    np.testing.assert_array_equal(one_by_one, metrics.full_ranks(ScoreByItem(), tiny))


def test_full_ranks_of_some_users_in_their_order(tiny):
    """`users` ranks a subset, in the order given: the same ranks as for everyone."""
    np.testing.assert_array_equal(metrics.full_ranks(ScoreByItem(), tiny, users=[1]), [1])
    np.testing.assert_array_equal(metrics.full_ranks(ScoreByItem(), tiny, users=[1, 0]), [1, 5])


def test_evaluate_reports_hr_and_ndcg_at_k(tiny):
    """evaluate names its keys by k and averages over users, for both protocols."""
    sampled = metrics.evaluate(ScoreByItem(), tiny, k=3)
    assert sampled == pytest.approx(
        {"hr@3": 1.0, "ndcg@3": (1 / math.log2(4) + 1 / math.log2(3)) / 2}
    )
    full = metrics.evaluate(ScoreByItem(), tiny, k=3, full_ranking=True)
    assert full == pytest.approx({"hr@3": 0.5, "ndcg@3": (0 + 1 / math.log2(3)) / 2})


def test_constant_model_ranks_last_and_scores_zero(tiny):
    """Ties count against the model: a constant scorer ranks behind every competitor."""
    # Competitors: user 0 has 4 valid negatives (one is its test item), user 1 has 5;
    # in full ranking both have 12 items - 2 training items - the test item = 9.
    np.testing.assert_array_equal(metrics.sampled_ranks(ConstantScore(), tiny), [4, 5])
    np.testing.assert_array_equal(metrics.full_ranks(ConstantScore(), tiny), [9, 9])
    for full_ranking in (False, True):
        result = metrics.evaluate(ConstantScore(), tiny, k=4, full_ranking=full_ranking)
        assert result == {"hr@4": 0.0, "ndcg@4": 0.0}


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("full_ranking", [False, True])
def test_a_diverged_model_is_an_error_not_a_perfect_score(tiny, value, full_ranking):
    """NaN compares false with everything, so it would rank first: refuse it instead."""
    pairs = tiny.num_users * (tiny.num_items if full_ranking else 1 + tiny.test_negatives.shape[1])
    with pytest.raises(DataError, match=rf"the model scored {pairs} of {pairs} .* diverged"):
        metrics.evaluate(ConstantScore(value), tiny, full_ranking=full_ranking)


def item_id_model() -> keras.Model:
    """A Keras model whose score for (user, item) is the item id."""
    inputs = {
        "user": keras.Input(shape=(), dtype="int32", name="user"),
        "item": keras.Input(shape=(), dtype="int32", name="item"),
    }
    item_score = keras.layers.Embedding(12, 1, name="item_score")
    output = item_score(inputs["item"])
    model = keras.Model(inputs, output)
    item_score.set_weights([np.arange(12, dtype=np.float32)[:, None]])
    return model


def test_sampled_ranks_with_a_keras_model(tiny):
    """A real Keras model whose score is the item id gives the hand-computed ranks."""
    model = item_id_model()
    np.testing.assert_array_equal(metrics.sampled_ranks(model, tiny), [2, 1])
    np.testing.assert_array_equal(metrics.full_ranks(model, tiny), [5, 1])


def test_a_keras_model_scores_every_pair_in_order_across_batches(monkeypatch):
    """`score` runs a Keras model batch by batch: each pair keeps its own score."""
    monkeypatch.setattr(metrics, "SCORE_BATCH", 4)
    items = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])  # 11 pairs: batches of 4, 4 and 3
    scores = metrics.score(item_id_model(), np.zeros(len(items), np.int32), items)
    assert scores.dtype == np.float32
    np.testing.assert_array_equal(scores, items)
