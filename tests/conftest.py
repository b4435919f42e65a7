"""Shared fixtures. Plain helpers live in `helpers.py` beside this file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import (
    FileServer,
    NcfSplit,
    background_rows,
    read_metrics,
    train_args,
    without_timings,
)

from ncf_keras.data import grouplens, paper_split
from ncf_keras.data.dataset import Dataset
from ncf_keras.data.sources import synthetic


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_data: needs the real MovieLens-1M files in ../shared/data"
    )
    # Keras' TensorFlow backend vs NumPy 2 (model.save): upstream noise, not this package's.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    )


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's $NCF_DATA_DIR, 127.0.0.1 is never proxied, and no
    in-process download reaches the internet: the real URLs point at a closed port
    unless a test publishes the file itself."""
    monkeypatch.delenv("NCF_DATA_DIR", raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    nowhere = _closed_port_url()
    monkeypatch.setattr(grouplens, "ML_1M_ZIP", replace(grouplens.ML_1M_ZIP, url=nowhere))
    for key, remote in list(paper_split.NCF_FILES.items()):
        monkeypatch.setitem(paper_split.NCF_FILES, key, replace(remote, url=nowhere))


def _closed_port_url(name: str = "ml-1m.zip") -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


@pytest.fixture
def log_rows() -> list[tuple[int, int, int, int]]:
    """A fresh copy of the background log, as (user, item, rating, timestamp)."""
    return background_rows()


@pytest.fixture
def ncf_split(tmp_path: Path) -> NcfSplit:
    """A small NCF-format split with titles, written into `tmp_path / "data"`."""
    return NcfSplit(tmp_path / "data").write()


@pytest.fixture(scope="session")
def small_synthetic() -> Dataset:
    """A small synthetic dataset: 120 users, 150 items, 12 interactions each."""
    return synthetic(num_users=120, num_items=150, interactions_per_user=12, seed=3)


@pytest.fixture
def file_server(tmp_path: Path):
    """A FileServer over a fresh `tmp_path / "served"`, shut down after the test."""
    root = tmp_path / "served"
    root.mkdir()
    server = FileServer(root)
    yield server
    server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    return _closed_port_url()


@pytest.fixture(scope="session")
def uninterrupted_history(tmp_path_factory) -> list[dict]:
    """The history, timings left out, of `train` for 6 GMF epochs on JAX in a fresh process."""
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    command = [sys.executable, "-m", "ncf_keras", *train_args("gmf", run, "--epochs", "6")]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return without_timings(read_metrics(run)["history"])


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler for the test, also where pytest started with it ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
