"""Datasets of implicit feedback, all loaded into one in-memory form: `Dataset`.

Four sources, one form:

* `"ml-1m"`: GroupLens MovieLens-1M, split here by leave-one-out.
* `"ml-1m-ncf"`: the NCF paper's own split of ML-1M, with its 99 test negatives.
* `"synthetic"`: a seeded generator with planted latent structure.
* a path: the user's own CSV or TSV file of (user, item[, rating[, timestamp]]).

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

Data folder: `data_dir` argument, else `$NCF_DATA_DIR`, else `data/`. Files
already there are used as they are (a pre-placed copy is trusted without its
hash); anything missing is downloaded and verified (see `ncf_keras.download`).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ncf_keras.download import RemoteFile, extract_zip, fetch
from ncf_keras.errors import DataError
from ncf_keras.sampling import UnseenItems, random_stream

TEST_NEGATIVES = 99

ML_1M_ZIP = RemoteFile(
    url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
    filename="ml-1m.zip",
    md5="c4d9eecfca2ab87c1945afe126590906",
    sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
)
_NCF_URL = (
    "https://raw.githubusercontent.com/hexiangnan/neural_collaborative_filtering/master/Data/"
)
NCF_FILES = {
    "train": RemoteFile(
        _NCF_URL + "ml-1m.train.rating",
        "ml-1m.train.rating",
        git_blob_sha1="31ba384fd58dac8fbd09d2dfc6616431f3563ab5",
    ),
    "test": RemoteFile(
        _NCF_URL + "ml-1m.test.rating",
        "ml-1m.test.rating",
        sha256="231ae11eb060b643a8c58c063cd17ffc743b54f569afb073d1abb6cf126b88b5",
    ),
    "negative": RemoteFile(
        _NCF_URL + "ml-1m.test.negative",
        "ml-1m.test.negative",
        sha256="127853228a76b7d21c0481e8ef8d00dd009cd5c88670dbdd9e9debfdb9f93de4",
    ),
}


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

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: {self.num_users:,} users, {self.num_items:,} items, "
            f"{len(self.train_users):,} training positives, "
            f"{self.test_negatives.shape[1]} test negatives per user)"
        )


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: `data_dir`, else `$NCF_DATA_DIR`, else `data/`."""
    return Path(data_dir or os.environ.get("NCF_DATA_DIR") or "data")


NAMED_DATASETS = ("ml-1m", "ml-1m-ncf", "synthetic")


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, seed: int = 0) -> Dataset:
    """Load "ml-1m", "ml-1m-ncf", "synthetic" or a path to an interactions file.

    `seed` draws the test negatives where the source does not fix them.
    """
    if name == "ml-1m":
        return movielens_1m(data_dir, seed)
    if name == "ml-1m-ncf":
        return movielens_1m_ncf(data_dir)
    if name == "synthetic":
        return synthetic(seed=seed)
    if Path(name).is_file():
        return from_file(name, seed)
    raise DataError(
        f"unknown dataset {name!r}: use {', '.join(NAMED_DATASETS)} "
        "or the path of an existing CSV/TSV file"
    )


# --- Leave-one-out from an interaction log ----------------------------------


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
    train_users, train_items = _sorted_pairs(user_idx[~is_last], item_idx[~is_last])
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


