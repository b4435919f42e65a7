"""The NCF paper's split of ML-1M (He et al. 2017), with titles from GroupLens.

`movielens_1m_ncf` reads the split and its 99 test negatives per user from the
paper's repository (downloaded and verified when missing), and maps its item
ids to GroupLens movies for titles and genres.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ncf_keras.data.dataset import TEST_NEGATIVES, Dataset, sorted_pairs
from ncf_keras.data.download import DownloadError, RemoteFile, fetch, offline_error
from ncf_keras.data.folders import data_dir_origin, resolve_data_dir
from ncf_keras.data.grouplens import grouplens_ratings, movie_titles, read_ratings
from ncf_keras.data.parsing import int_column, read_table
from ncf_keras.errors import ArgumentError, DataError

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


def movielens_1m_ncf(
    data_dir: str | os.PathLike | None = None,
    titles: bool = True,
    test_negatives: int = TEST_NEGATIVES,
) -> Dataset:
    """The NCF paper's split of ML-1M (He et al. 2017), with its 99 negatives as given.

    Reads `ml-1m-ncf/ml-1m.{train.rating,test.rating,test.negative}` from the
    data folder, downloading and verifying any that are missing; when a download
    fails, one DataError names every missing file and the folder.

    Args:
        data_dir: the data folder (see `resolve_data_dir`).
        titles: look up movie titles (see `_ncf_titles`), downloading
            `ml-1m.zip` (about 6 MB) when the data folder has no source of them
            and warning when that fails. False: no titles, no download for them.
        test_negatives: must be 99 (the default): the files fix them.
    """
    if test_negatives != TEST_NEGATIVES:
        raise ArgumentError(
            "test_negatives",
            f"must be {TEST_NEGATIVES} for ml-1m-ncf (the paper's files fix its negatives), "
            f"got {test_negatives}; use ml-1m to draw another number",
        )
    folder = resolve_data_dir(data_dir) / "ml-1m-ncf"
    paths = _fetched(folder, data_dir)
    train = read_table(paths["train"], str(paths["train"]), "\t", 4, numeric=(0, 1))
    test = read_table(paths["test"], str(paths["test"]), "\t", 4, numeric=(0, 1))
    negative = read_table(
        paths["negative"],
        str(paths["negative"]),
        "\t",
        1 + TEST_NEGATIVES,
        numeric=tuple(range(1, 1 + TEST_NEGATIVES)),
    )
    train_users, train_items = _user_item_columns(train, paths["train"])
    test_users, test_items = _user_item_columns(test, paths["test"])
    pairs, negatives = _negatives_and_their_pairs(negative, paths["negative"])
    _check_split(paths, train_users, train_items, test_users, test_items, pairs)
    num_users = len(test_users)
    num_items = int(max(train_items.max(), test_items.max(), negatives.max())) + 1

    pairs = np.concatenate([train_users, test_users]), np.concatenate([train_items, test_items])
    item_titles = item_genres = None
    if titles:
        item_titles, item_genres = _ncf_titles(folder.parent, num_items, *pairs)
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
        item_titles,
        item_genres,
    )


def _fetched(folder: Path, data_dir: str | os.PathLike | None) -> dict[str, Path]:
    """The paper's three files in `folder` ({"train", "test", "negative"}: path), each
    downloaded and verified where missing; one DataError naming every missing file
    when a download fails (offline, most likely).

    Args:
        folder: the `ml-1m-ncf` folder of the data folder.
        data_dir: the data folder as given, for the error (see `folders.data_dir_origin`).
    """
    paths = {}
    for key, remote in NCF_FILES.items():
        try:
            paths[key] = fetch(remote, folder)
        except DownloadError as error:
            missing = [r.filename for r in NCF_FILES.values() if not (folder / r.filename).exists()]
            raise offline_error(
                "ml-1m-ncf",
                folder.parent,
                data_dir_origin(data_dir),
                ", ".join(f"ml-1m-ncf/{name}" for name in missing),
                error,
                "put them (folder Data/ of github.com/hexiangnan/neural_collaborative_filtering) "
                "into {folder}/ml-1m-ncf/ yourself",
            ) from None
    return paths


def _user_item_columns(table: pd.DataFrame, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The user and item columns (the first two) of a `.rating` file, as integers."""
    return int_column(table, 0, str(path)), int_column(table, 1, str(path))


