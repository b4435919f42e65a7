"""Synthetic interaction logs at the scale of MovieLens-20M and beyond, in vectorised NumPy.

`interaction_log` draws a log shaped like ML-20M's `ratings.csv`:

* **Users** each have at least `min_per_user` interactions (default
  `MIN_PER_USER`, 20, as in ML-20M); the rest of each user's count is
  log-normal (sigma `COUNT_SIGMA`), scaled so the counts add up to exactly the
  interactions asked for: the median user has about half the mean, a few users
  have thousands (at most half the items). A small `min_per_user` with few
  interactions per user gives a long-tailed log: most users near the minimum
  (`synthetic:...,min_per_user=2`: every user of 3M with 6M interactions has 2).
* **Items** are picked with Zipf-like popularity, weight
  `(rank + POPULARITY_OFFSET) ** -POPULARITY_EXPONENT`, each user's items
  without repeats (weighted sampling without replacement: no duplicate
  (user, item) pair), item ids a random permutation of the popularity ranks.
* **Timestamps**, seconds since 1970, spread each user's interactions over a
  random stretch of 1996-2015 in random order, so leave-one-out holds out a
  random one of the user's items.

Rows come sorted by user, then item, as in ML-20M. Memory is linear in the
interactions and the users (`BYTES_PER_INTERACTION` and `BYTES_PER_USER` for
the log and its split together, besides the test negatives), never users x
items. `ML_20M` holds ML-20M's sizes. `ncf_keras.data.sources` makes a `Dataset` of it
(`--dataset synthetic:ml-20m`).
"""

from __future__ import annotations

import numpy as np

from ncf_keras.data.sampling import random_stream
from ncf_keras.errors import DataError

ML_20M = {"users": 138_493, "items": 26_744, "interactions": 20_000_263}
MIN_PER_USER = 20  # as in ML-20M (and the MLPerf protocol's cut-off)
COUNT_SIGMA = 1.38  # ML-20M: 20 + a log-normal of this sigma gives mean 144, median ~70
POPULARITY_EXPONENT = 1.5
POPULARITY_OFFSET = 100.0
# Peak bytes per interaction and per user of generating a log and splitting it
# (leave_one_out), besides the test negatives' own array: measured at 20M interactions
# and at 3M users with 2 interactions each (benchmarks/README.md), with headroom;
# `sources` checks memory with them.
BYTES_PER_INTERACTION = 150
BYTES_PER_USER = 200
_DENSE_FRACTION = 16  # users with more than items / 16 picks are drawn by dense keys
_GUIDE = 4  # guide-table buckets per item, for drawing ranks by popularity
_DENSE_CELLS = 1 << 24  # users x items cells per dense chunk (128 MiB of float64)
_START, _END = 820_454_400, 1_420_070_400  # 1996-01-01 and 2015-01-01, UTC


def check_sizes(
    num_users: int, num_items: int, num_interactions: int, min_per_user: int = MIN_PER_USER
) -> None:
    """A DataError naming the size at fault unless a log of these sizes can be drawn.

    Every user needs `min_per_user` (at least 2: one to train on, one to test)
    to num_items // 2 interactions.
    """
    for name, value in (
        ("users", num_users),
        ("items", num_items),
        ("interactions", num_interactions),
    ):
        if value < 1:
            raise DataError(f"synthetic: {name}={value} must be at least 1")
    if min_per_user < 2:
        raise DataError(
            f"synthetic: min_per_user={min_per_user} is too few: leave-one-out needs 2 "
            "interactions per user (one to train on, one to test); use min_per_user >= 2"
        )
    most = num_items // 2
    if most < min_per_user:
        raise DataError(
            f"synthetic: items={num_items} is too few: each user has at least "
            f"{min_per_user} items and at most half of them; use items >= {2 * min_per_user}"
        )
    low, high = num_users * min_per_user, num_users * most
    if not low <= num_interactions <= high:
        raise DataError(
            f"synthetic: interactions={num_interactions:,} does not fit users={num_users:,} "
            f"x {min_per_user} to {most:,} items each; use interactions between "
            f"{low:,} and {high:,}"
        )


def user_counts(
    num_users: int,
    num_items: int,
    num_interactions: int,
    rng: np.random.Generator,
    min_per_user: int = MIN_PER_USER,
) -> np.ndarray:
    """Interactions per user, int64 shape (num_users,): each in
    [min_per_user, num_items // 2] (default MIN_PER_USER, 20), adding up to
    `num_interactions` exactly."""
    most = num_items // 2
    spread = rng.lognormal(0.0, COUNT_SIGMA, num_users)
    extra = np.zeros(num_users, np.int64)
    left = num_interactions - num_users * min_per_user
    room = most - min_per_user
    while left > 0:  # share out what is left in proportion to `spread`, within `room`
        open_ = extra < room
        share = spread * open_
        add = np.minimum(np.floor(share / share.sum() * left).astype(np.int64), room - extra)
        if add.sum() == 0:  # the last few: one each to the users with the largest spread
            order = np.argsort(-share, kind="stable")[:left]
            add = np.zeros(num_users, np.int64)
            add[order] = 1
        extra += add
        left -= int(add.sum())
    return min_per_user + extra


def item_weights(num_items: int) -> np.ndarray:
    """Popularity of the item of each rank, float64 shape (num_items,), summing to 1."""
    weights = (np.arange(num_items) + POPULARITY_OFFSET) ** -POPULARITY_EXPONENT
    return weights / weights.sum()


