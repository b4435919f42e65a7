"""Where datasets come from: five sources, one `Dataset` form.

* `"ml-1m"`: GroupLens MovieLens-1M, split here by leave-one-out, and
* `"ml-1m-ncf"`: the NCF paper's own split of ML-1M, with its 99 test negatives
  (`ncf_keras.data.paper_split`);
* `"ml-20m"`, `"ml-25m"`, `"ml-32m"`: the larger GroupLens sets (20M, 25M and
  32M ratings), split by leave-one-out (these and ml-1m in `ncf_keras.data.grouplens`);
* `"synthetic"`: a small seeded generator with planted latent structure;
  `"synthetic:ml-20m"` and `"synthetic:users=U,items=I,interactions=N,seed=S"`:
  ML-20M-like logs at any scale (`ncf_keras.data.synthetic_logs`).
* a path: the user's own delimited file of (user, item[, rating[, timestamp]]):
  comma, semicolon, tab or whitespace separated, RFC 4180 quotes allowed
  (`ncf_keras.data.own_file`).

`LOADERS` maps each name to its loader; `load_dataset` picks from it.
Data folder (`ncf_keras.data.folders`): `data_dir` argument, else `$NCF_DATA_DIR`,
else `data/`. Files
already there are used as they are (a pre-placed copy is trusted without its
hash); anything missing is downloaded and verified (see `ncf_keras.data.download`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ncf_keras.checks import check_at_least, check_memory
from ncf_keras.data import grouplens, paper_split, synthetic_logs
from ncf_keras.data.dataset import TEST_NEGATIVES, Dataset, leave_one_out
from ncf_keras.data.folders import data_dir_origin, resolve_data_dir
from ncf_keras.data.own_file import from_file
from ncf_keras.data.sampling import item_dtype, random_stream
from ncf_keras.errors import ArgumentError, DataError

__all__ = [
    "LOADERS",
    "NAMED_DATASETS",
    "data_dir_origin",
    "from_file",
    "load_dataset",
    "resolve_data_dir",
    "synthetic",
    "synthetic_log",
    "synthetic_sizes",
]

Loader = Callable[[str | os.PathLike | None, int, int], Dataset]  # (data_dir, seed, negatives)
LOADERS: dict[str, Loader] = {
    "ml-1m": grouplens.movielens_1m,
    # The paper's files fix the test negatives: no seed to draw them from.
    "ml-1m-ncf": lambda data_dir, seed, negatives: paper_split.movielens_1m_ncf(
        data_dir, test_negatives=negatives
    ),
    **{name: functools.partial(grouplens.movielens_csv, name) for name in grouplens.CSV_ZIPS},
    "synthetic": lambda data_dir, seed, negatives: synthetic(seed=seed, test_negatives=negatives),
}
NAMED_DATASETS = tuple(LOADERS)
SYNTHETIC_KEYS = ("users", "items", "interactions", "min_per_user", "seed")


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    test_negatives: int = TEST_NEGATIVES,
    columns: str | None = None,
) -> Dataset:
    """Load a named dataset (NAMED_DATASETS), a "synthetic:..." log, or an interactions file.

    Args:
        name: "ml-1m", "ml-1m-ncf", "ml-20m", "ml-25m", "ml-32m", "synthetic",
            "synthetic:ml-20m", "synthetic:users=U,items=I,interactions=N,seed=S"
            (see `synthetic_log`), or the path of a file (see `from_file`).
        data_dir: the data folder (see `resolve_data_dir`).
        seed: draws the test negatives where the source does not fix them.
        test_negatives: items each held-out item is ranked against (default 99,
            the paper's; 999 for the MLPerf protocol). ml-1m-ncf takes 99 only.
        columns: "user=COL,item=COL[,time=COL]": pick a file's columns by their
            header names (see `from_file`); a file only (default: by position).
    """
    check_at_least("test_negatives", test_negatives, 1)
    if columns is not None and (name in LOADERS or name.startswith("synthetic:")):
        raise ArgumentError(
            "columns", f"picks the columns of your own file; dataset {name!r} has its own"
        )
    if name in LOADERS:
        return LOADERS[name](data_dir, seed, test_negatives)
    if name.startswith("synthetic:"):
        return synthetic_log(name, seed, test_negatives)
    if Path(name).is_file():
        return from_file(name, seed, test_negatives=test_negatives, columns=columns)
    raise DataError(
        f"unknown dataset {name!r}: use {', '.join(NAMED_DATASETS)}, synthetic:ml-20m, "
        "synthetic:users=U,items=I,interactions=N, or the path of an existing interactions file"
    )


def synthetic_sizes(spec: str) -> dict[str, int]:
    """The sizes a "synthetic:..." name asks for:
    {"users", "items", "interactions", "min_per_user", "seed"}.

    "synthetic:ml-20m" is ML-20M's sizes; "synthetic:users=U,items=I,
    interactions=N,min_per_user=K,seed=S" sets any of them (whole numbers, "_"
    allowed between digits), the rest being ML-20M's; "min_per_user" is the
    fewest interactions of a user (default 20, as in ML-20M; 2 makes a
    long-tailed log); "seed" is None unless given. One-line DataError for an
    unknown key or a bad value.
    """
    body = spec.removeprefix("synthetic:")
    sizes: dict = {
        **synthetic_logs.ML_20M,
        "min_per_user": synthetic_logs.MIN_PER_USER,
        "seed": None,
    }
    if body == "ml-20m":
        return sizes
    accepted = f"accepted keys: {', '.join(SYNTHETIC_KEYS)} (or synthetic:ml-20m)"
    for part in body.split(","):
        key, equals, value = part.partition("=")
        key = key.strip()
        if key not in SYNTHETIC_KEYS or not equals:
            what = f"unknown key {key!r}" if key not in SYNTHETIC_KEYS else f"{key!r} has no value"
            raise DataError(f"dataset {spec!r}: {what}; {accepted}, e.g. synthetic:users=1000")
        try:
            sizes[key] = int(value.strip())
        except ValueError:
            raise DataError(
                f"dataset {spec!r}: {key}={value.strip()!r} is not a whole number; "
                f"{accepted}, e.g. {key}=1000"
            ) from None
        if sizes[key] < 0:
            raise DataError(f"dataset {spec!r}: {key}={sizes[key]} must not be negative")
    return sizes


def synthetic_log(spec: str, seed: int = 0, test_negatives: int = TEST_NEGATIVES) -> Dataset:
    """An ML-20M-like log at any scale (`ncf_keras.data.synthetic_logs`), split by leave-one-out.

    Args:
        spec: "synthetic:ml-20m" (138,493 users, 26,744 items, 20,000,263
            interactions) or "synthetic:users=U,items=I,interactions=N,
            min_per_user=K,seed=S", every key optional (see `synthetic_sizes`).
        seed: draws the test negatives; also the log's seed unless `spec` sets one.
        test_negatives: items each held-out item is ranked against (default 99).

    Refuses, before drawing anything, sizes that cannot be drawn, items too few
    for `test_negatives`, and a log that would not fit in the available memory
    (ArgumentError naming `dataset`: `synthetic_logs.BYTES_PER_INTERACTION` bytes per
    interaction, `synthetic_logs.BYTES_PER_USER` per user, and the test negatives).
    """
    sizes = synthetic_sizes(spec)
    users, items, interactions = sizes["users"], sizes["items"], sizes["interactions"]
    synthetic_logs.check_sizes(users, items, interactions, sizes["min_per_user"])
    if items // 2 + test_negatives > items:  # a user may hold half the items
        raise DataError(
            f"dataset {spec!r}: items={items:,} is too few for {test_negatives} test negatives "
            f"(a user may have half the items); use items >= {2 * test_negatives}"
        )
    per_user = synthetic_logs.BYTES_PER_USER + test_negatives * item_dtype(items).itemsize
    check_memory(
        "dataset",
        interactions * synthetic_logs.BYTES_PER_INTERACTION + users * per_user,
        f"{spec}'s {interactions:,} interactions of {users:,} users",
    )
    log = synthetic_logs.interaction_log(
        users,
        items,
        interactions,
        seed if sizes["seed"] is None else sizes["seed"],
        sizes["min_per_user"],
    )
    return leave_one_out(spec, *log, seed, test_negatives=test_negatives)


def synthetic(
    num_users: int = 1000,
    num_items: int = 500,
    interactions_per_user: int = 30,
    factors: int = 8,
    seed: int = 0,
    test_negatives: int = TEST_NEGATIVES,
) -> Dataset:
    """Seeded implicit feedback with planted latent structure, for tests and CI.

    Users and items get random `factors`-dimensional taste vectors; each user
    picks `interactions_per_user` distinct items, with probability rising
    steeply with the dot product (Gumbel top-k). The pick order is random, so the
    held-out item is one more draw from the user's taste: a model that learns
    the structure beats random ranking (HR@10 ~ 0.10) by far. Memory is
    num_users x num_items floats. `test_negatives` (default 99) are drawn per
    user; for logs at scale see `synthetic_log`.
    """
    if num_items < interactions_per_user + test_negatives:
        raise DataError(
            f"synthetic: num_items={num_items} must be at least "
            f"interactions_per_user + {test_negatives} (the test negatives)"
        )
    if interactions_per_user < 2:
        raise DataError("synthetic: interactions_per_user must be at least 2")
    rng = random_stream(seed, "synthetic")
    taste_u = rng.normal(size=(num_users, factors))
    taste_i = rng.normal(size=(num_items, factors))
    popularity = rng.normal(scale=0.5, size=num_items)
    logits = 3.0 * taste_u @ taste_i.T / np.sqrt(factors) + popularity
    gumbel = -np.log(-np.log(rng.random((num_users, num_items))))
    picks = np.argsort(-(logits + gumbel), axis=1)[:, :interactions_per_user]
    picks = rng.permuted(picks, axis=1)  # random order in time
    users = np.repeat(np.arange(num_users), interactions_per_user)
    return leave_one_out("synthetic", users, picks.ravel(), None, seed, None, test_negatives)
