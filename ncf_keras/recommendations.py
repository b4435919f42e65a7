"""Recommendations for one user: the top-scoring items outside their training history."""

from __future__ import annotations

import keras
import numpy as np

from ncf_keras.data.dataset import Dataset
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
