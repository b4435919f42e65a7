"""Recommendations for one user: recommend() and the notebooks' show_user()."""

from __future__ import annotations

import numpy as np
from helpers import ScoreByItem, hand_dataset

from ncf_keras.notebook import show_user
from ncf_keras.recommendations import recommend


def test_recommend_ranks_unseen_items_by_score():
    """recommend() returns the top-scoring items outside the history, best first."""
    dataset = hand_dataset({0: [9, 7]}, {0: 2}, {0: [0, 1]}, num_items=10)
    np.testing.assert_array_equal(recommend(ScoreByItem(), dataset, 0, top=3), [8, 6, 5])


def test_show_user_places_the_held_out_item(capsys):
    """The held-out item's place among all unseen items, the sampled outcome, and the lists."""
    dataset = hand_dataset({0: [9, 7], 1: [0, 1]}, {0: 2, 1: 8}, {0: [0, 1], 1: [2, 3]}, 10)
    table = show_user(ScoreByItem(), dataset, 0, ranks=np.array([0, 5]))
    printed = capsys.readouterr().out
    assert "held-out item: item 2" in printed
    assert "position 6 of 8 unseen items" in printed  # 8, 6, 5, 4, 3, then 2
    assert "rank 1 of 100 in the sampled test: a hit" in printed
    assert table["top-10 recommendations"].tolist()[:3] == ["item 8", "item 6", "item 5"]
    assert table["10 of the training items"].dropna().tolist() == ["item 7", "item 9"]
    assert list(table.index) == list(range(1, 9))  # 8 unseen items: fewer than 10 rows
