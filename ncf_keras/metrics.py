"""Leave-one-out ranking metrics: HR@K and NDCG@K.

The held-out item of each user is ranked against candidates:

* **sampled** (the paper's protocol): the user's 99 test negatives;
* **full ranking**: every item not in the user's training history.

The rank is 0-based: the number of candidates that score **at least as high**
as the held-out item. Ties count against the model, so a model that scores
everything alike gets HR = 0, not 1. A candidate that *is* the held-out item
(the NCF file lists it among the negatives of 156 users) is not a competitor and
is skipped. With rank r: HR@K = 1[r < K] and NDCG@K = 1[r < K] / log2(r + 2),
averaged over users.
"""

from __future__ import annotations

import keras
import numpy as np

from ncf_keras.data.dataset import Dataset
from ncf_keras.data.sampling import random_stream
from ncf_keras.errors import ArgumentError, DataError

SCORE_BATCH = 1 << 16  # rows per forward pass when scoring
SCORE_ROWS = 1 << 21  # (user, item) pairs per call of the model: bounds the temporaries


def hit_rate(ranks: np.ndarray, k: int = 10) -> float:
    """Fraction of users whose held-out item has 0-based rank < k."""
    return float(np.mean(ranks < k))


def ndcg(ranks: np.ndarray, k: int = 10) -> float:
    """Mean of 1 / log2(rank + 2) over users, counting 0 where rank >= k."""
    ranks = np.asarray(ranks)
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)))


