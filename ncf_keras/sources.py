"""Where datasets come from: four sources, one `Dataset` form.

* `"ml-1m"`: GroupLens MovieLens-1M, split here by leave-one-out.
* `"ml-1m-ncf"`: the NCF paper's own split of ML-1M, with its 99 test negatives.
* `"synthetic"`: a seeded generator with planted latent structure.
* a path: the user's own CSV or TSV file of (user, item[, rating[, timestamp]]).

Data folder: `data_dir` argument, else `$NCF_DATA_DIR`, else `data/`. Files
already there are used as they are (a pre-placed copy is trusted without its
hash); anything missing is downloaded and verified (see `ncf_keras.download`).
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from pathlib import Path

import numpy as np

from ncf_keras.dataset import TEST_NEGATIVES, Dataset, leave_one_out, sorted_pairs
from ncf_keras.download import RemoteFile, extract_zip, fetch
from ncf_keras.errors import DataError
from ncf_keras.parsing import (
    int_column,
    is_number,
    read_movies,
    read_ratings,
    read_table,
    time_column,
)
from ncf_keras.sampling import random_stream

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
    warnings.warn(
        f"ml-1m: no ml-1m/ratings.dat or ml-1m.zip in {folder}; using {interactions} "
        "(time order from its seq column)",
        stacklevel=2,
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

    train = read_table(paths["train"], str(paths["train"]), "\t", 4, numeric=(0, 1))
    test = read_table(paths["test"], str(paths["test"]), "\t", 4, numeric=(0, 1))
    negative = read_table(
        paths["negative"],
        str(paths["negative"]),
        "\t",
        1 + TEST_NEGATIVES,
        numeric=tuple(range(1, 1 + TEST_NEGATIVES)),
    )
    train_users = int_column(train, 0, str(paths["train"]))
    train_items = int_column(train, 1, str(paths["train"]))
    test_users = int_column(test, 0, str(paths["test"]))
    test_items = int_column(test, 1, str(paths["test"]))
    pairs = negative[0].astype(str).str.extract(r"^\((\d+),(\d+)\)$")
    if pairs.isna().any(axis=None):
        row = int(np.argmax(pairs.isna().any(axis=1).to_numpy()))
        raise DataError(
            f"{paths['negative']}: line {row + 1}: expected '(user,item)' first, "
            f"saw {negative[0].iloc[row]!r}"
        )
    negatives = np.stack(
        [int_column(negative, c, str(paths["negative"])) for c in range(1, 1 + TEST_NEGATIVES)],
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
        mapping = read_table(item_map, str(item_map), "\t", 3, header=True, numeric=(0, 1, 2))
        movie_of = dict(zip(mapping[0].tolist(), mapping[1].tolist(), strict=True))
        titles = np.array([movies.get(movie_of.get(i, -1), f"item {i}") for i in range(num_items)])

    train_users, train_items = sorted_pairs(train_users, train_items)
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
    except (EOFError, zlib.error) as e:
        raise DataError(f"{path}: a truncated or corrupt gzip file ({e})") from None
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
    ) or any(not is_number(f) for f in fields[2:])
    roles = ["user", "item", "rating", "order"][: len(fields)]
    if header and len(fields) == 3 and fields[2] in TIME_COLUMNS:
        roles[2] = "order"
    numeric = tuple(c for c, role in enumerate(roles) if role == "rating")
    df = read_table(path, str(path), sep, len(fields), header=header, numeric=numeric)
    order = None
    if "order" in roles:
        order = time_column(df[roles.index("order")], roles.index("order"), str(path), header)
    return leave_one_out(
        name or path.name, df[0].to_numpy(), df[1].to_numpy(), order, seed, item_titles
    )
