"""The `Dataset` form of implicit feedback, and the splits made from an interaction log.

Leave-one-out, as in the paper: a user's latest interaction is the test item,
everything else is training data, and every interaction counts as a positive
(ratings are binarised to 1). The rules for messy logs (time order, duplicate
pairs, users with a single interaction, ids) are in `ncf_keras.data.interaction_log`.

`validation_split` holds out one more item per user, to choose epochs and
settings on without touching the test items. Where the data come from is
`ncf_keras.data.sources`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ncf_keras.data.interaction_log import latest_items, numbered_log, order_key
from ncf_keras.data.sampling import CHUNK, UnseenItems, item_dtype, random_stream
from ncf_keras.errors import DataError

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
        test_negatives: shape (num_users, n): items ranked against the test
            item: n = 99 by default, as in the paper; `--test-negatives` sets it
            for the sources that draw them. Drawn ones are held as
            `sampling.item_dtype(num_items)`: uint16 up to 65,536 items, else int32.
        item_titles: str, shape (num_items,), or None where titles are unknown.
        item_genres: str, shape (num_items,), each item's genres joined by "|"
            ("Animation|Comedy"; "" for none), or None where genres are unknown.
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
    item_genres: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Refuse a split that leaks: a test item in train, or a negative in train."""
        if self.test_items.shape != (self.num_users,):
            raise DataError(
                f"{self.name}: {len(self.test_items)} test items for {self.num_users} users"
            )
        seen = self.train_users.astype(np.int64) * self.num_items + self.train_items
        if len(seen) > 1 and (seen[1:] < seen[:-1]).any():  # sorted as documented: no sort
            seen = np.sort(seen)
        user = _first_user_with_item_in(seen, self.test_items[:, None], self.num_items)
        if user is not None:
            raise DataError(
                f"{self.name}: test item {self.test_items[user]} of user {user} "
                "is also in its training data"
            )
        user = _first_user_with_item_in(seen, self.test_negatives, self.num_items)
        if user is not None:
            raise DataError(f"{self.name}: a test negative of user {user} is in its training data")

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

    def genres(self, item: int) -> tuple[str, ...]:
        """The item's genres, e.g. ("Animation", "Comedy"); () where unknown."""
        if self.item_genres is None or not self.item_genres[item]:
            return ()
        return tuple(str(self.item_genres[item]).split("|"))

    def fingerprint(self) -> dict:
        """What a run records of its data, to refuse other data later.

        Returns {"users", "items", "train_positives", "sha256"}: the sizes, and a
        SHA-256 of the ids, the training pairs and the test items. The test
        negatives are left out: sources that draw them do so from the seed, and
        runs of other seeds on the same data may be combined (pre-training).
        """
        return {
            "users": self.num_users,
            "items": self.num_items,
            "train_positives": len(self.train_users),
            "sha256": self._content_sha256,
        }

    @cached_property
    def _content_sha256(self) -> str:
        """The hex SHA-256 of `fingerprint`, computed once: it reads every id and pair."""
        digest = hashlib.sha256()
        digest.update(np.array([self.num_users, self.num_items], np.int64).tobytes())
        for array in (self.train_users, self.train_items, self.test_items):
            digest.update(np.ascontiguousarray(array, np.int32).tobytes())
        for labels in (self.user_labels, self.item_labels):
            digest.update("\n".join(map(str, labels)).encode())
        return digest.hexdigest()

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
    test_negatives: int = TEST_NEGATIVES,
) -> Dataset:
    """Split an interaction log: each user's latest interaction is held out.

    Args:
        name: the dataset's name.
        users, items: shape (n,): original ids, any hashable dtype (integer ids
            are fastest).
        order: shape (n,): timestamps or positions, later is larger; None means
            file order. Ties are broken by file order.
        seed: seeds the test negatives, drawn uniformly without repeats from
            the items the user never interacted with (train or test).
        item_titles: original item id -> title, where known; a
            `grouplens.Movies` brings the genres too (its `.genres`).
        test_negatives: items each held-out item is ranked against (default
            99, as in the paper; MLPerf uses 999).

    Cost: a hash of the ids, one sort of n int64 (user, item) keys,
    per-user maxima, and the test negatives drawn and checked in blocks: linear
    in n plus the users' negatives, whose array (users x test_negatives of
    `item_dtype(num_items)`) is the only per-user memory beyond a few words.
    """
    users, items = np.asarray(users), np.asarray(items)
    if not len(users):
        raise DataError(f"{name}: no interactions")
    order = None if order is None else order_key(np.asarray(order))
    user_idx, item_idx, user_labels, item_labels, order, seen = numbered_log(
        name, users, items, order
    )
    num_users, num_items = len(user_labels), len(item_labels)
    test_items = latest_items(user_idx, item_idx, order, num_users)
    del user_idx, item_idx, order
    train_users, train_items = _without_test_items(seen, test_items, num_users, num_items)
    unseen = UnseenItems.from_sorted_keys(seen, num_users, num_items)
    del seen
    negatives = _test_negatives(name, unseen, user_labels, test_negatives, seed, num_items)
    del unseen
    titles, genres = _titles_and_genres(item_titles, item_labels)
    return Dataset(
        name,
        num_users,
        num_items,
        train_users,
        train_items,
        test_items,
        negatives,
        np.asarray(user_labels),
        np.asarray(item_labels),
        titles,
        genres,
    )


