"""Offline with an empty data folder: one error line that names every missing file, the
folder searched (absolute), how it was chosen, the accepted layouts and data/README.md."""

from __future__ import annotations

import re

import pytest
from helpers import NcfSplit, listing

from ncf_keras.data import grouplens, paper_split
from ncf_keras.data.download import RemoteFile
from ncf_keras.data.sources import load_dataset, resolve_data_dir
from ncf_keras.errors import DataError

NCF_NAMES = ["ml-1m.train.rating", "ml-1m.test.rating", "ml-1m.test.negative"]


@pytest.fixture
def offline(monkeypatch, closed_port_url) -> str:
    """Every download URL points at a closed port on 127.0.0.1; returns that URL's base."""
    base = closed_port_url.rsplit("/", 1)[0] + "/"
    monkeypatch.setattr(grouplens, "ML_1M_ZIP", RemoteFile(base + "ml-1m.zip", "ml-1m.zip"))
    for key, remote in list(paper_split.NCF_FILES.items()):
        dead = RemoteFile(base + remote.filename, remote.filename)
        monkeypatch.setitem(paper_split.NCF_FILES, key, dead)
    return base


def offline_message(name: str, data_dir=None) -> str:
    with pytest.raises(DataError) as error:
        load_dataset(name, data_dir)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_ml_1m_names_the_folder_every_layout_and_the_readme(tmp_path, offline):
    folder = tmp_path / "empty"
    folder.mkdir()
    message = offline_message("ml-1m", folder)
    assert message.startswith(f"ml-1m: {folder} (from --data-dir) lacks ")
    for layout in ("ml-1m.zip", "ml-1m/ratings.dat", "ml-1m-interactions/interactions.tsv.gz"):
        assert layout in message
    assert "(any one will do)" in message
    assert f"could not download {offline}ml-1m.zip (" in message
    assert re.search(r"\(\[Errno \d+\] Connection refused\)", message)
    assert f"put ml-1m.zip into {folder} yourself, or its extracted ml-1m/ folder" in message
    assert "or point --data-dir or $NCF_DATA_DIR at a folder that has them" in message
    assert message.endswith("; see data/README.md")
    assert listing(folder) == []


def test_ml_1m_ncf_names_every_missing_file(tmp_path, offline, monkeypatch):
    """Chosen by $NCF_DATA_DIR, relative: the message gives the folder absolute."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NCF_DATA_DIR", "cache")
    message = offline_message("ml-1m-ncf")
    cache = tmp_path / "cache"
    assert message.startswith(f"ml-1m-ncf: {cache} (from $NCF_DATA_DIR) lacks ")
    assert ", ".join(f"ml-1m-ncf/{name}" for name in NCF_NAMES) in message
    assert f"could not download {offline}ml-1m.train.rating (" in message
    assert "github.com/hexiangnan/neural_collaborative_filtering" in message
    assert f"into {cache}/ml-1m-ncf/ yourself" in message
    assert message.endswith("; see data/README.md")
    assert not cache.exists()  # the download made the folder, and removed it again


def test_ml_1m_ncf_names_only_the_files_that_are_missing(tmp_path, offline):
    split = NcfSplit(tmp_path / "data").write(titles=False)
    split.paths["train"].unlink()
    split.paths["negative"].unlink()
    message = offline_message("ml-1m-ncf", split.data_dir)
    assert "lacks ml-1m-ncf/ml-1m.train.rating, ml-1m-ncf/ml-1m.test.negative, and " in message
    assert "ml-1m-ncf/ml-1m.test.rating" not in message


def test_the_default_folder_says_it_is_the_default(tmp_path, offline, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = offline_message("ml-1m")
    default = "the default data/, as neither --data-dir nor $NCF_DATA_DIR is set"
    assert message.startswith(f"ml-1m: {tmp_path / 'data'} ({default}) lacks ")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("env", [None, "from-env"])
def test_the_folder_the_cli_resolved_keeps_its_origin(tmp_path, offline, monkeypatch, env):
    """The CLI passes resolve_data_dir(...).resolve(): still named as $NCF_DATA_DIR or default."""
    monkeypatch.chdir(tmp_path)
    if env:
        monkeypatch.setenv("NCF_DATA_DIR", env)
    message = offline_message("ml-1m-ncf", str(resolve_data_dir(None).resolve()))
    expected = "from $NCF_DATA_DIR" if env else "the default data/, as neither"
    assert f"ml-1m-ncf: {tmp_path / (env or 'data')} ({expected}" in message


def test_a_corrupt_download_is_not_called_offline(tmp_path, file_server, monkeypatch):
    """A digest mismatch stays its own error: the network worked."""
    url = file_server.publish("ml-1m.zip", b"not the archive")
    monkeypatch.setattr(grouplens, "ML_1M_ZIP", RemoteFile(url, "ml-1m.zip", md5="0" * 32))
    with pytest.raises(DataError, match=r"md5 mismatch") as error:
        load_dataset("ml-1m", tmp_path / "data")
    assert "data/README.md" not in str(error.value)
