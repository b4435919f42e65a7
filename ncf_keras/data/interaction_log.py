"""An interaction log made fit for leave-one-out: ids numbered, faults mended, times ordered.

`numbered_log` applies the rules for messy data, `latest_items` finds each
user's test item, and `order_key` makes any time column sortable:

* **Time order**: by timestamp (or order column); equal timestamps, or no
  timestamp column at all, fall back to file order, the later line being later.
* **Duplicate (user, item) pairs** are collapsed into one interaction at the time
  of the latest occurrence, with a warning. So a test item never reappears in train.
* **Users with fewer than 2 interactions** cannot give both a training and a test
  item: they are dropped, with a warning that counts them.
* **Ids** are renumbered 0.. in order of first appearance; `user_labels` and
  `item_labels` keep the original ids.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ncf_keras.errors import DataError


def numbered_log(
    name: str, users: np.ndarray, items: np.ndarray, order: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """The log with ids numbered 0.. in order of first appearance, made fit to split.

    Duplicate (user, item) rows are collapsed into their latest occurrence and
    users with fewer than 2 interactions dropped, each with a warning; what is
    left is numbered again.

    Returns (user_idx, item_idx, user_labels, item_labels, order, seen): the
    kept rows' numbers and times, shape (n',) each; the original ids of the
    numbers; and `seen`, int64, the distinct keys user * num_items + item, sorted.
    """
    user_idx, user_labels = pd.factorize(users)
    item_idx, item_labels = pd.factorize(items)
    num_users, num_items = len(user_labels), len(item_labels)
    keys = user_idx.astype(np.int64) * num_items + item_idx
    seen = _distinct(keys)  # each (user, item) once, sorted by user, then item
    keep = None
    if len(seen) < len(users):
        warnings.warn(
            f"{name}: collapsed {len(users) - len(seen):,} duplicate (user, item) rows "
            "into their latest occurrence",
            stacklevel=3,
        )
        keep = _latest_occurrences(keys, order)
    del keys
    few = np.bincount(seen // num_items, minlength=num_users) < 2
    if few.any():
        warnings.warn(
            f"{name}: dropped {int(few.sum()):,} users with fewer than 2 "
            "interactions (leave-one-out needs one to train on and one to test)",
            stacklevel=3,
        )
        keep = ~few[user_idx] if keep is None else keep & ~few[user_idx]
        if not keep.any():
            raise DataError(f"{name}: no user has 2 or more interactions")
    if keep is not None:  # renumber what is left, still in order of first appearance
        user_idx, first = pd.factorize(user_idx[keep])
        user_labels = user_labels[first]
        item_idx, first = pd.factorize(item_idx[keep])
        item_labels = item_labels[first]
        order = None if order is None else order[keep]
        seen = np.sort(user_idx.astype(np.int64) * len(item_labels) + item_idx)
    return user_idx, item_idx, user_labels, item_labels, order, seen


def latest_items(
    user_idx: np.ndarray, item_idx: np.ndarray, order: np.ndarray | None, num_users: int
) -> np.ndarray:
    """int32, shape (num_users,): each user's latest item: of the rows with the
    largest `order` (None: all rows), the last in the file.

    Duplicates need no sorting: the latest row is the latest occurrence of its pair.
    """
    line = np.arange(len(user_idx))
    if order is not None:
        top = np.full(num_users, order.min(), order.dtype)
        np.maximum.at(top, user_idx, order)
        line = np.flatnonzero(order == top[user_idx])
    last = np.zeros(num_users, np.int64)
    np.maximum.at(last, user_idx[line], line)
    return item_idx[last].astype(np.int32)


def _distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct values of int64 `keys`, sorted: np.unique without its hash
    table, which is much slower on large logs (benchmarks/README.md)."""
    keys = np.sort(keys)
    return keys[np.append(True, keys[1:] != keys[:-1])] if len(keys) else keys


def _latest_occurrences(keys: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """bool, shape (n,): whether each row is the latest of the rows with its key,
    by `order` (None: file order), ties by file order. Two stable sorts."""
    rows = np.arange(len(keys)) if order is None else np.argsort(order, kind="stable")
    rows = rows[np.argsort(keys[rows], kind="stable")]  # by key, then order, then line
    sorted_keys = keys[rows]
    latest = np.zeros(len(keys), bool)
    latest[rows[np.append(sorted_keys[1:] != sorted_keys[:-1], True)]] = True
    return latest


def order_key(order: np.ndarray) -> np.ndarray:
    """Times as numbers that sort the same: numbers as they are, datetimes as int64,
    anything else (e.g. ISO strings) by its rank."""
    if order.dtype.kind in "iuf":
        return order
    if order.dtype.kind in "mM":
        return order.view(np.int64)
    if order.dtype.kind == "b":
        return order.astype(np.int8)
    return np.unique(order, return_inverse=True)[1].reshape(-1)