def _without_test_items(
    seen: np.ndarray, test_items: np.ndarray, num_users: int, num_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """The training pairs (users, items), int32 each: the sorted keys `seen`
    (user * num_items + item) less each user's test item."""
    is_test = np.zeros(len(seen), bool)
    is_test[np.searchsorted(seen, np.arange(num_users) * num_items + test_items)] = True
    train = seen[~is_test]
    return (train // num_items).astype(np.int32), (train % num_items).astype(np.int32)


def _test_negatives(
    name: str,
    unseen: UnseenItems,
    user_labels: np.ndarray,
    test_negatives: int,
    seed: int,
    num_items: int,
) -> np.ndarray:
    """shape (num_users, test_negatives) of `item_dtype(num_items)`: for each user,
    distinct items it never interacted with, drawn from `seed`. DataError naming the
    first user with too few such items."""
    short = np.flatnonzero(unseen.num_unseen < test_negatives)
    if len(short):
        raise DataError(
            f"{name}: user {user_labels[short[0]]} has only {unseen.num_unseen[short[0]]} items "
            f"it never interacted with; the test protocol needs {test_negatives}"
        )
    rng = random_stream(seed, "split")
    users = np.arange(len(user_labels))
    return unseen.sample_distinct(users, test_negatives, rng, item_dtype(num_items))


def _titles_and_genres(
    item_titles: dict | None, item_labels: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Each item's title (its label where unknown) and genres joined by "|", str arrays
    of shape (num_items,), or None where `item_titles` (or its `.genres`) is None."""
    titles = genres = None
    if item_titles is not None:
        titles = np.array([item_titles.get(label, f"item {label}") for label in item_labels])
    if getattr(item_titles, "genres", None) is not None:
        genres = np.array(["|".join(item_titles.genres.get(label, ())) for label in item_labels])
    return titles, genres


def _first_user_with_item_in(seen: np.ndarray, items: np.ndarray, num_items: int) -> int | None:
    """The first user u (row of `items`) with an item in its training data, or None.

    Args:
        seen: int64, sorted: the training pairs' keys user * num_items + item.
        items: ints, shape (num_users, m): row u holds m items of user u.
        num_items: the key's width.

    Each step sorts a block of about `sampling.CHUNK` entries into keys (sorted,
    as the rows are in user order) and looks up the block's users' training
    pairs among them: memory bounded by the block, time linear in the entries
    plus the training pairs.
    """
    rows_per_step = max(1, CHUNK // max(1, items.shape[1]))
    for start in range(0, len(items), rows_per_step):
        stop = min(start + rows_per_step, len(items))
        block = np.sort(items[start:stop].astype(np.int32), axis=1)  # int32 sorts fastest
        keys = (block + np.arange(start, stop, dtype=np.int64)[:, None] * num_items).ravel()
        lo, hi = np.searchsorted(seen, [start * num_items, stop * num_items])
        pairs = seen[lo:hi]
        if not len(keys) or not len(pairs):
            continue
        pos = np.minimum(np.searchsorted(keys, pairs), len(keys) - 1)
        hits = pairs[keys[pos] == pairs]
        if len(hits):
            return int(hits[0] // num_items)
    return None


def validation_split(dataset: Dataset, seed: int = 0) -> Dataset:
    """Hold out one random training item per user, to tune and early-stop on.

    Returns a Dataset with the same ids: its training positives are
    `dataset`'s minus the held-out items, its test items are the held-out
    items, and as many negatives per user as `dataset` has are drawn from the
    items the user never interacted with, in training or test, as the test negatives of a
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
    negatives = never_seen.sample_distinct(
        users, dataset.test_negatives.shape[1], rng, item_dtype(dataset.num_items)
    )
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
        dataset.item_genres,
    )


def sorted_pairs(users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) pairs of non-negative ints, shape (n,) each, sorted by user, then
    item: int32 arrays. One sort of int64 keys, not a lexsort."""
    if not len(users):
        return np.asarray(users, np.int32), np.asarray(items, np.int32)
    width = int(np.max(items)) + 1
    keys = np.sort(np.asarray(users, np.int64) * width + items)
    return (keys // width).astype(np.int32), (keys % width).astype(np.int32)
