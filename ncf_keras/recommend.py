"""Recommendations for one user: the top unseen items, and a view of them for notebooks."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from ncf_keras.datasets import Dataset
from ncf_keras.metrics import score


def recommend(model: keras.Model, dataset: Dataset, user: int, top: int = 10) -> np.ndarray:
    """The `top` highest-scoring items outside the user's training history, best first.

    Returns int item ids, shape (min(top, unseen items),). Equal scores keep
    item id order.
    """
    candidates = np.setdiff1d(np.arange(dataset.num_items), dataset.history(user))
    scores = score(model, np.full(len(candidates), user), candidates)
    best = np.argsort(-scores, kind="stable")[:top]
    return candidates[best]


def show_user(model: keras.Model, dataset: Dataset, user: int, ranks: np.ndarray) -> pd.DataFrame:
    """Print where the user's held-out item lands; return the top 10 beside 10 training items.

    `ranks`: shape (num_users,), each user's 0-based sampled rank
    (`metrics.sampled_ranks`), for the hit-or-miss line.
    """
    ranked = recommend(model, dataset, user, top=dataset.num_items)  # every unseen item
    test_item = dataset.test_items[user]
    position = int(np.flatnonzero(ranked == test_item)[0]) + 1
    print(f"user {dataset.user_labels[user]}: {len(dataset.history(user))} training items")
    print(f"held-out item: {dataset.title(test_item)}")
    print(f"  position {position} of {len(ranked):,} unseen items by the model's score")
    outcome = "a hit" if ranks[user] < 10 else "a miss"
    print(f"  rank {ranks[user] + 1} of 100 in the sampled test: {outcome}")
    columns = {
        "top-10 recommendations": ranked[:10],
        "10 of the training items": dataset.history(user)[:10],
    }
    return pd.DataFrame(  # a column with fewer than 10 items ends in NaN
        {
            name: pd.Series([dataset.title(i) for i in items], index=range(1, len(items) + 1))
            for name, items in columns.items()
        }
    )
