"""Verified downloads and safe extraction, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import re
import tempfile
import zipfile
from pathlib import Path

import pytest
from helpers import (
    NcfSplit,
    background_rows,
    git_blob_sha1_of,
    listing,
    md5_of,
    ml1m_zip,
    ratings_dat,
    sha256_of,
    zip_bytes,
)

from ncf_keras.data import grouplens, paper_split
from ncf_keras.data.download import RemoteFile, extract_zip, fetch, file_digest
from ncf_keras.errors import DataError

WRONG_DIGESTS = {"sha256": "0" * 64, "md5": "0" * 32, "git_blob_sha1": "0" * 40}
MEMBERS = {"ml-1m/ratings.dat": b"1::2::5::100\n" * 50, "ml-1m/movies.dat": b"2::A::B\n"}


@pytest.fixture
def archive() -> bytes:
    return zip_bytes(MEMBERS)


def test_fetch_downloads_and_verifies_a_good_archive(tmp_path, file_server, archive):
    """Right sha256 and md5: the file lands at folder/filename, and nothing else does."""
    url = file_server.publish("good.zip", archive)
    remote = RemoteFile(url, "good.zip", sha256=sha256_of(archive), md5=md5_of(archive))
    path = fetch(remote, tmp_path / "cache")
    assert path == tmp_path / "cache" / "good.zip"
    assert path.read_bytes() == archive
    assert listing(tmp_path / "cache") == ["good.zip"]

    out = tmp_path / "out"
    extract_zip(path, {"ml-1m/ratings.dat": out / "ratings.dat", "ml-1m/movies.dat": out / "m"})
    assert (out / "ratings.dat").read_bytes() == MEMBERS["ml-1m/ratings.dat"]
    assert (out / "m").read_bytes() == MEMBERS["ml-1m/movies.dat"]
    assert listing(out) == ["m", "ratings.dat"]


def test_fetch_accepts_upper_case_digests(tmp_path, file_server, archive):
    url = file_server.publish("good.zip", archive)
    remote = RemoteFile(url, "good.zip", md5=md5_of(archive).upper())
    assert fetch(remote, tmp_path).read_bytes() == archive


def test_fetch_trusts_a_file_already_in_place(tmp_path, closed_port_url):
    """A pre-placed copy is used as it is: no download, no hash check."""
    placed = tmp_path / "ml-1m.zip"
    placed.write_bytes(b"a local copy")
    remote = RemoteFile(closed_port_url, "ml-1m.zip", sha256="0" * 64)
    assert fetch(remote, tmp_path) == placed
    assert placed.read_bytes() == b"a local copy"


@pytest.mark.parametrize("algorithm", ["sha256", "md5", "git_blob_sha1"])
def test_fetch_refuses_a_wrong_checksum_and_keeps_nothing(
    tmp_path, file_server, archive, algorithm
):
    """A digest mismatch is a DataError naming the URL; the cache folder it made is gone."""
    url = file_server.publish("good.zip", archive)
    right = {"sha256": sha256_of(archive), "md5": md5_of(archive)}
    digests = {**right, algorithm: WRONG_DIGESTS[algorithm]}
    remote = RemoteFile(url, "good.zip", **digests)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=rf"{url}: .*{algorithm} mismatch") as error:
        fetch(remote, cache)
    assert "\n" not in str(error.value)
    assert not cache.exists()


def test_fetch_verifies_a_git_blob_id(tmp_path, file_server):
    """git_blob_sha1 is checked like `git hash-object`: right id kept."""
    data = b"0\t1\t1\t0\n" * 100
    url = file_server.publish("ml-1m.train.rating", data)
    remote = RemoteFile(url, "ml-1m.train.rating", git_blob_sha1=git_blob_sha1_of(data))
    assert fetch(remote, tmp_path).read_bytes() == data


def test_git_blob_digest_matches_git(tmp_path):
    """file_digest(..., "git_blob_sha1") gives git's well-known blob ids."""
    empty, hello = tmp_path / "empty", tmp_path / "hello"
    empty.write_bytes(b"")
    hello.write_bytes(b"hello\n")
    assert file_digest(empty, "git_blob_sha1") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert file_digest(hello, "git_blob_sha1") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert file_digest(hello, "md5") == md5_of(b"hello\n")
    assert file_digest(hello, "sha256") == sha256_of(b"hello\n")


