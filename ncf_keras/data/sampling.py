"""Uniform negative sampling: items a user has not interacted with.

The classic NCF code draws an item, looks it up in a per-user set and retries
on a hit, one row at a time in Python. Here the draw is exact and vectorised:
for a user with `d` positives, draw a rank `r` uniformly from the
`num_items - d` unseen items, then map the rank to the r-th unseen item with
one `np.searchsorted` over all users' sorted positives. No retries, no Python
loop over rows or users, and memory linear in the number of positives.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ncf_keras.errors import ArgumentError, DataError

STREAMS = {"split": 1, "validation": 2, "synthetic": 3, "users": 4}
CHUNK = 1 << 21  # rows per vectorised step of a large draw: bounds the temporaries
FEW_SEEN = 8  # users with at most this many seen items skip the binary search


def item_dtype(num_items: int) -> np.dtype:
    """The smallest dtype that holds every item id below `num_items`.

    uint16 up to 65,536 items (ML-1M to ML-25M), else int32: an epoch's rows
    then take 2 bytes per item id instead of 4.
    """
    return np.dtype(np.uint16 if num_items <= 1 << 16 else np.int32)


def random_stream(seed: int, purpose: str, epoch: int = 0) -> np.random.Generator:
    """The random generator for one use of `seed`; no two uses share their draws.

    `purpose` "epoch" gives that epoch's training negatives, keyed [seed, epoch].
    "split" (a leave-one-out split's test negatives), "validation" (the
    validation hold-out), "synthetic" (the synthetic data) and "users" (a sample
    of users to evaluate on) are keyed [seed, 0, 1] to [seed, 0, 4]. NumPy pads seed words with
    zeros, so [seed, e] is [seed, e, 0] and `default_rng(seed)` is epoch 0's
    generator: the non-zero third word keeps these apart from every epoch.
    """
    if purpose == "epoch":
        return np.random.default_rng([seed, epoch])
    return np.random.default_rng([seed, 0, STREAMS[purpose]])


class UnseenItems:
    """Draws items uniformly from those each user has *not* interacted with.

    Args:
        users, items: int arrays, shape (n,): the (user, item) pairs that count
            as seen. Duplicate pairs are not allowed.
        num_users, num_items: id ranges.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, num_users: int, num_items: int):
        keys = np.asarray(users, np.int64) * num_items + np.asarray(items, np.int64)
        if len(keys) > 1 and (keys[1:] < keys[:-1]).any():
            keys = np.sort(keys)  # one sort of int64 keys: much faster than a lexsort
        self._build(keys, num_users, num_items)

    @classmethod
    def from_sorted_keys(cls, keys: np.ndarray, num_users: int, num_items: int) -> UnseenItems:
        """The sampler for seen pairs given as sorted, distinct int64 keys
        `user * num_items + item`, shape (n,): no sort at all."""
        unseen = cls.__new__(cls)
        unseen._build(keys, num_users, num_items)
        return unseen

    def _build(self, keys: np.ndarray, num_users: int, num_items: int) -> None:
        users, items = np.divmod(keys, num_items)
        self.num_items = num_items
        self.offsets = np.searchsorted(users, np.arange(num_users + 1))
        self.num_unseen = num_items - np.diff(self.offsets)
        # The j-th seen item of a user (0-based, ascending) has `item - j` unseen
        # items below it. Keyed by user, these counts are sorted, so the r-th unseen
        # item is r + (number of seen items whose count is <= r).
        below = items - (np.arange(len(items)) - self.offsets[users])
        self._keys = users * num_items + below

    def seen_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, below), int32, shapes (num_users + 1,) and (seen pairs,).

        User u's seen items, ascending, are entries offsets[u]:offsets[u + 1];
        below[j] counts the unseen items below the j-th of them. The r-th
        unseen item of u is r + #{j of u : below[j] <= r}.
        """
        users = np.repeat(np.arange(len(self.num_unseen), dtype=np.int64), np.diff(self.offsets))
        below = self._keys - users * self.num_items
        return self.offsets.astype(np.int32), below.astype(np.int32)

    def sample(
        self, users: np.ndarray, rng: np.random.Generator, dtype: npt.DTypeLike = np.int32
    ) -> np.ndarray:
        """One unseen item per entry of `users` (shape (n,)), drawn with replacement.

        Returns item ids of `dtype` (default int32), shape (n,). Raises
        DataError if some user has seen every item. Works through `users` in
        chunks of `CHUNK`, so its temporaries stay small; the draws are the
        same as in one piece.
        """
        users = np.asarray(users)
        drawn = np.empty(len(users), dtype)
        for start in range(0, len(users), CHUNK):
            part = slice(start, start + CHUNK)
            drawn[part] = self._sample_chunk(users[part].astype(np.int64), rng)
        return drawn

    def _sample_chunk(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        available = self.num_unseen[users]
        if len(users) and available.min() <= 0:
            user = users[np.argmin(available)]
            raise DataError(
                f"user {user} has interacted with all {self.num_items} items; "
                "no negative can be drawn"
            )
        ranks = (rng.random(len(users)) * available).astype(np.int64)  # uniform in [0, available)
        queries = users * self.num_items + ranks
        return ranks + self._seen_up_to(users, queries, self.num_items - available)

    def _seen_up_to(self, users: np.ndarray, queries: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """For each query `user * num_items + r`, how many of the user's seen items
        have at most r unseen items below them; `seen` counts each user's seen items.

        Users with up to `FEW_SEEN` seen items compare with each in turn (a few
        passes over the queries); the others take one `searchsorted` over every
        user's keys, which costs some 20 random reads a query. Int64, shape (n,).
        """
        few = seen <= FEW_SEEN
        if not few.any():
            return self._search_many(users, queries)
        counted = np.empty(len(queries), np.int64)
        some = np.flatnonzero(few) if not few.all() else slice(None)
        first, width, target = self.offsets[users[some]], seen[some], queries[some]
        found = np.zeros(len(target), np.int64)
        for j in range(int(width.max())):
            at = np.minimum(first + j, len(self._keys) - 1)
            found += (width > j) & (self._keys[at] <= target)
        counted[some] = found
        if few.all():
            return counted
        many = np.flatnonzero(~few)
        counted[many] = self._search_many(users[many], queries[many])
        return counted

    def _search_many(self, users: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """`_seen_up_to` by one `searchsorted` over every user's keys. Int64, shape (n,)."""
        if len(users) > 1 and (users[1:] < users[:-1]).any():
            # Queries grouped by user make searchsorted much faster on large
            # data (it stays within one user's keys); callers mostly pass them grouped.
            rank = np.argsort(queries, kind="stable")
            seen_below = np.empty(len(queries), np.int64)
            seen_below[rank] = np.searchsorted(self._keys, queries[rank], side="right")
        else:
            seen_below = np.searchsorted(self._keys, queries, side="right")
        return seen_below - self.offsets[users]

    def sample_distinct(
        self,
        users: np.ndarray,
        n: int,
        rng: np.random.Generator,
        dtype: npt.DTypeLike = np.int32,
    ) -> np.ndarray:
        """`n` distinct unseen items for each entry of `users`: shape (len(users), n).

        Each row is a uniform random n-subset of that user's unseen items, in
        random order, of `dtype` (default int32; `item_dtype(num_items)` halves
        it up to 65,536 items). Raises DataError if a user has fewer than `n`
        unseen items. Works through the rows in chunks of about `CHUNK` items:
        besides the result, memory stays bounded whatever the number of users,
        and the draws are those of one piece.
        """
        users = np.asarray(users, np.int64)
        short = self.num_unseen[users] < n
        if short.any():
            user = users[short][0]
            raise DataError(
                f"user {user} has only {self.num_unseen[user]} unseen items; "
                f"cannot draw {n} distinct negatives"
            )
        drawn = np.empty((len(users), n), dtype)
        step = max(1, CHUNK // max(n, 1))
        repeats = []
        for start in range(0, len(users), step):
            rows = drawn[start : start + step]
            rows.reshape(-1)[:] = self._sample_chunk(np.repeat(users[start : start + step], n), rng)
            ranked = np.sort(rows.astype(np.int32, copy=False), axis=1)  # int32 sorts fastest
            repeats.append(start + np.flatnonzero((ranked[:, 1:] == ranked[:, :-1]).any(axis=1)))
        self._redraw_repeats(drawn, users, np.concatenate([np.zeros(0, np.int64), *repeats]), rng)
        return drawn

    def _redraw_repeats(
        self, drawn: np.ndarray, users: np.ndarray, active: np.ndarray, rng: np.random.Generator
    ) -> None:
        """Redraw repeats in the `active` rows of `drawn` until every row is distinct.

        Symmetric, so still uniform. Only rows that had a repeat are looked at
        again: the draws are those of redrawing repeats over the whole matrix,
        in row-major order, at a fraction of the cost.
        """
        while len(active):
            rows = drawn[active]
            order = np.argsort(rows, axis=1, kind="stable")
            ranked = np.take_along_axis(rows, order, axis=1)
            repeat = np.zeros_like(rows, dtype=bool)
            np.put_along_axis(repeat, order[:, 1:], ranked[:, 1:] == ranked[:, :-1], axis=1)
            has_repeat = repeat.any(axis=1)
            active, rows, repeat = active[has_repeat], rows[has_repeat], repeat[has_repeat]
            if len(active):
                owners = np.broadcast_to(users[active][:, None], rows.shape)
                rows[repeat] = self.sample(owners[repeat], rng, drawn.dtype)
                drawn[active] = rows


def training_instances(
    users: np.ndarray,
    items: np.ndarray,
    unseen: UnseenItems,
    negatives: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One epoch of pointwise training rows: each positive plus `negatives` sampled items.

    Args:
        users, items: the training positives, shape (n,).
        unseen: sampler over the items each user has not interacted with in training.
        negatives: negatives per positive (the paper uses 4).
        rng: source of randomness; the same state gives the same rows.

    Returns:
        (users, items, labels), each of shape (n * (1 + negatives),), shuffled:
        int32 users, items as `item_dtype(unseen.num_items)` (uint16 up to
        65,536 items) and bool labels (True for a positive): 7 bytes per row,
        9 beyond 65,536 items.

    Row r of the unshuffled epoch is positive r for r < n, else a negative of
    positive (r - n) // negatives. Only the negatives' items and the shuffled
    order are held besides the result: about 13 bytes per row at the peak.
    """
    if negatives < 0:
        raise ArgumentError("negatives", f"must be >= 0, got {negatives}")
    dtype = item_dtype(unseen.num_items)
    users = np.asarray(users, np.int32)
    items = np.asarray(items, dtype)
    negative_items = unseen.sample(np.repeat(users, negatives), rng, dtype)
    rows = len(users) * (1 + negatives)
    # rng.shuffle of an arange draws what rng.permutation draws, in half the memory.
    order = np.arange(rows, dtype=np.int32 if rows < 2**31 else np.int64)
    rng.shuffle(order)
    out_users = np.empty(rows, np.int32)
    out_items = np.empty(rows, dtype)
    labels = np.empty(rows, bool)
    for start in range(0, rows, CHUNK):
        part = slice(start, start + CHUNK)
        row = order[part]
        positive = row < len(users)
        owner = row.copy()  # the positive each row belongs to
        negative = np.flatnonzero(~positive)
        owner[negative] = (row[negative] - len(users)) // negatives
        out_users[part] = users[owner]
        out_items[part] = items[owner]
        out_items[part][negative] = negative_items[row[negative] - len(users)]
        labels[part] = positive
    return out_users, out_items, labels
