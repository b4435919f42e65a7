"""Titles for the NCF split on a fresh machine: NCF item ids follow the order in which
each movie first appears in GroupLens ratings.dat, so ml-1m.zip gives every title."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import listing, md5_of, sha256_of, write_table, zip_bytes

from ncf_keras.data import grouplens
from ncf_keras.data.download import RemoteFile
from ncf_keras.data.paper_split import movielens_1m_ncf

TEST_NEGATIVES = 99
NUM_USERS, NUM_MOVIES = 6, 130


def movie_title(movie: int) -> str:
    return f"Café n°{movie} (19{movie % 100:02d})"  # latin-1, as GroupLens writes it


def movie_genres(movie: int) -> str:
    return "Comedy|Drama" if movie % 2 else "Animation"


class GroupLensWorld:
    """A small ratings.dat, movies.dat and the NCF split made from them, as the paper did.

    Users rate movies in an order unrelated to MovieID (GroupLens lists each user's
    ratings together, not sorted by movie), so NCF item i is the i-th movie to first
    appear in the file, not the i-th MovieID. NCF user = UserID - 1.
    """

    def __init__(self, seed: int = 7):
        rng = np.random.default_rng(seed)
        movie_ids = rng.permutation(np.arange(1, NUM_MOVIES + 1) * 3)  # ids 3..390, shuffled
        self.ratings: list[tuple[int, int, int, int]] = []
        for user in range(1, NUM_USERS + 1):
            own = movie_ids[user - 1 :: NUM_USERS]  # every movie is rated by someone
            shared = rng.choice(movie_ids, 4, replace=False)  # and some by more than one
            rated = list(dict.fromkeys([*own.tolist(), *shared.tolist()]))
            stamps = rng.permutation(len(rated)) + 978_300_000
            self.ratings += [
                (user, int(m), int(rng.integers(1, 6)), int(t))
                for m, t in zip(rated, stamps, strict=True)
            ]
        self.movie_of = list(dict.fromkeys(m for _, m, _, _ in self.ratings))  # NCF item -> id
        item_of = {m: i for i, m in enumerate(self.movie_of)}
        self.titles = {int(m): movie_title(int(m)) for m in movie_ids}
        self.train, self.test, self.negatives = [], [], []
        for user in range(1, NUM_USERS + 1):
            rows = sorted((t, item_of[m]) for u, m, _, t in self.ratings if u == user)
            self.train += [(user - 1, i, 1, 0) for _, i in rows[:-1]]
            self.test.append((user - 1, rows[-1][1], 5, rows[-1][0]))
            unseen = np.setdiff1d(np.arange(len(self.movie_of)), [i for _, i in rows])
            negatives = rng.choice(unseen, TEST_NEGATIVES, replace=False).tolist()
            self.negatives.append((f"({user - 1},{rows[-1][1]})", *negatives))

    def ratings_dat(self) -> bytes:
        return "".join(f"{u}::{m}::{r}::{t}\n" for u, m, r, t in self.ratings).encode()

    def movies_dat(self) -> bytes:
        lines = [f"{m}::{t}::{movie_genres(m)}\n" for m, t in sorted(self.titles.items())]
        return "".join(lines).encode("latin-1")

    def zip(self) -> bytes:
        return zip_bytes(
            {"ml-1m/ratings.dat": self.ratings_dat(), "ml-1m/movies.dat": self.movies_dat()}
        )

    def write_split(self, data_dir: Path) -> Path:
        folder = data_dir / "ml-1m-ncf"
        write_table(folder / "ml-1m.train.rating", self.train, "\t")
        write_table(folder / "ml-1m.test.rating", self.test, "\t")
        write_table(folder / "ml-1m.test.negative", self.negatives, "\t")
        return data_dir


@pytest.fixture
def world() -> GroupLensWorld:
    return GroupLensWorld()


@pytest.fixture
def no_download(monkeypatch, closed_port_url):
    monkeypatch.setattr(grouplens, "ML_1M_ZIP", RemoteFile(closed_port_url, "ml-1m.zip"))


def check_titles(dataset, world: GroupLensWorld) -> None:
    """Every item's title is its movie's, including items whose order differs from MovieID's."""
    assert world.movie_of[0] != min(world.movie_of)  # the first item is not the lowest id
    out_of_order = [i for i in range(1, 40) if world.movie_of[i] < world.movie_of[i - 1]]
    assert out_of_order
    for item in [0, 1, 2, out_of_order[0], out_of_order[-1], len(world.movie_of) - 1]:
        assert dataset.title(item) == movie_title(world.movie_of[item])
    expected = [movie_title(m) for m in world.movie_of]
    assert dataset.item_titles.tolist() == expected
    genres = [tuple(movie_genres(m).split("|")) for m in world.movie_of]
    assert [dataset.genres(i) for i in range(dataset.num_items)] == genres