def test_truncated_archive_with_its_own_digest_is_not_a_valid_zip(tmp_path, file_server, archive):
    """A truncated zip that passes its (matching) digest still fails extraction, cleanly."""
    truncated = archive[: len(archive) // 2]
    url = file_server.publish("cut.zip", truncated)
    path = fetch(RemoteFile(url, "cut.zip", sha256=sha256_of(truncated)), tmp_path / "cache")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"cut\.zip: not a valid zip archive"):
        extract_zip(path, {"ml-1m/ratings.dat": out / "ratings.dat"})
    assert not out.exists() or listing(out) == []


def test_extraction_is_all_or_nothing_when_a_member_is_corrupt(tmp_path):
    """A member failing its CRC after another was extracted: neither is left behind."""
    data = bytearray(zip_bytes(MEMBERS, compression=zipfile.ZIP_STORED))
    offset = data.index(b"2::A::B")
    data[offset] = ord("3")  # the movies.dat member no longer matches its CRC
    path = tmp_path / "bad-crc.zip"
    path.write_bytes(bytes(data))
    out = tmp_path / "out"
    members = {"ml-1m/ratings.dat": out / "ratings.dat", "ml-1m/movies.dat": out / "movies.dat"}
    with pytest.raises(DataError, match=r"bad-crc\.zip: not a valid zip archive"):
        extract_zip(path, members)
    assert listing(out) == []


def test_extraction_refuses_a_missing_member_and_keeps_nothing(tmp_path, archive):
    path = tmp_path / "a.zip"
    path.write_bytes(archive)
    out = tmp_path / "out"
    members = {"ml-1m/ratings.dat": out / "ratings.dat", "ml-1m/users.dat": out / "users.dat"}
    with pytest.raises(DataError, match=r"a\.zip: member 'ml-1m/users\.dat' is missing"):
        extract_zip(path, members)
    assert listing(out) == []


@pytest.mark.parametrize("evil", ["../evil.txt", "/abs.txt", "ml-1m/../../evil.txt", "C:/evil.txt"])
def test_extraction_refuses_unsafe_member_paths(tmp_path, evil):
    """An archive with an absolute or climbing member path is refused; nothing is extracted."""
    work = tmp_path / "work"
    work.mkdir()
    path = work / "evil.zip"
    path.write_bytes(zip_bytes({"ok.txt": b"fine", evil: b"pwned"}))
    out = work / "out"
    with pytest.raises(DataError, match=rf"evil\.zip: unsafe member path '{evil}'"):
        extract_zip(path, {"ok.txt": out / "ok.txt"})
    assert listing(tmp_path) == ["work", "work/evil.zip"]


def test_unreachable_url_names_the_url_and_keeps_nothing(tmp_path, closed_port_url):
    """Offline: a DataError that names the URL; no partial file, no folder left behind."""
    cache = tmp_path / "cache" / "ml-1m"
    with pytest.raises(DataError, match=rf"could not download {closed_port_url}"):
        fetch(RemoteFile(closed_port_url, "ml-1m.zip"), cache)
    assert listing(tmp_path) == []


def test_a_failed_download_keeps_the_folders_that_were_there(tmp_path, closed_port_url):
    """Only the folders fetch made are removed: an existing cache and its files stay."""
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "other.txt").write_bytes(b"kept")
    with pytest.raises(DataError, match="could not download"):
        fetch(RemoteFile(closed_port_url, "ml-1m.zip"), tmp_path / "cache" / "new")
    assert listing(tmp_path) == ["cache", "cache/other.txt"]


