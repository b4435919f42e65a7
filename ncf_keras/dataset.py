"""The `Dataset` form of implicit feedback, and the splits made from an interaction log.

Leave-one-out, as in the paper: a user's latest interaction is the test item,
everything else is training data, and every interaction counts as a positive
(ratings are binarised to 1). Rules for messy data:

* **Time order**: by timestamp (or order column); equal timestamps, or no
  timestamp column at all, fall back to file order, the later line being later.
* **Duplicate (user, item) pairs** are collapsed into one interaction at the time
  of the latest occurrence, with a warning. So a test item never reappears in train.
* **Users with fewer than 2 interactions** cannot give both a training and a test
  item: they are dropped, with a warning that counts them.
* **Ids** are renumbered 0.. in order of first appearance; `user_labels` and
  `item_labels` keep the original ids.

`validation_split` holds out one more item per user, to choose epochs and
settings on without touching the test items. Where the data come from is
`ncf_keras.sources`.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ncf_keras.errors import DataError
from ncf_keras.sampling import UnseenItems, random_stream

TEST_NEGATIVES = 99  # items each held-out item is ranked against, as in the paper


@dataclass(frozen=True, eq=False)
class Dataset:
    """A leave-one-out split of implicit feedback.

    Attributes:
        name: a short name, e.g. "ml-1m-ncf".
        num_users, num_items: ids run over 0..num_users-1 and 0..num_items-1.
        train_users, train_items: int32, shape (n_train,): the training
            positives, sorted by user, then item; each pair once.
        test_items: int32, shape (num_users,): each user's held-out item.
        test_negatives: int32, shape (num_users, n): items ranked against the
            test item (n = 99 for every source here).
        item_titles: str, shape (num_items,), or None where titles are unknown.
        user_labels, item_labels: shape (num_users,) and (num_items,): the ids
            as the source file spells them.
    """

    name: str
    num_users: int
    num_items: int
    train_users: np.ndarray
    train_items: np.ndarray
    test_items: np.ndarray
    test_negatives: np.ndarray
    user_labels: np.ndarray
    item_labels: np.ndarray
    item_titles: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Refuse a split that leaks: a test item in train, or a negative in train."""
        users = np.arange(self.num_users)
        seen = np.sort(self.train_users.astype(np.int64) * self.num_items + self.train_items)

        def in_train(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            keys = u.astype(np.int64) * self.num_items + i
            pos = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
            return seen[pos] == keys

        if self.test_items.shape != (self.num_users,):
            raise DataError(
                f"{self.name}: {len(self.test_items)} test items for {self.num_users} users"
            )
        leak = in_train(users, self.test_items)
        if leak.any():
            u = int(np.argmax(leak))
            raise DataError(
                f"{self.name}: test item {self.test_items[u]} of user {u} "
                "is also in its training data"
            )
        rows = np.repeat(users, self.test_negatives.shape[1])
        leak = in_train(rows, self.test_negatives.ravel())
        if leak.any():
            u = int(rows[np.argmax(leak)])
            raise DataError(f"{self.name}: a test negative of user {u} is in its training data")

    @cached_property
    def user_offsets(self) -> np.ndarray:
        """int64, shape (num_users + 1,): user u's training positives are rows
        `user_offsets[u]:user_offsets[u + 1]` of train_users / train_items."""
        return np.searchsorted(self.train_users, np.arange(self.num_users + 1))

    @cached_property
    def unseen_in_train(self) -> UnseenItems:
        """Sampler over the items each user has no training interaction with."""
        return UnseenItems(self.train_users, self.train_items, self.num_users, self.num_items)

    def history(self, user: int) -> np.ndarray:
        """The training items of one user, int32, sorted."""
        return self.train_items[self.user_offsets[user] : self.user_offsets[user + 1]]

    def title(self, item: int) -> str:
        """The item's title where known, else its original id."""
        if self.item_titles is not None:
            return str(self.item_titles[item])
        return f"item {self.item_labels[item]}"

    def fingerprint(self) -> dict:
        """What a run records of its data, to refuse other data later.

        Returns {"users", "items", "train_positives", "sha256"}: the sizes, and a
        SHA-256 of the ids, the training pairs and the test items. The test
        negatives are left out: sources that draw them do so from the seed, and
        runs of other seeds on the same data may be combined (pre-training).
        """
        digest = hashlib.sha256()
        digest.update(np.array([self.num_users, self.num_items], np.int64).tobytes())
        for array in (self.train_users, self.train_items, self.test_items):
            digest.update(np.ascontiguousarray(array, np.int32).tobytes())
        for labels in (self.user_labels, self.item_labels):
            digest.update("\n".join(map(str, labels)).encode())
        return {
            "users": self.num_users,
            "items": self.num_items,
            "train_positives": len(self.train_users),
            "sha256": digest.hexdigest(),
        }

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: {self.num_users:,} users, {self.num_items:,} items, "
            f"{len(self.train_users):,} training positives, "
            f"{self.test_negatives.shape[1]} test negatives per user)"
        )


