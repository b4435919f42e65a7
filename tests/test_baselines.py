"""baselines: ItemPop ranks by popularity, iALS learns the planted structure, and
choose_ials picks its settings on the validation items only."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import hand_dataset

from ncf_keras.baselines import IALS, ItemPop, choose_ials
from ncf_keras.data.dataset import validation_split
from ncf_keras.data.sources import synthetic
from ncf_keras.metrics import evaluate, sampled_ranks

pytest.importorskip("implicit", reason="iALS needs the implicit package (requirements.txt)")


@pytest.fixture(scope="module")
def planted():
    return synthetic(num_users=300, num_items=200, interactions_per_user=20, seed=0)


def test_itempop_scores_are_training_counts_and_rank_popular_items_first():
    # Training counts: item 0: 1, items 3 and 4: 2, item 5: 1, items 1 and 2: 0.
    data = hand_dataset(
        train={0: [0, 3], 1: [3, 4], 2: [4, 5]},
        test={0: 1, 1: 2, 2: 3},
        negatives={0: [2, 4], 1: [0, 1], 2: [0, 1]},
        num_items=6,
    )
    pop = ItemPop(data)
    x = {"user": np.array([0, 1, 2]), "item": np.array([3, 0, 1])}
    np.testing.assert_array_equal(pop.predict(x)[:, 0], [2, 1, 0])
    # user 0: item 1 (0) ties with item 2 (0), which counts against it, and trails 4 (2);
    # user 2: item 3 (2) beats items 0 (1) and 1 (0).
    assert sampled_ranks(pop, data).tolist() == [2, 2, 0]


def test_ials_learns_the_planted_structure_and_is_seeded(planted):
    first = IALS(factors=8, regularization=0.1, alpha=4.0, seed=0).fit(planted)
    second = IALS(factors=8, regularization=0.1, alpha=4.0, seed=0).fit(planted)
    assert first.user_factors.shape == (planted.num_users, 8)
    assert first.item_factors.shape == (planted.num_items, 8)
    np.testing.assert_allclose(first.user_factors, second.user_factors, rtol=1e-5, atol=1e-6)
    ials, pop = evaluate(first, planted)["hr@10"], evaluate(ItemPop(planted), planted)["hr@10"]
    assert ials > pop + 0.1, (ials, pop)  # random ranking gives about 0.10
    x = {"user": np.array([0, 5]), "item": np.array([7, 9])}
    expected = (first.user_factors[[0, 5]] * first.item_factors[[7, 9]]).sum(axis=1)
    np.testing.assert_allclose(first.predict(x)[:, 0], expected, rtol=1e-5, atol=1e-6)
    assert first.fit_seconds > 0


def test_choose_ials_picks_the_best_validation_hr_and_never_sees_the_test_items(planted):
    validation = validation_split(planted, seed=0)
    # A penalty of 1e6 shrinks every factor to almost 0: a poor model.
    chosen, rows = choose_ials(
        validation, factors=(8,), regularizations=(1e6, 0.1), alphas=(4.0,), seed=0
    )
    assert [row["regularization"] for row in rows] == [1e6, 0.1]
    assert rows[0]["val_hr@10"] < rows[1]["val_hr@10"] - 0.1
    assert chosen == {"factors": 8, "regularization": 0.1, "alpha": 4.0}
    # The fits saw the validation split's training data: no validation or test item.
    refit = IALS(**chosen, seed=0).fit(validation)
    assert rows[1]["val_hr@10"] == evaluate(refit, validation)["hr@10"]