def interaction_log(
    num_users: int = ML_20M["users"],
    num_items: int = ML_20M["items"],
    num_interactions: int = ML_20M["interactions"],
    seed: int = 0,
    min_per_user: int = MIN_PER_USER,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded ML-20M-like log (see the module's docstring).

    Args:
        num_users: users, labelled 1..num_users (default: ML-20M's 138,493).
        num_items: items, labelled 1..num_items (default: ML-20M's 26,744);
            in small logs some rare items may never be picked.
        num_interactions: rows, all distinct (user, item) pairs (default:
            ML-20M's 20,000,263).
        seed: the same seed gives the same log.
        min_per_user: the fewest interactions of a user, at least 2 (default
            MIN_PER_USER, 20, as in ML-20M). The same seed and sizes give the
            same log at 20 as before this option existed.

    Returns:
        (users, items, timestamps): int32, int32 and int64 (seconds), each of
        shape (num_interactions,), sorted by user, then item.
    """
    check_sizes(num_users, num_items, num_interactions, min_per_user)
    rng = random_stream(seed, "synthetic")
    counts = user_counts(num_users, num_items, num_interactions, rng, min_per_user)
    weights = item_weights(num_items)
    dense = counts > num_items // _DENSE_FRACTION
    keys = np.concatenate(
        [
            _sparse_picks(np.flatnonzero(~dense), counts, weights, rng),
            _dense_picks(np.flatnonzero(dense), counts, weights, rng),
        ]
    )
    rank_to_item = rng.permutation(num_items).astype(np.int64)
    users, ranks = np.divmod(keys, num_items)
    del keys
    keys = np.sort(users * num_items + rank_to_item[ranks])
    del users, ranks
    users, items = np.divmod(keys, num_items)
    del keys
    users = users.astype(np.int32)
    items = items.astype(np.int32)
    # Each user is active over a random stretch: from a day to the whole period.
    span = np.exp(rng.uniform(np.log(86_400), np.log(_END - _START), num_users))
    start = _START + rng.random(num_users) * (_END - _START - span)
    times = (start[users] + rng.random(len(users)) * span[users]).astype(np.int64)
    return users + 1, items + 1, times


def _sparse_picks(
    users: np.ndarray, counts: np.ndarray, weights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Each user's `counts[u]` distinct items by popularity, for users with few of them.

    Draws with replacement and keeps each user's first new items in draw order,
    which is exactly sampling without replacement; draws again for the users
    still short, more the more of the popularity their items already hold.

    Returns int64 keys user * num_items + rank, shape (counts[users].sum(),), sorted.
    """
    num_items = len(weights)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    guide = np.searchsorted(cdf, np.arange(_GUIDE * num_items) / (_GUIDE * num_items), "right")
    taken = np.zeros(0, np.int64)
    need = counts[users].astype(np.int64)
    mass = np.zeros(len(users))  # popularity held by each user's items so far
    while len(users):
        draws = np.ceil(need / np.maximum(1.0 - mass, 0.02) * 1.1).astype(np.int64) + 4
        owner = np.repeat(np.arange(len(users)), draws)
        ranks = _draw_ranks(cdf, guide, rng.random(len(owner)))
        keys = users[owner] * num_items + ranks
        by_key = np.argsort(keys, kind="stable")  # equal keys stay in draw order
        sorted_keys = keys[by_key]
        first = np.append(True, sorted_keys[1:] != sorted_keys[:-1])
        if len(taken):
            pos = np.minimum(np.searchsorted(taken, sorted_keys), len(taken) - 1)
            first &= taken[pos] != sorted_keys
        fresh = np.sort(by_key[first])  # new distinct picks, back in draw order
        del by_key, sorted_keys, first
        start = np.searchsorted(owner[fresh], np.arange(len(users)))
        place = np.arange(len(fresh)) - start[owner[fresh]]
        fresh = fresh[place < need[owner[fresh]]]
        got = np.bincount(owner[fresh], minlength=len(users))
        mass += np.bincount(owner[fresh], weights[ranks[fresh]], minlength=len(users))
        # Two sorted runs: a stable sort (timsort) merges them in linear time.
        taken = np.sort(np.concatenate([taken, np.sort(keys[fresh])]), kind="stable")
        del owner, ranks, keys, fresh
        need -= got
        short = need > 0
        users, need, mass = users[short], need[short], mass[short]
    return taken


def _draw_ranks(cdf: np.ndarray, guide: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The rank of each uniform `u` (float64 in [0, 1)) by the inverse of `cdf`: the
    first rank whose cdf exceeds u. `guide[b]` is that rank for u = b / len(guide),
    a lower bound for every u of bucket b; a few vectorised steps finish, faster
    than a binary search for each u."""
    ranks = guide[(u * len(guide)).astype(np.int64)]
    todo = np.flatnonzero(cdf[ranks] <= u)
    while len(todo):
        ranks[todo] += 1
        todo = todo[cdf[np.minimum(ranks[todo], len(cdf) - 1)] <= u[todo]]
    return np.minimum(ranks, len(cdf) - 1)


def _dense_picks(
    users: np.ndarray, counts: np.ndarray, weights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Each user's `counts[u]` distinct items by popularity, for users with many of them.

    Exponential keys E / weight, the smallest `counts[u]` of them per user
    (Efraimidis-Spirakis: sampling without replacement), in chunks of at most
    _DENSE_CELLS users x items; these users are few.

    Returns int64 keys user * num_items + rank, shape (counts[users].sum(),).
    """
    num_items = len(weights)
    chunk = max(1, _DENSE_CELLS // num_items)
    picks = [np.zeros(0, np.int64)]
    for begin in range(0, len(users), chunk):
        block = users[begin : begin + chunk]
        ranks = np.argsort(rng.exponential(size=(len(block), num_items)) / weights, axis=1)
        chosen = np.arange(num_items) < counts[block][:, None]
        picks.append((block[:, None] * num_items + ranks)[chosen])
    return np.concatenate(picks)