def leave_one_out(
    name: str,
    users: np.ndarray,
    items: np.ndarray,
    order: np.ndarray | None,
    seed: int,
    item_titles: dict | None = None,
) -> Dataset:
    """Split an interaction log: each user's latest interaction is held out.

    Args:
        name: the dataset's name.
        users, items: shape (n,): original ids, any hashable dtype.
        order: shape (n,): timestamps or positions, later is larger; None means
            file order. Ties are broken by file order.
        seed: seeds the 99 test negatives, drawn uniformly without repeats
            from the items the user never interacted with (train or test).
        item_titles: original item id -> title, where known.
    """
    line = np.arange(len(users))
    order = line if order is None else np.asarray(order)
    user_idx, user_labels = pd.factorize(users)
    item_idx, item_labels = pd.factorize(items)

    # Keep the latest occurrence of each (user, item): scan (user, time, line) backwards.
    rows = np.lexsort((line, order, user_idx))
    keys = user_idx[rows].astype(np.int64) * len(item_labels) + item_idx[rows]
    _, last_from_end = np.unique(keys[::-1], return_index=True)
    keep = np.zeros(len(users), bool)
    keep[rows[len(rows) - 1 - last_from_end]] = True
    if not keep.all():
        warnings.warn(
            f"{name}: collapsed {(~keep).sum():,} duplicate (user, item) rows "
            "into their latest occurrence",
            stacklevel=2,
        )
    few = np.bincount(user_idx[keep], minlength=len(user_labels))[user_idx] < 2
    if (few & keep).any():
        warnings.warn(
            f"{name}: dropped {len(np.unique(user_idx[few & keep])):,} users with fewer than 2 "
            "interactions (leave-one-out needs one to train on and one to test)",
            stacklevel=2,
        )
        keep &= ~few
        if not keep.any():
            raise DataError(f"{name}: no user has 2 or more interactions")
    if not keep.all():  # renumber what is left, still in order of first appearance
        user_idx, user_labels = pd.factorize(user_labels[user_idx[keep]])
        item_idx, item_labels = pd.factorize(item_labels[item_idx[keep]])
        line, order = line[keep], order[keep]
    num_items = len(item_labels)

    # Sort by (user, time, line): each user's last row is the test item.
    rows = np.lexsort((line, order, user_idx))
    user_idx, item_idx = user_idx[rows], item_idx[rows]
    num_users = len(user_labels)
    is_last = np.append(user_idx[1:] != user_idx[:-1], True)
    test_items = item_idx[is_last].astype(np.int32)
    train_users, train_items = sorted_pairs(user_idx[~is_last], item_idx[~is_last])
    seen = UnseenItems(user_idx, item_idx, num_users, num_items)
    rng = random_stream(seed, "split")
    short = np.flatnonzero(seen.num_unseen < TEST_NEGATIVES)
    if len(short):
        raise DataError(
            f"{name}: user {user_labels[short[0]]} has only {seen.num_unseen[short[0]]} items "
            f"it never interacted with; the test protocol needs {TEST_NEGATIVES}"
        )
    test_negatives = seen.sample_distinct(np.arange(num_users), TEST_NEGATIVES, rng)
    titles = None
    if item_titles is not None:
        titles = np.array([item_titles.get(label, f"item {label}") for label in item_labels])
    return Dataset(
        name,
        num_users,
        num_items,
        train_users,
        train_items,
        test_items,
        test_negatives,
        np.asarray(user_labels),
        np.asarray(item_labels),
        titles,
    )


def validation_split(dataset: Dataset, seed: int = 0) -> Dataset:
    """Hold out one random training item per user, to tune and early-stop on.

    Returns a Dataset with the same ids: its training positives are
    `dataset`'s minus the held-out items, its test items are the held-out
    items, and its 99 negatives are drawn from the items the user never
    interacted with, in training or test, as the test negatives of a
    leave-one-out split are. The real test items are used only to keep them out
    of those negatives. Raises DataError if a user has fewer than 2 training items.
    """
    counts = np.diff(dataset.user_offsets)
    if counts.min() < 2:
        user = int(np.argmin(counts))
        raise DataError(
            f"{dataset.name}: user {user} has {counts[user]} training items; "
            "a validation hold-out needs at least 2"
        )
    rng = random_stream(seed, "validation")
    held = dataset.user_offsets[:-1] + (rng.random(dataset.num_users) * counts).astype(np.int64)
    keep = np.ones(len(dataset.train_users), bool)
    keep[held] = False
    users = np.arange(dataset.num_users)
    never_seen = UnseenItems(
        np.concatenate([dataset.train_users, users]),
        np.concatenate([dataset.train_items, dataset.test_items]),
        dataset.num_users,
        dataset.num_items,
    )
    negatives = never_seen.sample_distinct(users, dataset.test_negatives.shape[1], rng)
    return Dataset(
        f"{dataset.name} (validation)",
        dataset.num_users,
        dataset.num_items,
        dataset.train_users[keep],
        dataset.train_items[keep],
        dataset.train_items[held],
        negatives,
        dataset.user_labels,
        dataset.item_labels,
        dataset.item_titles,
    )


def sorted_pairs(users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((items, users))
    return users[order].astype(np.int32), items[order].astype(np.int32)
