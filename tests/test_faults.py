"""Every fault one line, and nothing else on stderr: full disks, SIGTERM, models Keras cannot
load, TensorFlow's native log lines, and archives extracted into a data folder."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from helpers import (
    background_rows,
    error_line,
    ml1m_zip,
    ratings_dat,
    read_metrics,
    train_args,
    without_timings,
)

from ncf_keras.cli.main import main
from ncf_keras.data import grouplens
from ncf_keras.data.download import extract_zip, file_digest
from ncf_keras.errors import DataError
from ncf_keras.runs.atomic import partial_path

RESUME = "the same command with --resume continues it"


def train_command(out: Path, *extra: str) -> list[str]:
    """`python -m ncf_keras train`: 6 GMF epochs on the synthetic data, so that a signal or a
    full disk that comes after the first has 5 epochs to land in."""
    return [sys.executable, "-m", "ncf_keras", *train_args("gmf", out, "--epochs", "6", *extra)]


JAX = {**os.environ, "KERAS_BACKEND": "jax"}


def started_train(run: Path, **kwargs) -> subprocess.Popen:
    """A train into `run`, started and waited on until its first epoch is backed up."""
    started = subprocess.Popen(
        train_command(run), env=JAX, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    state = partial_path(run) / "backup" / "state.json"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and started.poll() is None:
        time.sleep(0.05)
    return started


def resumed_history(run: Path) -> list[dict]:
    resumed = subprocess.run(
        train_command(run, "--resume"), env=JAX, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stdout
    return without_timings(read_metrics(run)["history"])


# --- a full disk -----------------------------------------------------------------------


def limit_file_size(size: int) -> None:
    """In the child: files cannot grow past `size` bytes (writes fail with EFBIG, as Python
    ignores SIGXFSZ), as on a full disk."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_full_disk_at_the_first_save_is_one_line_and_leaves_no_run(tmp_path):
    """The first model.keras cannot be written: one line naming it, exit 2, and no run
    folder, partial or not (nothing to resume); never HDF5's tracebacks or a crash."""
    run = tmp_path / "run"
    done = subprocess.run(
        train_command(run),
        env=JAX,
        capture_output=True,
        text=True,
        preexec_fn=lambda: limit_file_size(120_000),  # a model.keras is about 170 kB
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {partial_path(run)}/")
    assert lines[0].endswith(f": cannot write it (File too large); {RESUME}")
    assert sorted(os.listdir(tmp_path)) == []


def test_a_disk_full_after_an_epoch_leaves_a_run_that_resumes(tmp_path, uninterrupted_history):
    """The disk fills after the first epoch's backup: one line, exit 2, the backup before
    stays whole, and --resume ends with the history of an uninterrupted run."""
    run = tmp_path / "run"
    started = started_train(run)
    resource.prlimit(started.pid, resource.RLIMIT_FSIZE, (4096, 4096))
    _, err = started.communicate(timeout=120)
    assert started.returncode == 2, f"exit {started.returncode}; stderr: {err[-3000:]}"
    lines = err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {partial_path(run)}/")
    assert lines[0].endswith(f": cannot write it (File too large); {RESUME}")
    backup = partial_path(run) / "backup"
    state = json.loads((backup / "state.json").read_text())
    assert (backup / state["weights"]).is_file()
    assert [p.name for p in backup.iterdir() if p.name.startswith(".")] == []  # no temporaries
    assert resumed_history(run) == uninterrupted_history


BACKUP_ON_A_FULL_DISK = """
import json, resource, sys
import numpy as np
from ncf_keras.keras_startup import import_keras_quietly
import_keras_quietly()
from ncf_keras.training.callbacks import EpochBackup
from ncf_keras.models import build_model
from ncf_keras.training.fit import compile_model

def gmf():
    return compile_model(build_model("gmf", 1000, 500, factors=8))

model, folder = gmf(), sys.argv[1]
model.optimizer.build(model.trainable_variables)
backup = EpochBackup(folder)
backup.set_model(model)
backup.on_epoch_end(0, {"loss": 0.5})
first = backup.folder / json.loads((backup.folder / "state.json").read_text())["weights"]
saved = [w.copy() for w in model.get_weights()]
_, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (first.stat().st_size // 2, hard))
model.set_weights([w + 1 for w in saved])
try:
    backup.on_epoch_end(1, {"loss": 0.4})
except Exception as error:
    print(f"{type(error).__name__}: {error}")
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
restored = gmf()
assert backup.restore(restored) == [{"epoch": 1, "loss": 0.5}]
assert all(np.array_equal(a, b) for a, b in zip(restored.get_weights(), saved))
"""


def test_a_backup_that_cannot_be_written_keeps_the_previous_one(tmp_path):
    """The second epoch's backup fails half-way (a full disk): WriteError naming it, the first
    backup restores as it was, and the process ends cleanly (HDF5 once crashed it at exit)."""
    done = subprocess.run(
        [sys.executable, "-c", BACKUP_ON_A_FULL_DISK, str(tmp_path / "backup")],
        env=JAX,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"exit {done.returncode}; stderr: {done.stderr[-3000:]}"
    assert done.stderr == ""
    expected = (
        f"WriteError: {tmp_path / 'backup' / 'epoch-2.keras'}: cannot write it (File too large)"
    )
    assert done.stdout == expected + "\n"
    assert sorted(os.listdir(tmp_path / "backup")) == ["epoch-1.keras", "state.json"]


# --- SIGTERM ---------------------------------------------------------------------------


def test_a_backup_that_does_not_fit_the_model_is_refused(tmp_path):
    """A backup of other layers (another model, or an older ncf-keras's layout) loads no part."""
    from ncf_keras.models import build_model
    from ncf_keras.training.callbacks import EpochBackup
    from ncf_keras.training.fit import compile_model

    saved = EpochBackup(tmp_path / "backup")
    saved.set_model(compile_model(build_model("gmf", 5, 4)))
    saved.on_epoch_end(0, {"loss": 0.5})
    neumf = compile_model(build_model("neumf", 5, 4))
    with warnings.catch_warnings(record=True) as escaped:  # Keras's own complaints: not shown
        warnings.simplefilter("always")
        with pytest.raises(DataError, match=r"epoch-1\.keras: the backup does not fit this model"):
            EpochBackup(tmp_path / "backup").restore(neumf)
    assert [str(w.message) for w in escaped] == []


def test_sigterm_during_training_is_one_line_and_resumable(tmp_path, uninterrupted_history):
    """SIGTERM (`timeout`, schedulers) after the first epoch: as Ctrl-C, one line saying how
    to resume, exit 143; --resume then ends with the history of an uninterrupted run."""
    run = tmp_path / "run"
    started = started_train(run)
    started.send_signal(signal.SIGTERM)
    _, err = started.communicate(timeout=120)
    assert started.returncode == 143, f"exit {started.returncode}; stderr: {err[-3000:]}"
    assert err.splitlines() == [f"error: terminated by SIGTERM ({RESUME})"]
    assert not run.exists()
    assert resumed_history(run) == uninterrupted_history


@pytest.fixture
def silent_proxy():
    """An HTTP proxy on 127.0.0.1 that accepts connections and never answers; its `event`
    is set once a client has connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    connected, clients = threading.Event(), []

    def accept():
        while True:
            try:
                clients.append(server.accept()[0])
            except OSError:
                return
            connected.set()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", connected
    server.close()
    for client in clients:
        client.close()


def test_sigterm_while_loading_data_is_one_line(tmp_path, silent_proxy):
    """SIGTERM while ml-1m.zip downloads (before any training): one line, exit 143, and the
    data folder keeps nothing of the download."""
    proxy, connected = silent_proxy
    env = {**JAX, "https_proxy": proxy, "http_proxy": proxy}
    env.pop("no_proxy", None)
    data = tmp_path / "data"
    argv = train_args("gmf", tmp_path / "run", "--dataset", "ml-1m", "--data-dir", str(data))
    started = subprocess.Popen(
        [sys.executable, "-m", "ncf_keras", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert connected.wait(120), "the download never started"
    started.send_signal(signal.SIGTERM)
    _, err = started.communicate(timeout=60)
    assert started.returncode == 143, f"exit {started.returncode}; stderr: {err[-3000:]}"
    assert err.splitlines() == [f"error: terminated by SIGTERM ({RESUME})"]
    assert sorted(os.listdir(tmp_path)) == []


# --- a model.keras that Keras cannot load ----------------------------------------------


def unknown_class(config: dict) -> None:
    layer = config["config"]["layers"][2]
    layer["class_name"], layer["registered_name"] = "NoSuchLayer", "ncf_keras>NoSuchLayer"


def unknown_argument(config: dict) -> None:
    config["config"]["layers"][2]["config"]["colour"] = "red"


def weightless_user_layer(config: dict) -> None:
    """The user embedding becomes a layer without weights: the saved weights and the
    optimizer's state no longer fit, and Keras warns of them before it fails."""
    layer = config["config"]["layers"][2]
    layer.update(module="keras.layers", class_name="CategoryEncoding", registered_name=None)
    layer["config"] = {"name": layer["config"]["name"], "num_tokens": 8, "output_mode": "one_hot"}


def python_lambda(config: dict) -> None:
    """A Lambda layer running Python code, which safe_mode refuses to load."""
    import keras

    code = keras.saving.serialize_keras_object(keras.layers.Lambda(lambda x: x * 2))
    layer = config["config"]["layers"][2]
    layer.update(module=code["module"], class_name="Lambda", registered_name=None)
    layer["config"] = {**code["config"], "name": layer["config"]["name"]}


def spoil_model(run: Path, edit) -> None:
    """Rewrite the run's model.keras with `edit` applied to its config, and record the new
    file's SHA-256 in metrics.json, so that only Keras can tell it is wrong."""
    path = run / "model.keras"
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(contents["config.json"])
    edit(config)
    contents["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    metrics = read_metrics(run)
    metrics["files"]["model.keras"] = file_digest(path, "sha256")
    (run / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A 2-epoch GMF run on the synthetic data, trained in this process."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(train_args("gmf", run)) == 0
    return run


@pytest.fixture
def spoiled_run(trained_run, tmp_path, request) -> Path:
    run = tmp_path / "spoiled"
    run.mkdir()
    for name in ("metrics.json", "model.keras"):
        (run / name).write_bytes((trained_run / name).read_bytes())
    spoil_model(run, request.param)
    return run


@pytest.mark.parametrize(
    "spoiled_run, reason",
    [
        (unknown_class, "NoSuchLayer"),  # Keras names the class it cannot find
        (unknown_argument, "Unrecognized keyword arguments passed to Embedding"),
        (python_lambda, "Requested the deserialization of a `Lambda` layer"),
    ],
    indirect=["spoiled_run"],
)
def test_a_model_keras_cannot_deserialize_is_one_line(spoiled_run, reason, tmp_path, capsys):
    """evaluate, recommend and --pretrain-* each say so in one line, exit 2."""
    run = str(spoiled_run)
    for argv in (
        ["evaluate", "--run", run],
        ["recommend", "--run", run, "--user", "1"],
        train_args("neumf", tmp_path / "neumf", "--pretrain-gmf", run, "--pretrain-mlp", run),
    ):
        capsys.readouterr()
        assert main(argv) == 2
        line = error_line(capsys)
        assert line.startswith(f"error: {spoiled_run / 'model.keras'}: cannot load the model (")
        assert reason in line
    assert not (tmp_path / "neumf").exists()


# --- evaluate and plot print only their result -------------------------------------------


def tensorflow_cli(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    command = [sys.executable, "-m", "ncf_keras", *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True)


def test_evaluate_and_plot_write_nothing_on_stderr(trained_run, tmp_path):
    """TensorFlow's native start-up lines (absl, cuInit, XLA) never reach stderr."""
    evaluated = tensorflow_cli("evaluate", "--run", str(trained_run))
    assert (evaluated.returncode, evaluated.stderr) == (0, "")
    assert json.loads(evaluated.stdout)["protocol"] == "sampled (99 negatives)"
    plotted = tensorflow_cli("plot", str(trained_run), "--out", str(tmp_path / "p.png"))
    assert (plotted.returncode, plotted.stderr) == (0, "")
    assert plotted.stdout == f"wrote {tmp_path / 'p.png'}\n"


@pytest.mark.parametrize("spoiled_run", [weightless_user_layer], indirect=True)
def test_evaluate_and_plot_failing_write_one_line(spoiled_run, tmp_path):
    """A failure after TensorFlow has started is its one error line, and nothing else:
    neither TensorFlow's lines nor the warnings Keras gives before it fails."""
    evaluated = tensorflow_cli("evaluate", "--run", str(spoiled_run))
    assert evaluated.returncode == 2
    assert evaluated.stderr.startswith(f"error: {spoiled_run / 'model.keras'}: cannot load")
    assert len(evaluated.stderr.splitlines()) == 1, evaluated.stderr
    plotted = tensorflow_cli("plot", str(tmp_path / "absent"), "--out", str(tmp_path / "p.png"))
    assert plotted.returncode == 2
    assert (
        plotted.stderr == f"error: {tmp_path / 'absent'}: no metrics.json; is it a run "
        "folder written by 'train --out'?\n"
    )


# --- extraction ---------------------------------------------------------------------------


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_extracted_files_get_a_new_files_permissions(tmp_path, umask_022):
    """0644 under umask 022, whatever modes the archive stores (0600, 0777)."""
    path = tmp_path / "modes.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, mode in (("private", 0o600), ("open", 0o777)):
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, b"data")
    out = tmp_path / "out"
    extract_zip(path, {"private": out / "private", "open": out / "open"})
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {
        "private": 0o644,
        "open": 0o644,
    }


@pytest.fixture
def ml1m_folder(tmp_path) -> Path:
    """A data folder holding ml-1m.zip, as if placed there by hand."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "ml-1m.zip").write_bytes(ml1m_zip(background_rows()))
    return data


def test_an_extracted_file_that_fails_its_check_is_extracted_again(ml1m_folder):
    """ratings.dat, extracted here then truncated: extracted anew from the archive (with a
    warning), never read as it is."""
    whole = grouplens.movielens_1m(ml1m_folder)
    ratings = ml1m_folder / "ml-1m" / "ratings.dat"
    ratings.write_bytes(ratings.read_bytes()[:100])
    with pytest.warns(UserWarning, match=r"ratings\.dat: does not match ml-1m/ratings\.dat"):
        again = grouplens.movielens_1m(ml1m_folder)
    assert ratings.read_bytes() == ratings_dat(background_rows())
    assert again.fingerprint() == whole.fingerprint()


def test_a_file_placed_by_hand_is_used_as_it_is(ml1m_folder):
    """A ratings.dat this package did not extract is never replaced, even beside the zip."""
    own = ml1m_folder / "ml-1m" / "ratings.dat"
    own.parent.mkdir()
    rows = background_rows()[:-3]
    own.write_bytes(ratings_dat(rows))
    grouplens.movielens_1m(ml1m_folder)
    assert own.read_bytes() == ratings_dat(rows)


def test_a_symlinked_folder_never_redirects_extraction(ml1m_folder, tmp_path):
    """data/ml-1m -> a folder elsewhere: refused in one line; nothing is written there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (ml1m_folder / "ml-1m").symlink_to(elsewhere)
    with pytest.raises(DataError, match=r"outside the data folder .*refusing to extract") as e:
        grouplens.movielens_1m(ml1m_folder)
    assert "\n" not in str(e.value)
    assert list(elsewhere.iterdir()) == []


def test_a_broken_symlinked_member_is_refused_and_kept(ml1m_folder, tmp_path):
    """data/ml-1m/ratings.dat -> a missing file elsewhere: refused; the link stays, and
    nothing is created where it points."""
    link = ml1m_folder / "ml-1m" / "ratings.dat"
    link.parent.mkdir()
    target = tmp_path / "elsewhere" / "ratings.dat"
    link.symlink_to(target)
    with pytest.raises(DataError, match=r"ratings\.dat: a broken symbolic link"):
        grouplens.movielens_1m(ml1m_folder)
    assert link.is_symlink() and not target.parent.exists()


def test_a_full_disk_after_the_last_epoch_leaves_a_run_that_resumes(tmp_path, monkeypatch):
    """The disk fills as the finished run's plot is written: the run is kept, backup and
    all, and `--resume` writes it without training again."""
    import errno

    from ncf_keras.errors import WriteError
    from ncf_keras.runs import folder

    run = tmp_path / "run"
    real = folder.plot_runs

    def full_disk(metrics, path):
        raise WriteError(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    monkeypatch.setattr(folder, "plot_runs", full_disk)
    assert main(train_args("gmf", run)) == 2
    assert not run.exists()
    assert (partial_path(run) / "backup" / "state.json").is_file()
    monkeypatch.setattr(folder, "plot_runs", real)
    assert main(train_args("gmf", run, "--resume")) == 0
    assert [row["epoch"] for row in read_metrics(run)["history"]] == [1, 2]
    assert sorted(p.name for p in run.iterdir()) == [
        "history.csv",
        "hit_rate.png",
        "metrics.json",
        "model.keras",
        "ncf-keras-run.json",
    ]
