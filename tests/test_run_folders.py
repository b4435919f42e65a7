"""Run folders that never mix two runs: written all at once, locked, checked by every
reader against the model and the data they were made with, and resumable."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import (
    background_rows,
    error_line,
    read_metrics,
    train_args,
    without_timings,
    write_table,
)
from keras_helpers import Interrupt

from ncf_keras import checks
from ncf_keras.cli.main import main
from ncf_keras.data.sources import synthetic
from ncf_keras.errors import ArgumentError
from ncf_keras.metrics import evaluate
from ncf_keras.runs.atomic import partial_path
from ncf_keras.runs.folder import load_run_model, read_run, write_json
from ncf_keras.runs.train_run import train_run
from ncf_keras.training.batches import TrainingSamples

LAYERS = [16, 8, 4]


class EpochsRun(keras.callbacks.Callback):
    """Records the 0-based epochs a fit ran."""

    def __init__(self):
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


class ScrambleFromEpoch(keras.callbacks.Callback):
    """Replaces the item embeddings by noise during one epoch (0-based) and those after it,
    so that epoch scores worse than the ones before: the best epoch is not the last."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch, self.current = epoch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current >= self.epoch:
            layer = self.model.get_layer("gmf_item_embedding")
            noise = np.random.default_rng(batch).normal(size=layer.embeddings.shape)
            layer.embeddings.assign(noise.astype("float32"))


@pytest.fixture(scope="module")
def data():
    return synthetic(num_users=120, num_items=150, interactions_per_user=12, seed=3)


def gmf_run(data, out: Path, **kwargs) -> dict:
    """A short GMF run through `train_run`: 3 epochs, seed 1, quiet, unless `kwargs` say."""
    return train_run("gmf", data, out, **{"epochs": 3, "seed": 1, "verbose": 0, **kwargs})


# --- the best model ----------------------------------------------------------------


def test_model_keras_is_the_best_epoch_not_the_last(data, tmp_path):
    """A run whose last epoch is its worst: model.keras scores as the best epoch did."""
    metrics = gmf_run(
        data, tmp_path / "run", epochs=4, learning_rate=0.02, callbacks=[ScrambleFromEpoch(3)]
    )
    history = metrics["history"]
    assert metrics["best"]["epoch"] < len(history)
    assert history[-1]["hr@10"] < metrics["best"]["hr@10"] - 0.05
    saved = evaluate(load_run_model(tmp_path / "run"), data)
    assert saved["hr@10"] == pytest.approx(metrics["best"]["hr@10"], abs=1.5 / len(data.test_items))


# --- written all at once, never two runs in one folder -----------------------------