def _sorted_pairs(users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((items, users))
    return users[order].astype(np.int32), items[order].astype(np.int32)


# --- Reading tables with exact error messages --------------------------------


def _read_table(
    source, label: str, sep: str, fields: int, header: bool = False, numeric: tuple[int, ...] = ()
) -> pd.DataFrame:
    """Read a delimited table of exactly `fields` columns with pandas' C parser.

    `numeric` columns must all be numbers. Errors name `label` and the line.
    """
    try:
        df = pd.read_csv(
            source,
            sep=sep,
            header=None,
            skiprows=int(header),
            dtype=None,
            skip_blank_lines=False,
            engine="c",
            quoting=3,
        )
    except pd.errors.ParserError as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if m:
            line, saw = int(m[2]), int(m[3])
            if int(m[1]) != fields:  # pandas took the count from the first line: it is at fault
                line, saw = 1 + int(header), int(m[1])
            raise DataError(f"{label}: line {line}: expected {fields} fields, saw {saw}") from None
        raise DataError(f"{label}: cannot parse ({e})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{label}: the file is empty") from None
    except UnicodeDecodeError:
        line = _first_non_utf8_line(source)
        raise DataError(f"{label}: line {line}: not UTF-8 text; save it as UTF-8") from None
    if df.shape[1] != fields:
        raise DataError(
            f"{label}: line {1 + int(header)}: expected {fields} fields, saw {df.shape[1]}"
        )
    filled = df.notna().any(axis=1).to_numpy()
    if len(df) and not filled[-1]:  # blank lines at the end of the file: drop them
        df = df.iloc[: filled.nonzero()[0][-1] + 1 if filled.any() else 0]
        for col in df.columns[df.dtypes == np.float64]:  # the blanks made int columns float
            if (df[col] % 1 == 0).all():
                df[col] = df[col].astype(np.int64)
    missing = df.isna().any(axis=1).to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        raise DataError(
            f"{label}: line {row + 1 + int(header)}: expected {fields} non-empty fields, "
            f"saw {df.iloc[row].notna().sum()}"
        )
    for col in numeric:
        if not pd.api.types.is_numeric_dtype(df[col]):
            bad = pd.to_numeric(df[col], errors="coerce").isna().to_numpy()
            row = int(np.argmax(bad))
            raise DataError(
                f"{label}: line {row + 1 + int(header)}: field {col + 1} "
                f"is not a number: {df[col].iloc[row]!r}"
            )
    return df


def _first_non_utf8_line(source) -> int:
    """The 1-based line of the first bytes that are not UTF-8, in a path or BytesIO."""
    if isinstance(source, io.BytesIO):
        data = source.getvalue()
    else:
        with (gzip.open if str(source).endswith(".gz") else open)(source, "rb") as f:
            data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return data.count(b"\n", 0, e.start) + 1
    return 1


def _int_column(df: pd.DataFrame, col: int, label: str, header: bool = False) -> np.ndarray:
    values = df[col].to_numpy()
    if not np.issubdtype(values.dtype, np.integer):
        bad = np.flatnonzero(values != np.floor(values))
        if len(bad):
            raise DataError(
                f"{label}: line {bad[0] + 1 + int(header)}: field {col + 1} "
                f"is not an integer: {values[bad[0]]!r}"
            )
    if len(values) and values.min() < 0:
        row = int(np.argmin(values))
        raise DataError(
            f"{label}: line {row + 1 + int(header)}: field {col + 1} is negative: {values[row]!r}"
        )
    return values.astype(np.int64)


def read_movies(path: Path) -> dict[int, str]:
    """MovieLens `movies.dat` (MovieID::Title::Genres, latin-1) -> {MovieID: title}."""
    titles = {}
    with open(path, encoding="latin-1") as f:
        for number, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("::")
            if len(parts) != 3 or not parts[0].isdigit():
                raise DataError(f"{path}: line {number}: expected MovieID::Title::Genres")
            titles[int(parts[0])] = parts[1]
    return titles


def read_ratings(path: Path) -> pd.DataFrame:
    """MovieLens `ratings.dat` (UserID::MovieID::Rating::Timestamp) as integer columns.

    Replaces "::" by a tab and parses with pandas' C engine: ~0.5 s for ML-1M,
    where `sep="::"` forces pandas' slow Python engine.
    """
    data = Path(path).read_bytes().replace(b"::", b"\t")
    df = _read_table(io.BytesIO(data), str(path), "\t", 4, numeric=(0, 1, 2, 3))
    return pd.DataFrame(
        {
            name: _int_column(df, col, str(path))
            for col, name in enumerate(["user", "item", "rating", "timestamp"])
        }
    )


# --- The sources ---------------------------------------------------------------


def _movie_titles(folder: Path) -> dict[int, str] | None:
    for subfolder in ("ml-1m", "ml-1m-interactions"):
        candidate = folder / subfolder / "movies.dat"
        if candidate.is_file():
            return read_movies(candidate)
    return None


def movielens_1m(data_dir: str | os.PathLike | None = None, seed: int = 0) -> Dataset:
    """GroupLens MovieLens-1M, split by leave-one-out on timestamps.

    Looks in the data folder for, in order: `ml-1m/ratings.dat`; `ml-1m.zip`
    (extracted); `ml-1m-interactions/interactions.tsv.gz` (UserID, MovieID, seq:
    the same interactions, time-ordered by `seq`). With none of them, downloads
    `ml-1m.zip` from GroupLens and verifies its md5 and sha256.
    """
    folder = resolve_data_dir(data_dir)
    ratings = folder / "ml-1m" / "ratings.dat"
    interactions = folder / "ml-1m-interactions" / "interactions.tsv.gz"
    if not ratings.is_file() and (
        (folder / ML_1M_ZIP.filename).is_file() or not interactions.is_file()
    ):
        archive = fetch(ML_1M_ZIP, folder)
        extract_zip(
            archive,
            {"ml-1m/ratings.dat": ratings, "ml-1m/movies.dat": folder / "ml-1m" / "movies.dat"},
        )
    if ratings.is_file():
        df = read_ratings(ratings)
        return leave_one_out(
            "ml-1m",
            df["user"].to_numpy(),
            df["item"].to_numpy(),
            df["timestamp"].to_numpy(),
            seed,
            _movie_titles(folder),
        )
    return from_file(interactions, seed, name="ml-1m", item_titles=_movie_titles(folder))


def movielens_1m_ncf(data_dir: str | os.PathLike | None = None) -> Dataset:
    """The NCF paper's split of ML-1M (He et al. 2017), with its 99 negatives as given.

    Reads `ml-1m-ncf/ml-1m.{train.rating,test.rating,test.negative}` from the
    data folder, downloading and verifying any that are missing. Titles come
    from `ml-1m-ncf/item_map.tsv` (NCF item -> MovieID) and a `movies.dat`,
    when both are present.
    """
    folder = resolve_data_dir(data_dir) / "ml-1m-ncf"
    paths = {key: fetch(remote, folder) for key, remote in NCF_FILES.items()}

    train = _read_table(paths["train"], str(paths["train"]), "\t", 4, numeric=(0, 1))
    test = _read_table(paths["test"], str(paths["test"]), "\t", 4, numeric=(0, 1))
    negative = _read_table(
        paths["negative"],
        str(paths["negative"]),
        "\t",
        1 + TEST_NEGATIVES,
        numeric=tuple(range(1, 1 + TEST_NEGATIVES)),
    )
    train_users = _int_column(train, 0, str(paths["train"]))
    train_items = _int_column(train, 1, str(paths["train"]))
    test_users = _int_column(test, 0, str(paths["test"]))
    test_items = _int_column(test, 1, str(paths["test"]))
    pairs = negative[0].astype(str).str.extract(r"^\((\d+),(\d+)\)$")
    if pairs.isna().any(axis=None):
        row = int(np.argmax(pairs.isna().any(axis=1).to_numpy()))
        raise DataError(
            f"{paths['negative']}: line {row + 1}: expected '(user,item)' first, "
            f"saw {negative[0].iloc[row]!r}"
        )
    negatives = np.stack(
        [_int_column(negative, c, str(paths["negative"])) for c in range(1, 1 + TEST_NEGATIVES)],
        axis=1,
    )

    num_users = len(test_users)
    if not np.array_equal(test_users, np.arange(num_users)):
        row = int(np.argmax(test_users != np.arange(num_users)))
        raise DataError(
            f"{paths['test']}: line {row + 1}: expected user {row}, "
            f"saw {test_users[row]} (one test row per user, in order)"
        )
    if not (
        np.array_equal(pairs[0].astype(np.int64), test_users)
        and np.array_equal(pairs[1].astype(np.int64), test_items)
    ):
        raise DataError(f"{paths['negative']}: its (user,item) pairs differ from {paths['test']}")
    if train_users.max() >= num_users:
        row = int(np.argmax(train_users >= num_users))
        raise DataError(
            f"{paths['train']}: line {row + 1}: user {train_users[row]} has no test row"
        )
    keys = np.unique(train_users * (1 << 32) + train_items, return_counts=True)[1]
    if (keys > 1).any():
        raise DataError(f"{paths['train']}: contains duplicate (user, item) pairs")
    num_items = int(max(train_items.max(), test_items.max(), negatives.max())) + 1

    titles = None
    item_map = folder / "item_map.tsv"
    movies = _movie_titles(folder.parent)
    if item_map.is_file() and movies is not None:
        mapping = _read_table(item_map, str(item_map), "\t", 3, header=True, numeric=(0, 1, 2))
        movie_of = dict(zip(mapping[0].tolist(), mapping[1].tolist(), strict=True))
        titles = np.array([movies.get(movie_of.get(i, -1), f"item {i}") for i in range(num_items)])

    train_users, train_items = _sorted_pairs(train_users, train_items)
    return Dataset(
        "ml-1m-ncf",
        num_users,
        num_items,
        train_users,
        train_items,
        test_items.astype(np.int32),
        negatives.astype(np.int32),
        np.arange(num_users),
        np.arange(num_items),
        titles,
    )


def synthetic(
    num_users: int = 1000,
    num_items: int = 500,
    interactions_per_user: int = 30,
    factors: int = 8,
    seed: int = 0,
) -> Dataset:
    """Seeded implicit feedback with planted latent structure, for tests and CI.

    Users and items get random `factors`-dimensional taste vectors; each user
    picks `interactions_per_user` distinct items, with probability rising
    steeply with the dot product (Gumbel top-k). The pick order is random, so the
    held-out item is one more draw from the user's taste: a model that learns
    the structure beats random ranking (HR@10 ~ 0.10) by far. Memory is
    num_users x num_items floats.
    """
    if num_items < interactions_per_user + TEST_NEGATIVES:
        raise DataError(
            f"synthetic: num_items={num_items} must be at least "
            f"interactions_per_user + {TEST_NEGATIVES}"
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
    return leave_one_out("synthetic", users, picks.ravel(), None, seed)


TIME_COLUMNS = ("timestamp", "time", "ts", "date", "datetime", "order", "seq", "position")


def from_file(
    path: str | os.PathLike, seed: int = 0, name: str | None = None, item_titles: dict | None = None
) -> Dataset:
    """The user's own interactions: CSV or TSV (optionally .gz), with or without header.

    Columns, by position: user, item, then optionally rating and timestamp.
    With a header, a third column named like a time or order ("timestamp",
    "time", "date", "order", "seq", ...) is the time; otherwise the third is the
    rating. Times are numbers or ISO 8601 dates.
    The rating is checked to be a number and then ignored: every row is one
    interaction. Without a time column, file order is time order.

    The separator is a tab if the first line has one, else a comma. The first
    line is a header when its rating/time fields are not numbers, or when it
    names a "user" or "item" column.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            first = f.readline().rstrip("\r\n")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if not first:
        raise DataError(f"{path}: line 1 is empty; expected user, item[, rating[, timestamp]]")
    sep = "\t" if "\t" in first else ","
    fields = [f.strip().strip('"').lower() for f in first.split(sep)]
    if not 2 <= len(fields) <= 4:
        raise DataError(
            f"{path}: line 1: expected 2 to 4 fields "
            f"(user, item[, rating[, timestamp]]), saw {len(fields)}"
        )
    # A column name has no digits: ids such as "user-04" or "item_17" are data.
    header = any(
        ("user" in f or "item" in f) and not any(c.isdigit() for c in f) for f in fields
    ) or any(not _is_number(f) for f in fields[2:])
    roles = ["user", "item", "rating", "order"][: len(fields)]
    if header and len(fields) == 3 and fields[2] in TIME_COLUMNS:
        roles[2] = "order"
    numeric = tuple(c for c, role in enumerate(roles) if role == "rating")
    df = _read_table(path, str(path), sep, len(fields), header=header, numeric=numeric)
    order = None
    if "order" in roles:
        order = _time_column(df[roles.index("order")], roles.index("order"), str(path), header)
    return leave_one_out(
        name or path.name, df[0].to_numpy(), df[1].to_numpy(), order, seed, item_titles
    )


def _time_column(values: pd.Series, col: int, label: str, header: bool) -> np.ndarray:
    """A time or order column: numbers as they are, ISO dates as int64 time stamps.

    Only the order of the values is used. A column is all numbers or all ISO 8601
    dates ("2000-12-31", "2000-12-31T22:00:00", with or without a UTC offset);
    otherwise a DataError names the first line that breaks it.
    """
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy()
    dates = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True)
    expected, bad = "a date", dates.isna()
    if _is_number(str(values.iloc[0])):  # it starts with numbers: a later value is not one
        expected, bad = "a number", pd.to_numeric(values, errors="coerce").isna()
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{label}: line {row + 1 + int(header)}: field {col + 1} "
            f"is not {expected}: {values.iloc[row]!r}"
        )
    return dates.dt.tz_convert(None).astype("int64").to_numpy()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
