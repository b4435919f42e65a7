"""GroupLens MovieLens (1M, 20M, 25M, 32M), with titles.

* `movielens_1m`: the GroupLens files (`ml-1m.zip`, downloaded and verified),
  split here by leave-one-out on timestamps.
* `movielens_csv`: ML-20M, ML-25M and ML-32M (`ml-20m.zip`, ... with
  `ratings.csv` and `movies.csv`), split the same way.
* `read_ratings`, `read_movies`: ML-1M's `ratings.dat` and `movies.dat`;
  `Movies` holds titles and genres.

The NCF paper's own split of ML-1M is in `ncf_keras.data.paper_split`. Both loaders
look in the data folder first (`folders.resolve_data_dir`), and name every
file they need, and where to put it, when a download fails.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ncf_keras.data.dataset import TEST_NEGATIVES, Dataset, leave_one_out
from ncf_keras.data.download import DownloadError, RemoteFile, extract_zip, fetch, offline_error
from ncf_keras.data.folders import data_dir_origin, resolve_data_dir
from ncf_keras.data.own_file import from_file
from ncf_keras.data.parsing import int_column, read_table
from ncf_keras.errors import DataError

ML_1M_ZIP = RemoteFile(
    url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
    filename="ml-1m.zip",
    md5="c4d9eecfca2ab87c1945afe126590906",
    sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
)
_GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/"
CSV_ZIPS = {
    name: RemoteFile(url=f"{_GROUPLENS_URL}{name}.zip", filename=f"{name}.zip", md5=md5)
    for name, md5 in (
        ("ml-20m", "cd245b17a1ae2cc31bb14903e1204af3"),
        ("ml-25m", "6b51fb2759a8657d3bfcbfc42b592ada"),
        ("ml-32m", "d472be332d4daa821edc399621853b57"),
    )
}
RATINGS_CSV_COLUMNS = ("userId", "movieId", "rating", "timestamp")


def movie_titles(folder: Path) -> Movies | None:
    """The `movies.dat` of `ml-1m/` or `ml-1m-interactions/` in `folder`, read; None if neither."""
    for subfolder in ("ml-1m", "ml-1m-interactions"):
        candidate = folder / subfolder / "movies.dat"
        if candidate.is_file():
            return read_movies(candidate)
    return None


def grouplens_ratings(folder: Path, download: bool) -> Path | None:
    """`ml-1m/ratings.dat` in the data folder, extracted first from a `ml-1m.zip` there.

    With `download`, a missing `ml-1m.zip` is downloaded and verified first
    (DownloadError when that fails). Files extracted earlier that no longer
    match the archive are extracted again (`extract_zip`). None when there is
    no ratings.dat.
    """
    ratings = folder / "ml-1m" / "ratings.dat"
    if (folder / ML_1M_ZIP.filename).is_file() or (download and not ratings.is_file()):
        archive = fetch(ML_1M_ZIP, folder)
        extract_zip(
            archive,
            {"ml-1m/ratings.dat": ratings, "ml-1m/movies.dat": folder / "ml-1m" / "movies.dat"},
            root=folder,
        )
    return ratings if ratings.is_file() else None


def movielens_1m(
    data_dir: str | os.PathLike | None = None, seed: int = 0, test_negatives: int = TEST_NEGATIVES
) -> Dataset:
    """GroupLens MovieLens-1M, split by leave-one-out on timestamps.

    Looks in the data folder for, in order: `ml-1m/ratings.dat`; `ml-1m.zip`
    (extracted); `ml-1m-interactions/interactions.tsv.gz` (UserID, MovieID, seq:
    the same interactions, time-ordered by `seq`). With none of them, downloads
    `ml-1m.zip` from GroupLens and verifies its md5 and sha256; when that
    download fails, one DataError names the folder and every layout it accepts.
    `test_negatives` (default 99) items are drawn, from `seed`, to rank each
    held-out item against.
    """
    folder = resolve_data_dir(data_dir)
    interactions = folder / "ml-1m-interactions" / "interactions.tsv.gz"
    try:
        ratings = grouplens_ratings(folder, download=not interactions.is_file())
    except DownloadError as error:
        raise offline_error(
            "ml-1m",
            folder,
            data_dir_origin(data_dir),
            "ml-1m.zip, ml-1m/ratings.dat and ml-1m-interactions/interactions.tsv.gz "
            "(any one will do)",
            error,
            "put ml-1m.zip into {folder} yourself, or its extracted ml-1m/ folder "
            "(ratings.dat, movies.dat), or ml-1m-interactions/interactions.tsv.gz",
        ) from None
    if ratings is not None:
        df = read_ratings(ratings)
        return leave_one_out(
            "ml-1m",
            df["user"].to_numpy(),
            df["item"].to_numpy(),
            df["timestamp"].to_numpy(),
            seed,
            movie_titles(folder),
            test_negatives,
        )
    warnings.warn(
        f"ml-1m: no ml-1m/ratings.dat or ml-1m.zip in {folder}; using {interactions} "
        "(time order from its seq column)",
        stacklevel=2,
    )
    return from_file(
        interactions, seed, "ml-1m", movie_titles(folder), test_negatives=test_negatives
    )


def movielens_csv(
    name: str,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    test_negatives: int = TEST_NEGATIVES,
) -> Dataset:
    """GroupLens MovieLens-20M, -25M or -32M, split by leave-one-out on timestamps.

    Looks in the data folder for `{name}/ratings.csv`, else `{name}.zip`
    (extracted: `ratings.csv` and `movies.csv`); with neither, downloads
    `{name}.zip` from GroupLens and verifies its md5. When that download fails,
    one DataError names the folder and both layouts. Every user of these
    datasets has at least 20 ratings, so the MLPerf protocol's cut-off (users
    with fewer than 20) changes nothing. Titles come from `{name}/movies.csv`.

    Args:
        name: "ml-20m", "ml-25m" or "ml-32m".
        data_dir: the data folder (see `resolve_data_dir`).
        seed: draws the test negatives.
        test_negatives: items each held-out item is ranked against (default 99;
            999 for the MLPerf protocol).
    """
    folder = resolve_data_dir(data_dir)
    remote = CSV_ZIPS[name]
    ratings, movies = folder / name / "ratings.csv", folder / name / "movies.csv"
    if (folder / remote.filename).is_file() or not ratings.is_file():
        try:
            archive = fetch(remote, folder)
        except DownloadError as error:
            raise offline_error(
                name,
                folder,
                data_dir_origin(data_dir),
                f"{remote.filename} and {name}/ratings.csv (either will do)",
                error,
                f"put {remote.filename} into {{folder}} yourself, or its extracted {name}/ "
                "folder (ratings.csv, movies.csv)",
            ) from None
        extract_zip(
            archive,
            {f"{name}/ratings.csv": ratings, f"{name}/movies.csv": movies},
            root=folder,
        )
    users, items, times = read_ratings_csv(ratings)
    titles = read_movies_csv(movies) if movies.is_file() else None
    return leave_one_out(name, users, items, times, seed, titles, test_negatives)


def read_ratings_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A GroupLens `ratings.csv` (header userId,movieId,rating,timestamp).

    pandas' C engine reads the three columns needed, straight into int32 ids and
    int64 seconds; the ratings are not even converted.

    Returns (users, items, timestamps), each of shape (n,). DataError naming the
    file when a line does not parse.
    """
    wanted = {"userId": np.int32, "movieId": np.int32, "timestamp": np.int64}
    try:
        df = pd.read_csv(path, usecols=list(wanted), dtype=wanted, engine="c")
    except (ValueError, pd.errors.ParserError) as e:  # a missing column, a bad value
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(
            f"{path}: cannot parse ({detail}); expected the header "
            f"{','.join(RATINGS_CSV_COLUMNS)} and integer ids and timestamps"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    return df["userId"].to_numpy(), df["movieId"].to_numpy(), df["timestamp"].to_numpy()


def read_movies_csv(path: Path) -> Movies:
    """A GroupLens `movies.csv` (movieId,title,genres; quoted CSV, UTF-8).

    Returns movieId -> title, with `.genres` movieId -> tuple of genres
    ("(no genres listed)" gives ()).
    """
    try:
        df = pd.read_csv(
            path,
            usecols=["movieId", "title", "genres"],
            dtype={"movieId": np.int64, "title": str, "genres": str},
            keep_default_na=False,
        )
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(
            f"{path}: cannot parse ({detail}); expected the header movieId,title,genres"
        ) from None
    ids = df["movieId"].tolist()
    genres = [() if g == "(no genres listed)" else tuple(g.split("|")) for g in df["genres"]]
    return Movies(dict(zip(ids, df["title"], strict=True)), dict(zip(ids, genres, strict=True)))


class Movies(dict):
    """MovieID -> title, as read from a `movies.dat`; `genres` maps MovieID -> genres.

    A plain `dict[int, str]` of titles to every caller that wants only those.

    Attributes:
        genres: MovieID -> tuple of genre names, e.g. ("Animation", "Comedy").
    """

    def __init__(self, titles: dict[int, str], genres: dict[int, tuple[str, ...]]):
        super().__init__(titles)
        self.genres = genres


def read_movies(path: Path) -> Movies:
    """MovieLens `movies.dat` (MovieID::Title::Genres, latin-1, genres split by "|").

    Returns {MovieID: title}, with the genres as `.genres` {MovieID: (genre, ...)}.
    """
    titles, genres = {}, {}
    with open(path, encoding="latin-1") as f:
        for number, line in enumerate(f, 1):
            parts = line.rstrip("\r\n").split("::")
            if len(parts) != 3 or not parts[0].isdigit():
                raise DataError(f"{path}: line {number}: expected MovieID::Title::Genres")
            titles[int(parts[0])] = parts[1]
            genres[int(parts[0])] = tuple(g for g in parts[2].split("|") if g)
    return Movies(titles, genres)


def read_ratings(path: Path) -> pd.DataFrame:
    """MovieLens `ratings.dat` (UserID::MovieID::Rating::Timestamp) as integer columns.

    Replaces "::" by a tab and parses with pandas' C engine, where `sep="::"` would
    force pandas' slow Python engine.
    """
    data = Path(path).read_bytes().replace(b"::", b"\t")
    df = read_table(io.BytesIO(data), str(path), "\t", 4, numeric=(0, 1, 2, 3))
    return pd.DataFrame(
        {
            name: int_column(df, col, str(path))
            for col, name in enumerate(["user", "item", "rating", "timestamp"])
        }
    )