def test_an_existing_run_is_refused_without_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args("gmf", run)) == 0
    before = read_metrics(run)
    assert main(train_args("gmf", run, "--factors", "4")) == 2
    assert error_line(capsys) == (
        f"error: {run}: already holds a complete run; pass --overwrite to replace it"
    )
    assert read_metrics(run) == before
    assert main(train_args("gmf", run, "--factors", "4", "--overwrite")) == 0
    assert read_metrics(run)["config"]["factors"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no partial, lock or old
    assert main(train_args("gmf", run, "--factors", "4", "--resume")) == 2
    assert "already holds a complete run; nothing to resume" in error_line(capsys)


def test_a_folder_that_is_not_a_run_is_never_replaced(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    assert main(train_args("gmf", folder, "--overwrite")) == 2
    assert "holds no ncf-keras-run.json marker, so it is no run ncf-keras wrote" in error_line(
        capsys
    )
    assert (folder / "notes.txt").read_text() == "keep me"


def test_an_interrupted_overwrite_keeps_the_old_run_whole(data, tmp_path):
    """Killed during epoch 2, a new run leaves the old run's metrics and model together."""
    run = tmp_path / "run"
    old = gmf_run(data, run)
    with pytest.raises(KeyboardInterrupt):
        gmf_run(data, run, factors=4, overwrite=True, callbacks=[Interrupt(1)])
    assert read_metrics(run) == old
    model = load_run_model(run, data)  # checks model.keras against metrics.json
    assert model.get_layer("gmf_user_embedding").output_dim == 8
    assert partial_path(run).is_dir()  # kept, to resume


def test_a_second_writer_is_refused_while_the_first_lives(tmp_path, capsys):
    run = tmp_path / "run"
    lock = tmp_path / ".run.lock"
    holds = (
        "import fcntl, os, socket, sys, time\n"
        f"f = open({str(lock)!r}, 'w')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "f.write(f'{socket.gethostname()} {os.getpid()}'); f.flush()\n"
        "print('held', flush=True); time.sleep(60)\n"
    )
    sleeper = subprocess.Popen([sys.executable, "-c", holds], stdout=subprocess.PIPE, text=True)
    try:
        assert sleeper.stdout.readline() == "held\n"
        assert main(train_args("gmf", run)) == 2
        line = error_line(capsys)
        assert f"{run}: another train is writing it" in line and f"process {sleeper.pid}" in line
        assert not run.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert main(train_args("gmf", run)) == 0  # the holder is gone: its lock is stale
    assert not lock.exists()


def test_a_folder_mixing_two_runs_is_refused_by_every_reader(tmp_path, capsys):
    """The old metrics.json beside another run's model.keras: evaluate, recommend, plot
    and pre-training all refuse it."""
    first, second, mixed = tmp_path / "first", tmp_path / "second", tmp_path / "mixed"
    assert main(train_args("gmf", first)) == 0
    assert main(train_args("gmf", second, "--seed", "1")) == 0
    shutil.copytree(first, mixed)
    shutil.copy(second / "model.keras", mixed / "model.keras")
    message = f"error: {mixed / 'model.keras'}: not the model metrics.json was written with"
    commands = [
        ["evaluate", "--run", str(mixed)],
        ["recommend", "--run", str(mixed), "--user", "0"],
        ["plot", str(mixed), "--out", str(tmp_path / "plot.png")],
        train_args("neumf", tmp_path / "n", "--pretrain-gmf", str(mixed), "--pretrain-mlp", "x"),
    ]
    for argv in commands:
        capsys.readouterr()
        assert main(argv) == 2, argv
        assert error_line(capsys).startswith(message), argv
    assert not (tmp_path / "plot.png").exists()


# --- the data a run was trained on -----------------------------------------------------


@pytest.fixture
def user_file_run(tmp_path) -> tuple[Path, Path]:
    """A GMF run on a user's CSV file: (the file, the run)."""
    path = write_table(tmp_path / "log.csv", background_rows())
    run = tmp_path / "run"
    assert main(train_args("gmf", run, "--dataset", str(path))) == 0
    return path, run


def test_evaluate_and_recommend_refuse_data_changed_since_training(user_file_run, capsys):
    path, run = user_file_run
    more = [(u + 100, i + 1000, 5, t) for u, i, _, t in background_rows()]
    write_table(path, background_rows() + more)
    for argv in (["evaluate", "--run", str(run)], ["recommend", "--run", str(run), "--user", "1"]):
        capsys.readouterr()
        assert main(argv) == 2
        printed = capsys.readouterr()
        assert printed.out == ""  # nothing printed before the error
        assert printed.err.startswith(f"error: {run}: trained on other data than {path} holds now")
        assert "then 12 users, 150 items" in printed.err
        assert "now 24 users, 300 items" in printed.err
        assert printed.err.count("\n") == 1


def test_pretraining_refuses_runs_of_other_data_of_the_same_name(tmp_path, capsys):
    """GMF and MLP runs on the synthetic data of seed 1, for a NeuMF on seed 0's data."""
    gmf, mlp = tmp_path / "gmf", tmp_path / "mlp"
    assert main(train_args("gmf", gmf, "--seed", "1")) == 0
    assert main(train_args("mlp", mlp, "--seed", "1")) == 0
    capsys.readouterr()
    pretrain = ["--pretrain-gmf", str(gmf), "--pretrain-mlp", str(mlp)]
    assert main(train_args("neumf", tmp_path / "n", *pretrain)) == 2
    assert f"{gmf}: trained on other data than synthetic holds now" in error_line(capsys)
    assert main(train_args("neumf", tmp_path / "n", *pretrain, "--seed", "1")) == 0


# --- resume ------------------------------------------------------------------------


def test_resume_ends_with_the_history_and_model_of_an_uninterrupted_run(data, tmp_path):
    whole = gmf_run(data, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        gmf_run(data, tmp_path / "resumed", callbacks=[Interrupt(1)])
    assert not (tmp_path / "resumed").exists()
    ran = EpochsRun()
    resumed = gmf_run(data, tmp_path / "resumed", resume=True, callbacks=[ran])
    assert ran.epochs == [2]  # epochs 1 and 2 were not trained again
    assert without_timings(resumed["history"]) == without_timings(whole["history"])
    assert resumed["best"] == whole["best"]
    a = load_run_model(tmp_path / "whole").get_weights()
    b = load_run_model(tmp_path / "resumed").get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    rows = (tmp_path / "resumed" / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["epoch", "1", "2", "3"]
    assert not partial_path(tmp_path / "resumed").exists()


def test_resume_refuses_other_settings(data, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        gmf_run(data, tmp_path / "run", callbacks=[Interrupt(0)])
    with pytest.raises(Exception, match="the interrupted run had config factors = 8, not 4"):
        gmf_run(data, tmp_path / "run", factors=4, resume=True)


def as_written_before_training_config(config: dict) -> dict:
    """A run's config as ncf-keras wrote it before `TrainingConfig`: "lr", no sample_on."""
    old = {("lr" if key == "learning_rate" else key): value for key, value in config.items()}
    old["auto"] = ["lr" if name == "learning_rate" else name for name in old["auto"]]
    del old["sample_on"], old["patience"]
    return old


def test_a_run_written_with_lr_reads_plots_and_resumes(data, tmp_path, capsys):
    """Runs written before the config took the API's names ("lr", not "learning_rate")
    still read, plot and resume: their config comes back under today's names."""
    whole = gmf_run(data, tmp_path / "whole")
    metrics_path = tmp_path / "whole" / "metrics.json"
    old = read_metrics(tmp_path / "whole") | {
        "config": as_written_before_training_config(whole["config"])
    }
    write_json(metrics_path, old)
    assert read_run(tmp_path / "whole")["config"] == whole["config"]
    assert main(["plot", str(tmp_path / "whole"), "--out", str(tmp_path / "p.png")]) == 0
    with pytest.raises(KeyboardInterrupt):
        gmf_run(data, tmp_path / "resumed", callbacks=[Interrupt(1)])
    start = partial_path(tmp_path / "resumed") / "start.json"
    written = json.loads(start.read_text())
    write_json(start, written | {"config": as_written_before_training_config(written["config"])})
    resumed = gmf_run(data, tmp_path / "resumed", resume=True)
    assert without_timings(resumed["history"]) == without_timings(whole["history"])
    assert read_metrics(tmp_path / "resumed")["config"]["learning_rate"] == 0.003


def test_train_interrupted_from_outside_then_resumed(tmp_path, uninterrupted_history):
    """`train` stopped by SIGINT after its first epoch: one line, exit 130; `--resume` then
    ends with the same history as an uninterrupted run."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}

    def command(out: Path, *extra: str) -> list[str]:
        # 6 epochs: after the first, the signal has 5 to land in
        argv = train_args("gmf", out, "--epochs", "6", *extra)
        return [sys.executable, "-m", "ncf_keras", *argv]

    run = tmp_path / "run"
    started = subprocess.Popen(
        command(run),
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        # A shell's background jobs inherit SIGINT ignored; Ctrl-C reaches a terminal's.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    state = partial_path(run) / "backup" / "state.json"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and started.poll() is None:
        time.sleep(0.05)
    started.send_signal(signal.SIGINT)
    _, err = started.communicate(timeout=120)
    assert started.returncode == 130, f"exit {started.returncode}; stderr: {err}"
    assert err.strip().splitlines() == [
        "error: interrupted (the same command with --resume continues it)"
    ]
    assert not run.exists()
    resumed = subprocess.run(
        command(run, "--resume"), env=env, capture_output=True, text=True, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stdout
    assert without_timings(read_metrics(run)["history"]) == uninterrupted_history


# --- TensorBoard and memory --------------------------------------------------------------


def test_tensorboard_logs_loss_hit_rate_and_ndcg(data, tmp_path):
    import tensorflow as tf

    gmf_run(data, tmp_path / "run", tensorboard=tmp_path / "logs")
    logged: dict[str, list[int]] = {}
    for path in sorted((tmp_path / "logs" / "train").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                logged.setdefault(value.tag, []).append(event.step)
    for tag in ("epoch_loss", "epoch_hr@10", "epoch_ndcg@10"):
        assert logged.get(tag) == [0, 1, 2], logged


def test_tensorboard_without_tensorflow_is_one_line(data, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name)
    )
    with pytest.raises(ArgumentError, match="needs TensorFlow and TensorBoard to write its logs"):
        gmf_run(data, tmp_path / "run", tensorboard=tmp_path / "logs")
    assert not (tmp_path / "run").exists()


def test_negatives_too_many_for_memory_are_refused_before_drawing(
    data, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(checks, "available_memory", lambda: 2**30)
    rows = len(data.train_users) * (1 + 1_000_000)
    with pytest.raises(ArgumentError, match=f"one epoch's {rows:,} training rows need about"):
        TrainingSamples(data, negatives=1_000_000)
    assert main(train_args("gmf", tmp_path / "run", "--negatives", "100000000")) == 2
    line = error_line(capsys)
    assert line.startswith("error: --negatives is too large: one epoch's")
    assert "GiB are available" in line


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_out_folder_where_nothing_can_be_written_is_one_line(capsys):
    out = Path("/proc/ncf-keras-test-run")
    assert main(train_args("gmf", out)) == 2
    assert error_line(capsys).startswith(f"error: {out}: cannot write there (")