def test_titles_from_a_placed_ml_1m_zip(tmp_path, world, no_download):
    data_dir = world.write_split(tmp_path / "data")
    (data_dir / "ml-1m.zip").write_bytes(world.zip())
    check_titles(movielens_1m_ncf(data_dir), world)
    assert "ml-1m/ratings.dat" in listing(data_dir)  # extracted, as for the ml-1m dataset


def test_titles_from_the_extracted_folder(tmp_path, world, no_download):
    data_dir = world.write_split(tmp_path / "data")
    (data_dir / "ml-1m").mkdir()
    (data_dir / "ml-1m" / "ratings.dat").write_bytes(world.ratings_dat())
    (data_dir / "ml-1m" / "movies.dat").write_bytes(world.movies_dat())
    check_titles(movielens_1m_ncf(data_dir), world)


def test_ratings_dat_wins_over_item_map(tmp_path, world, no_download):
    """item_map.tsv may pick the wrong movie of a group with the same raters: the derived
    order is preferred where both are there."""
    data_dir = world.write_split(tmp_path / "data")
    wrong = [(i, world.movie_of[(i + 1) % len(world.movie_of)], 2) for i in range(5)]
    rest = [(i, m, 1) for i, m in enumerate(world.movie_of)][5:]
    header = ["ncf_item", "MovieID", "same_rater_group_size"]
    write_table(data_dir / "ml-1m-ncf" / "item_map.tsv", wrong + rest, "\t", header)
    (data_dir / "ml-1m.zip").write_bytes(world.zip())
    check_titles(movielens_1m_ncf(data_dir), world)


def test_titles_downloaded_when_nothing_is_there(tmp_path, world, file_server, monkeypatch):
    archive = world.zip()
    url = file_server.publish("ml-1m.zip", archive)
    remote = RemoteFile(url, "ml-1m.zip", md5=md5_of(archive), sha256=sha256_of(archive))
    monkeypatch.setattr(grouplens, "ML_1M_ZIP", remote)
    data_dir = world.write_split(tmp_path / "data")
    check_titles(movielens_1m_ncf(data_dir), world)
    assert (data_dir / "ml-1m.zip").read_bytes() == archive


def test_offline_without_titles_warns_once_and_shows_ids(tmp_path, world, no_download):
    data_dir = world.write_split(tmp_path / "data")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = movielens_1m_ncf(data_dir)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message
    assert message.startswith("ml-1m-ncf: items show their ids, not titles: could not download")
    assert f"put ml-1m.zip into {data_dir.resolve()} (see data/README.md)" in message
    assert dataset.item_titles is None
    assert dataset.title(7) == "item 7"
    assert "ml-1m.zip" not in listing(data_dir)


def test_no_titles_wanted_means_no_download(tmp_path, world, monkeypatch):
    monkeypatch.setattr(grouplens, "ML_1M_ZIP", RemoteFile("http://unused.invalid/x", "ml-1m.zip"))
    data_dir = world.write_split(tmp_path / "data")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = movielens_1m_ncf(data_dir, titles=False)
    assert dataset.item_titles is None


def test_a_ratings_dat_of_other_data_is_not_used(tmp_path, world, no_download):
    """A ratings.dat whose pairs are not the split's would give wrong titles: a warning."""
    data_dir = world.write_split(tmp_path / "data")
    other = GroupLensWorld(seed=8)
    (data_dir / "ml-1m.zip").write_bytes(other.zip())
    with pytest.warns(UserWarning, match=r"ratings\.dat: its \(UserID - 1, movie\) pairs are not"):
        dataset = movielens_1m_ncf(data_dir)
    assert dataset.item_titles is None


def test_read_movies_keeps_the_genres(tmp_path, world):
    path = tmp_path / "movies.dat"
    path.write_bytes(world.movies_dat() + b"7::Toy Story (1995)::Animation|Children's\n")
    movies = grouplens.read_movies(path)
    assert movies[7] == "Toy Story (1995)"
    assert movies[3] == movie_title(3)
    assert movies.genres[7] == ("Animation", "Children's")
    assert movies.genres[3] == ("Comedy", "Drama")
    assert isinstance(movies, dict) and set(movies) == set(movies.genres)
