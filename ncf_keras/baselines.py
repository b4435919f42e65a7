"""Two baselines with no neural network: ItemPop and iALS.

Both score (user, item) pairs through a Keras-style `predict`, which
`ncf_keras.metrics.score` calls once for all pairs (a Keras model it runs batch
by batch), so the metrics rank them exactly as they rank GMF, MLP and NeuMF.

* `ItemPop`: an item's number of training interactions, the same list for
  every user. What any model must beat.
* `IALS`: implicit alternating least squares (Hu, Koren and Volinsky, ICDM
  2008), the classic matrix factorisation for implicit feedback, fitted by the
  `implicit` package (`pip install implicit`). It weighs every user-item cell:
  an interaction as a 1 with confidence alpha, every other cell as a 0 with
  confidence 1, so it needs no sampled negatives. Score: p_u . q_i.

`choose_ials` picks iALS's settings on a validation hold-out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from itertools import product

import numpy as np

from ncf_keras.data.dataset import Dataset
from ncf_keras.metrics import hit_rate, ndcg, sampled_ranks


class ItemPop:
    """Ranks items by their number of training interactions.

    Args:
        dataset: its training pairs give the counts.
    """

    def __init__(self, dataset: Dataset):
        self.counts = np.bincount(dataset.train_items, minlength=dataset.num_items)
        self.counts = self.counts.astype(np.float32)

    def predict(self, x: dict, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """float32, shape (n, 1): each pair's item's training count; `x` as for a Keras model."""
        return self.counts[np.asarray(x["item"])][:, None]


class IALS:
    """Implicit ALS: user and item factors fitted by alternating least squares.

    Args:
        factors: the size of p_u and q_i (default 64).
        regularization: the L2 penalty on the factors (default 100.0).
        alpha: an interaction's confidence; every other cell's is 1 (default 16.0).
            The defaults are what validation chose on `ml-1m-ncf` at 64 factors.
        iterations: ALS sweeps, each solving all users, then all items (default 15).
        seed: seeds the factors' start.

    Attributes (after `fit`):
        user_factors: float32, shape (num_users, factors).
        item_factors: float32, shape (num_items, factors).
        fit_seconds: the wall seconds `fit` took.
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 100.0,
        alpha: float = 16.0,
        iterations: int = 15,
        seed: int = 0,
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed

    def fit(self, dataset: Dataset) -> IALS:
        """Fit the factors to `dataset`'s training pairs, on the CPU; returns self."""
        from implicit.cpu.als import AlternatingLeastSquares
        from scipy.sparse import csr_matrix
        from threadpoolctl import threadpool_limits

        cells = np.ones(len(dataset.train_users), np.float32)
        shape = (dataset.num_users, dataset.num_items)
        user_items = csr_matrix((cells, (dataset.train_users, dataset.train_items)), shape=shape)
        start = time.perf_counter()
        with threadpool_limits(1, "blas"):  # implicit runs its own threads; BLAS's would fight them
            als = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.seed,
            )
            als.fit(user_items, show_progress=False)
        self.fit_seconds = time.perf_counter() - start
        self.user_factors = np.asarray(als.user_factors, np.float32)
        self.item_factors = np.asarray(als.item_factors, np.float32)
        return self

    def predict(self, x: dict, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """float32, shape (n, 1): p_u . q_i for each pair; `x` as for a Keras model."""
        p = self.user_factors[np.asarray(x["user"])]
        q = self.item_factors[np.asarray(x["item"])]
        return np.einsum("nf,nf->n", p, q)[:, None]


def choose_ials(
    validation: Dataset,
    factors: Iterable[int] = (64,),
    regularizations: Iterable[float] = (1.0, 10.0, 100.0, 1000.0),
    alphas: Iterable[float] = (4.0, 16.0, 64.0),
    seed: int = 0,
) -> tuple[dict, list[dict]]:
    """Fit iALS for every combination of settings; choose the best validation HR@10.

    Args:
        validation: a `dataset.validation_split`: its "test" items are the
            validation items, so the real test items choose nothing.
        factors, regularizations, alphas: the grid (see `IALS`).
        seed: seeds every fit.

    Returns: (the chosen settings, one row per fit): each a dict with
        "factors", "regularization", "alpha", "val_hr@10", "val_ndcg@10" and
        "fit_seconds". Of equal HR@10s, the first in grid order wins.
    """
    rows = []
    for size, regularization, alpha in product(factors, regularizations, alphas):
        ials = IALS(size, regularization, alpha, seed=seed).fit(validation)
        ranks = sampled_ranks(ials, validation)
        rows.append(
            {
                "factors": size,
                "regularization": regularization,
                "alpha": alpha,
                "val_hr@10": hit_rate(ranks),
                "val_ndcg@10": ndcg(ranks),
                "fit_seconds": ials.fit_seconds,
            }
        )
    best = max(rows, key=lambda row: row["val_hr@10"])
    return {key: best[key] for key in ("factors", "regularization", "alpha")}, rows