def test_a_cache_that_cannot_be_written_leaves_no_folder(tmp_path, closed_port_url, monkeypatch):
    """The folders are made, then the temporary folder cannot be: they are removed again."""

    def refuse(**kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    cache = tmp_path / "cache" / "new"
    expected = f"cannot write to {re.escape(str(cache))}: Permission denied"
    with pytest.raises(DataError, match=expected):
        fetch(RemoteFile(closed_port_url, "ml-1m.zip"), cache)
    assert listing(tmp_path) == []


def test_a_full_disk_is_not_called_a_failed_download(tmp_path, file_server, archive, monkeypatch):
    """The download verified but could not be moved into place: say so, and keep nothing."""
    url = file_server.publish("good.zip", archive)

    def disk_full(self, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", disk_full)
    cache = tmp_path / "cache"
    expected = f"cannot write {re.escape(str(cache / 'good.zip'))}: No space left on device"
    with pytest.raises(DataError, match=expected):
        fetch(RemoteFile(url, "good.zip", sha256=sha256_of(archive)), cache)
    assert not cache.exists()


def test_missing_remote_file_names_the_url(tmp_path, file_server):
    url = file_server.url("absent.zip")
    with pytest.raises(DataError, match=rf"could not download {url}.*404"):
        fetch(RemoteFile(url, "absent.zip"), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


# --- The datasets' downloads ------------------------------------------------------------


def test_movielens_1m_downloads_verifies_and_extracts(tmp_path, file_server, monkeypatch):
    """With an empty data folder, movielens_1m fetches ml-1m.zip, checks it, and loads it."""
    rows = background_rows()
    archive = ml1m_zip(rows)
    url = file_server.publish("ml-1m.zip", archive)
    remote = RemoteFile(url, "ml-1m.zip", md5=md5_of(archive), sha256=sha256_of(archive))
    monkeypatch.setattr(grouplens, "ML_1M_ZIP", remote)
    data_dir = tmp_path / "data"
    dataset = grouplens.movielens_1m(data_dir)
    assert dataset.num_users == 12 and dataset.num_items == 150
    assert listing(data_dir) == [
        ".ml-1m.zip.extracted.json",  # what was extracted: checked again at the next load
        "ml-1m",
        "ml-1m.zip",
        "ml-1m/movies.dat",
        "ml-1m/ratings.dat",
    ]
    assert (data_dir / "ml-1m" / "ratings.dat").read_bytes() == ratings_dat(rows)


def test_movielens_1m_refuses_a_corrupt_download(tmp_path, file_server, monkeypatch):
    """A download that fails its md5 leaves no data folder behind."""
    archive = ml1m_zip(background_rows())
    url = file_server.publish("ml-1m.zip", archive)
    remote = RemoteFile(url, "ml-1m.zip", md5="f" * 32, sha256=sha256_of(archive))
    monkeypatch.setattr(grouplens, "ML_1M_ZIP", remote)
    with pytest.raises(DataError, match=r"md5 mismatch"):
        grouplens.movielens_1m(tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_movielens_1m_ncf_downloads_a_missing_split_file(tmp_path, file_server, monkeypatch):
    """A split file missing from the cache is fetched and verified, then used."""
    split = NcfSplit(tmp_path / "data").write(titles=False)
    data = split.paths["negative"].read_bytes()
    split.paths["negative"].unlink()
    url = file_server.publish("ml-1m.test.negative", data)
    remote = RemoteFile(url, "ml-1m.test.negative", sha256=sha256_of(data))
    monkeypatch.setitem(paper_split.NCF_FILES, "negative", remote)
    dataset = paper_split.movielens_1m_ncf(split.data_dir, titles=False)
    assert split.paths["negative"].read_bytes() == data
    assert dataset.test_negatives[1].tolist() == split.negatives[1]