def rank_among(
    positive: np.ndarray, candidates: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """0-based rank of each positive among its candidates; ties count against it.

    Args:
        positive: scores of the held-out items, shape (n,).
        candidates: scores of the competing items, shape (n, m).
        valid: bool, shape (n, m): which candidates compete (default: all).

    Returns: int64, shape (n,).
    """
    ahead = candidates >= positive[:, None]
    if valid is not None:
        ahead &= valid
    return ahead.sum(axis=1)


def score(model: keras.Model, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Model scores for (user, item) pairs, float32, shape (n,), in batched forward passes.

    A Keras model scores `SCORE_BATCH` pairs per `predict_on_batch`, which on
    TensorFlow takes under half the time of `predict` (benchmarks/README.md); anything
    else with a Keras model's `predict(x)` (the baselines) scores them all at once.

    Raises DataError if a score is NaN or infinite: no rank can be honest then
    (a NaN compares false with everything, so it would rank first).
    """
    users, items = np.asarray(users, np.int32), np.asarray(items, np.int32)
    if not isinstance(model, keras.Model):  # a baseline: one `predict` of every pair
        scores = np.asarray(model.predict({"user": users, "item": items})).reshape(-1)
    else:  # `predict_on_batch`: TensorFlow's `predict` builds a `tf.data` pipeline per call
        scores = np.empty(len(users), np.float32)
        for start in range(0, len(users), SCORE_BATCH):
            part = slice(start, start + SCORE_BATCH)
            pairs = {"user": users[part], "item": items[part]}
            scores[part] = np.ravel(model.predict_on_batch(pairs))
    bad = ~np.isfinite(scores)
    if bad.any():
        raise DataError(
            f"the model scored {bad.sum():,} of {len(scores):,} (user, item) pairs "
            "as NaN or infinite: training has diverged (try a lower learning rate)"
        )
    return scores


def sampled_ranks(
    model: keras.Model, dataset: Dataset, rows_per_pass: int = SCORE_ROWS
) -> np.ndarray:
    """Rank of each user's test item among its test negatives, shape (num_users,).

    Scores users in chunks of about `rows_per_pass` (user, item) pairs (default
    SCORE_ROWS), so memory stays bounded whatever the number of users; the
    ranks are those of one pass.
    """
    negatives = dataset.test_negatives.shape[1]
    chunk = max(1, rows_per_pass // (1 + negatives))
    ranks = np.empty(dataset.num_users, np.int64)
    for start in range(0, dataset.num_users, chunk):
        rows = slice(start, start + chunk)
        test = dataset.test_items[rows].astype(np.int32)[:, None]
        items = np.concatenate([test, dataset.test_negatives[rows].astype(np.int32)], axis=1)
        users = np.repeat(np.arange(start, start + len(items), dtype=np.int32), 1 + negatives)
        scores = score(model, users, items.ravel()).reshape(items.shape)
        ranks[rows] = rank_among(scores[:, 0], scores[:, 1:], items[:, 1:] != test)
    return ranks


def full_ranks(
    model: keras.Model,
    dataset: Dataset,
    rows_per_pass: int = SCORE_ROWS,
    users: np.ndarray | None = None,
) -> np.ndarray:
    """Rank of each user's test item among all items outside its training history.

    Scores users in chunks of about `rows_per_pass` (user, item) pairs (at
    least one user: num_items pairs), so memory stays bounded whatever the
    catalogue size; the ranks are those of one pass.

    Args:
        model: scores (user, item) pairs.
        dataset: its test items are ranked.
        rows_per_pass: (user, item) pairs scored per call of the model
            (default SCORE_ROWS).
        users: int, shape (n,): the users to rank (default: every user; see
            `sample_users` for a sample).

    Returns: int64, shape (n,), in the order of `users`.
    """
    users = np.arange(dataset.num_users) if users is None else np.asarray(users, np.int64)
    n_items = dataset.num_items
    chunk = max(1, rows_per_pass // n_items)
    offsets = dataset.user_offsets
    ranks = np.empty(len(users), np.int64)
    for start in range(0, len(users), chunk):
        block = users[start : start + chunk]
        scores = score(model, np.repeat(block, n_items), np.tile(np.arange(n_items), len(block)))
        scores = scores.reshape(len(block), n_items)
        # Every training item of the block's users, as (row in block, item): ruled out.
        first, counts = offsets[block], offsets[block + 1] - offsets[block]
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        seen = dataset.train_items[np.repeat(first, counts) + within]
        scores[np.repeat(np.arange(len(block)), counts), seen] = -np.inf
        positive = scores[np.arange(len(block)), dataset.test_items[block]]
        ranks[start : start + len(block)] = (scores >= positive[:, None]).sum(axis=1) - 1
    return ranks


def sample_users(dataset: Dataset, size: int | None, seed: int = 0) -> np.ndarray | None:
    """A seeded uniform sample of `size` distinct users, sorted; None (every user)
    when `size` is None or at least the number of users.

    Args:
        dataset: its users are sampled.
        size: users in the sample (None: all).
        seed: the same seed gives the same sample (`random_stream(seed, "users")`).

    Returns: int64, shape (size,), or None.
    """
    if size is None or size >= dataset.num_users:
        return None
    if size < 1:
        raise ArgumentError("sample_users", f"must be >= 1, got {size}")
    rng = random_stream(seed, "users")
    return np.sort(rng.choice(dataset.num_users, size, replace=False))


def evaluate(
    model: keras.Model,
    dataset: Dataset,
    k: int = 10,
    full_ranking: bool = False,
    users: np.ndarray | None = None,
) -> dict[str, float]:
    """HR@k and NDCG@k: {"hr@10": ..., "ndcg@10": ...} for k = 10.

    Args:
        model: scores (user, item) pairs.
        dataset: its test items are ranked.
        k: the cut-off (default 10).
        full_ranking: rank among every item outside the user's training
            history instead of its test negatives (default False).
        users: int, shape (n,): average over these users only (default: every
            user); `sample_users` draws a seeded sample, which makes full
            ranking practical on large catalogues (it scores n x num_items pairs).
    """
    if full_ranking:
        ranks = full_ranks(model, dataset, users=users)
    else:
        ranks = sampled_ranks(model, dataset)
        ranks = ranks if users is None else ranks[np.asarray(users, np.int64)]
    return {f"hr@{k}": hit_rate(ranks, k), f"ndcg@{k}": ndcg(ranks, k)}