def _negatives_and_their_pairs(
    negative: pd.DataFrame, path: Path
) -> tuple[pd.DataFrame, np.ndarray]:
    """Of the `.test.negative` file: its "(user,item)" pairs, a DataFrame of two text
    columns 0 and 1, and its negatives, int shape (users, TEST_NEGATIVES).
    DataError naming the line whose first field is no such pair."""
    pairs = negative[0].astype(str).str.extract(r"^\((\d+),(\d+)\)$")
    if pairs.isna().any(axis=None):
        row = int(np.argmax(pairs.isna().any(axis=1).to_numpy()))
        raise DataError(
            f"{path}: line {row + 1}: expected '(user,item)' first, saw {negative[0].iloc[row]!r}"
        )
    negatives = np.stack(
        [int_column(negative, c, str(path)) for c in range(1, 1 + TEST_NEGATIVES)], axis=1
    )
    return pairs, negatives


def _check_split(
    paths: dict[str, Path],
    train_users: np.ndarray,
    train_items: np.ndarray,
    test_users: np.ndarray,
    test_items: np.ndarray,
    pairs: pd.DataFrame,
) -> None:
    """DataError, naming the file and line, unless the files agree: one test row per
    user, in order; the negatives' (user,item) pairs are the test rows; every
    training user has a test row; no training pair twice."""
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


def _ncf_titles(
    data_dir: Path, num_items: int, users: np.ndarray, items: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The title and genres of every NCF item, each str shape (num_items,), or None where unknown.

    Genres are joined by "|", as `Dataset.item_genres` holds them.

    NCF item ids number the movies in the order they first appear in GroupLens
    `ratings.dat` (file order), and NCF user = UserID - 1. Sources, in order:

    1. `ml-1m/ratings.dat` or `ml-1m.zip` in `data_dir`: the order is derived,
       and checked to give exactly the split's (user, item) pairs.
    2. `ml-1m-ncf/item_map.tsv` (NCF item -> MovieID). For 45 items whose
       exact rater set other movies share, it had to pick one movie of the group,
       so source 1 is preferred where both are there.
    3. Neither: `ml-1m.zip` is downloaded and verified, as for source 1; when
       that fails, one warning says where to put it, and items show their ids.

    Titles come from a `movies.dat` in `ml-1m/` or `ml-1m-interactions/`.

    Args:
        data_dir: the data folder.
        num_items: items in the split.
        users, items: shape (n,): the split's training and test pairs.
    """
    movie_of = None
    ratings = grouplens_ratings(data_dir, download=False)
    if ratings is not None:
        movie_of = _movies_in_file_order(ratings, num_items, users, items)
    item_map = data_dir / "ml-1m-ncf" / "item_map.tsv"
    if movie_of is None and item_map.is_file() and movie_titles(data_dir) is not None:
        mapping = read_table(item_map, str(item_map), "\t", 3, header=True, numeric=(0, 1, 2))
        movie_of = dict(zip(mapping[0].tolist(), mapping[1].tolist(), strict=True))
    if movie_of is None and ratings is None:
        try:
            ratings = grouplens_ratings(data_dir, download=True)
        except DataError as error:
            if isinstance(error, DownloadError):
                error = (
                    f"could not download {error.url} ({error.reason}); for titles, put "
                    f"ml-1m.zip into {data_dir.resolve()} (see data/README.md)"
                )
            warnings.warn(f"ml-1m-ncf: items show their ids, not titles: {error}", stacklevel=3)
            return None, None
        movie_of = _movies_in_file_order(ratings, num_items, users, items)
    movies = movie_titles(data_dir)
    if movie_of is None or movies is None:
        return None, None
    movie = [movie_of.get(i, -1) for i in range(num_items)]
    titles = np.array([movies.get(m, f"item {i}") for i, m in enumerate(movie)])
    return titles, np.array(["|".join(movies.genres.get(m, ())) for m in movie])


def _movies_in_file_order(
    ratings: Path, num_items: int, users: np.ndarray, items: np.ndarray
) -> dict[int, int] | None:
    """NCF item -> MovieID, from the order of first appearance in GroupLens `ratings.dat`.

    Returns None, with a warning, when the file's (UserID - 1, item) pairs are
    not exactly the split's `users`, `items` (shape (n,)): another ratings.dat.
    """
    df = read_ratings(ratings)
    codes, movie_ids = pd.factorize(df["item"])  # codes number movies by first appearance
    width = max(num_items, len(movie_ids))
    derived = np.sort((df["user"].to_numpy() - 1) * width + codes)
    if not np.array_equal(derived, np.sort(users.astype(np.int64) * width + items)):
        warnings.warn(
            f"{ratings}: its (UserID - 1, movie) pairs are not the NCF split's; "
            "not used for titles",
            stacklevel=4,
        )
        return None
    return dict(enumerate(movie_ids.tolist()))
