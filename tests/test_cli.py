"""The command line, in-process through `ncf_keras.cli.main.main(argv)`: train, evaluate,
recommend and plot on the synthetic dataset, and its one-line errors."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import (
    background_rows,
    error_line,
    read_metrics,
    train_args,
    write_table,
    zip_bytes,
)

from ncf_keras.cli.arguments import build_parser
from ncf_keras.cli.main import main
from ncf_keras.data.sources import synthetic
from ncf_keras.models import named_weights
from ncf_keras.training import batches

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """GMF and MLP runs, then a NeuMF run pre-trained from them, all through the CLI."""
    root = tmp_path_factory.mktemp("runs")
    paths = {name: root / name for name in ("gmf", "mlp", "neumf")}
    assert main(train_args("gmf", paths["gmf"], "--lr", "0.005")) == 0
    assert main(train_args("mlp", paths["mlp"], "--lr", "0.005")) == 0
    pretrain = ["--pretrain-gmf", str(paths["gmf"]), "--pretrain-mlp", str(paths["mlp"])]
    assert main(train_args("neumf", paths["neumf"], *pretrain)) == 0
    return paths


@pytest.mark.parametrize("name", ["gmf", "mlp", "neumf"])
def test_train_writes_a_complete_run_folder(runs, name):
    """metrics.json, model.keras, history.csv and hit_rate.png, with the documented keys."""
    run = runs[name]
    for filename in ("metrics.json", "model.keras", "history.csv", "hit_rate.png"):
        assert (run / filename).is_file(), filename
    assert (run / "hit_rate.png").read_bytes().startswith(PNG_SIGNATURE)

    metrics = read_metrics(run)
    assert {"model", "dataset", "config", "best", "final", "history"} <= set(metrics)
    assert metrics["model"] == name and metrics["dataset"] == "synthetic"
    assert set(metrics["best"]) == {"epoch", "hr@10", "ndcg@10"}
    assert set(metrics["final"]) == {"hr@10", "ndcg@10"}
    history = metrics["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    for row in history:
        assert {"epoch", "loss", "hr@10", "ndcg@10", "train_seconds", "eval_seconds"} <= set(row)
        assert 0 <= row["ndcg@10"] <= row["hr@10"] <= 1
    best = max(history, key=lambda row: row["hr@10"])
    assert metrics["best"] == {
        "epoch": best["epoch"],
        "hr@10": best["hr@10"],
        "ndcg@10": best["ndcg@10"],
    }
    assert metrics["final"] == {"hr@10": history[-1]["hr@10"], "ndcg@10": history[-1]["ndcg@10"]}
    assert metrics["config"]["layers"] == [16, 8, 4]
    assert metrics["config"]["seed"] == 0
    assert metrics["config"]["factors"] == (4 if name == "mlp" else 8)  # MLP: its last layer


def test_a_run_on_a_relative_path_works_from_another_directory(tmp_path, monkeypatch, capsys):
    """The run records the data file's absolute path, so evaluate finds it from anywhere."""
    monkeypatch.chdir(tmp_path)
    write_table(tmp_path / "log.csv", background_rows(), header=["user", "item", "r", "t"])
    argv = ["train", "--model", "gmf", "--dataset", "log.csv", "--epochs", "1"]
    assert main([*argv, "--out", "run", "--verbose", "0"]) == 0
    assert read_metrics(tmp_path / "run")["dataset"] == str(tmp_path / "log.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", "--run", str(tmp_path / "run")]) == 0
    assert '"hr@10"' in capsys.readouterr().out


def test_pretrained_neumf_records_its_pretraining(runs):
    """Pre-trained NeuMF: flagged in the config, fine-tuned with SGD at 1e-3 by default."""
    config = read_metrics(runs["neumf"])["config"]
    assert config["pretrained"] is True
    assert config["optimizer"] == "sgd"
    assert config["learning_rate"] == pytest.approx(1e-3)
    assert config["pretrain_gmf"] == str(runs["gmf"])
    assert read_metrics(runs["gmf"])["config"]["pretrained"] is False


def test_pretrained_neumf_starts_from_the_pretrained_weights(runs):
    """NeuMF's embeddings stay close to the GMF and MLP runs' after fine-tuning at 1e-4."""
    neumf = keras.saving.load_model(runs["neumf"] / "model.keras")
    sources = {
        "gmf": keras.saving.load_model(runs["gmf"] / "model.keras"),
        "mlp": keras.saving.load_model(runs["mlp"] / "model.keras"),
    }
    for name in ("gmf_user_embedding", "gmf_item_embedding", "mlp_user_embedding"):
        source = np.asarray(named_weights(sources[name[:3]])[f"{name}/embeddings"]).ravel()
        tuned = np.asarray(named_weights(neumf)[f"{name}/embeddings"]).ravel()
        assert np.corrcoef(source, tuned)[0, 1] > 0.9, name


@pytest.mark.parametrize("name", ["gmf", "neumf"])
def test_evaluate_reproduces_the_best_epoch(runs, capsys, name):
    """`evaluate --run` scores the saved (best) model like training did at that epoch."""
    capsys.readouterr()
    assert main(["evaluate", "--run", str(runs[name])]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["protocol"] == "sampled (99 negatives)"
    # One user's hit may flip on float rounding between the XLA and plain forward passes.
    expected = read_metrics(runs[name])["best"]["hr@10"]
    assert result["hr@10"] == pytest.approx(expected, abs=1.5 / 1000)


def test_evaluate_loads_a_neumf_trained_with_l2(tmp_path, capsys):
    """Under --l2, NeuMF's output layer has a custom constraint; its run still loads."""
    run = tmp_path / "neumf-l2"
    assert main(train_args("neumf", run, "--l2", "0.001")) == 0
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["hr@10"] == pytest.approx(read_metrics(run)["best"]["hr@10"], abs=1.5 / 1000)


def test_evaluate_full_ranking(runs, capsys):
    """Full ranking runs, and ranking against more candidates cannot raise the hit rate."""
    capsys.readouterr()
    assert main(["evaluate", "--run", str(runs["gmf"]), "--full-ranking"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full["protocol"] == "full ranking"
    assert main(["evaluate", "--run", str(runs["gmf"])]) == 0
    sampled = json.loads(capsys.readouterr().out)
    assert 0 <= full["hr@10"] <= sampled["hr@10"]
    assert 0 <= full["ndcg@10"] <= sampled["ndcg@10"]


def test_recommend_prints_unseen_items(runs, capsys):
    """`recommend --top 5` lists 5 distinct items, none from the user's training history."""
    capsys.readouterr()
    assert main(["recommend", "--run", str(runs["gmf"]), "--user", "0", "--top", "5"]) == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^\s*\d+\. item (\S+)$", out, flags=re.MULTILINE)
    assert len(listed) == 5 and len(set(listed)) == 5
    dataset = synthetic(seed=0)
    user = int(np.flatnonzero(dataset.user_labels == 0)[0])
    history = {str(dataset.item_labels[i]) for i in dataset.history(user)}
    assert f"user 0: {len(history)} items in training" in out
    assert not history & set(listed)


def test_plot_writes_a_png(runs, tmp_path, capsys):
    out = tmp_path / "figures" / "x.png"
    assert main(["plot", str(runs["gmf"]), str(runs["mlp"]), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert f"wrote {out}" in capsys.readouterr().out


# --- Bad input: exit status 2 and one line on stderr -------------------------------------


def test_unknown_dataset(tmp_path, capsys):
    argv = ["train", "--model", "gmf", "--dataset", "nope", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "unknown dataset 'nope'" in error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_pretrain_with_wrong_factors(runs, tmp_path, capsys):
    """Pre-trained GMF with 8 factors cannot seed a NeuMF with 16: a shape mismatch."""
    pretrain = ["--pretrain-gmf", str(runs["gmf"]), "--pretrain-mlp", str(runs["mlp"])]
    argv = train_args("neumf", tmp_path / "r", "--factors", "16", *pretrain)
    assert main(argv) == 2
    line = error_line(capsys)
    assert "gmf_user_embedding" in line and "shape" in line
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_pretrain_with_other_layers(runs, tmp_path, capsys):
    pretrain = ["--pretrain-gmf", str(runs["gmf"]), "--pretrain-mlp", str(runs["mlp"])]
    argv = [*train_args("neumf", tmp_path / "r", *pretrain), "--layers", "16,8"]
    assert main(argv) == 2
    assert "NeuMF lacks" in error_line(capsys)


@pytest.mark.parametrize("model", ["gmf", "neumf"])
def test_pretrain_flags_need_neumf_and_both_runs(runs, tmp_path, capsys, model):
    """Pre-training flags on GMF, or only one of the two on NeuMF: refused."""
    argv = train_args(model, tmp_path / "r", "--pretrain-gmf", str(runs["gmf"]))
    assert main(argv) == 2
    assert "--pretrain-gmf and --pretrain-mlp go together, with --model neumf" in error_line(capsys)


@pytest.mark.parametrize("flag", ["--epochs", "--factors", "--batch-size"])
def test_train_refuses_non_positive_sizes(tmp_path, capsys, flag):
    argv = [*train_args("gmf", tmp_path / "r"), flag, "0"]
    assert main(argv) == 2
    assert f"{flag} must be >= 1, got 0" in error_line(capsys)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--l2", "-0.1"], "--l2 must be >= 0, got -0.1"),
        (["--lr", "0"], "--lr must be > 0, got 0.0"),
        (["--lr", "nan"], "--lr must be a finite number, got nan"),
        (["--l2", "inf"], "--l2 must be a finite number, got inf"),
        (["--negatives", "0"], "--negatives must be >= 1, got 0"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
        (["--model", "mlp", "--layers", "7,4"], "--layers 7,4: need at least two sizes"),
        (["--alpha", "0.3"], "--alpha weights pre-trained models: it needs --pretrain-gmf"),
    ],
)
def test_train_refuses_impossible_settings(tmp_path, capsys, extra, message):
    assert main([*train_args("gmf", tmp_path / "r"), *extra]) == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_pretrain_refuses_an_alpha_outside_0_to_1(runs, tmp_path, capsys):
    pretrain = ["--pretrain-gmf", str(runs["gmf"]), "--pretrain-mlp", str(runs["mlp"])]
    assert main([*train_args("neumf", tmp_path / "r", *pretrain), "--alpha", "1.5"]) == 2
    assert "--alpha must be between 0 and 1, got 1.5" in error_line(capsys)


@pytest.mark.parametrize("command", ["evaluate", "recommend", "plot"])
def test_run_folder_without_metrics(tmp_path, capsys, command):
    """A folder that is not a run: the error names it and metrics.json."""
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = {
        "evaluate": ["evaluate", "--run", str(empty)],
        "recommend": ["recommend", "--run", str(empty), "--user", "0"],
        "plot": ["plot", str(empty), "--out", str(tmp_path / "x.png")],
    }[command]
    assert main(argv) == 2
    assert f"{empty}: no metrics.json" in error_line(capsys)


def test_corrupt_metrics_json(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{not json")
    assert main(["evaluate", "--run", str(run)]) == 2
    assert "metrics.json: not valid JSON" in error_line(capsys)


@pytest.mark.parametrize(
    "drop, message",
    [
        ("history", "lacks history"),
        ("config.seed", "lacks config.seed"),
        ("config", "'config' object"),
    ],
)
def test_metrics_json_without_what_train_writes(runs, tmp_path, capsys, drop, message):
    """A metrics.json that lacks a key `train` writes: the error names the file and the key."""
    metrics = read_metrics(runs["gmf"])
    if drop.startswith("config."):
        del metrics["config"][drop.split(".")[1]]
    else:
        del metrics[drop]
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert main(["evaluate", "--run", str(run)]) == 2
    line = error_line(capsys)
    assert f"{run / 'metrics.json'}: " in line
    assert message in line


def test_corrupt_model_file(runs, tmp_path, capsys):
    """A model.keras that is a zip but not a Keras archive: one line naming the file."""
    run = tmp_path / "run"
    run.mkdir()
    not_a_model = zip_bytes({"notes.txt": b"a zip, but no Keras model"})
    metrics = read_metrics(runs["gmf"])
    metrics["files"]["model.keras"] = hashlib.sha256(not_a_model).hexdigest()
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "model.keras").write_bytes(not_a_model)
    assert main(["evaluate", "--run", str(run)]) == 2
    assert f"{run / 'model.keras'}: cannot load the model" in error_line(capsys)


def test_unknown_user(runs, capsys):
    assert main(["recommend", "--run", str(runs["gmf"]), "--user", "99999"]) == 2
    assert "user '99999' is not in dataset 'synthetic'" in error_line(capsys)


def test_recommend_refuses_top_zero(runs, capsys):
    assert main(["recommend", "--run", str(runs["gmf"]), "--user", "0", "--top", "0"]) == 2
    assert "--top must be >= 1, got 0" in error_line(capsys)


def test_out_naming_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a run")
    assert main(train_args("gmf", tmp_path / "taken")) == 2
    assert f"--out {tmp_path / 'taken'}: is a file, not a run folder" in error_line(capsys)
    assert (tmp_path / "taken").read_text() == "not a run"


def test_one_epoch_is_singular_and_the_data_folder_is_recorded(tmp_path, capsys, monkeypatch):
    """A run records the folder its data came from, also when $NCF_DATA_DIR named it."""
    monkeypatch.setenv("NCF_DATA_DIR", str(tmp_path / "cache"))
    argv = train_args("gmf", tmp_path / "run")
    argv[argv.index("--epochs") + 1] = "1"
    assert main(argv) == 0
    assert "training gmf for 1 epoch\n" in capsys.readouterr().out
    config = read_metrics(tmp_path / "run")["config"]
    assert config["data_dir"] == str((tmp_path / "cache").resolve())


def test_recommend_says_how_many_items_it_lists(runs, capsys):
    """`--top` larger than the unseen items: the header counts the items listed."""
    capsys.readouterr()
    assert main(["recommend", "--run", str(runs["gmf"]), "--user", "0", "--top", "100000"]) == 0
    header, *items = capsys.readouterr().out.strip().splitlines()
    assert header.endswith(f"top {len(items)} unseen:"), header
    assert 400 < len(items) < 500  # 500 items, minus the user's training history


def test_mf_trains_through_the_registry(tmp_path, capsys):
    """`--model mf` builds the registry's MF; its run records the model and its factors."""
    assert main([*train_args("mf", tmp_path / "mf"), "--factors", "4"]) == 0
    metrics = read_metrics(tmp_path / "mf")
    assert (metrics["model"], metrics["config"]["factors"]) == ("mf", 4)
    capsys.readouterr()
    assert main(["evaluate", "--run", str(tmp_path / "mf")]) == 0
    score = json.loads(capsys.readouterr().out)["hr@10"]
    assert score == pytest.approx(metrics["best"]["hr@10"], abs=1.5 / 1000)


@pytest.mark.parametrize(
    "extra, batch_size, lr",
    [
        ([], 1024, 0.003),
        (["--recipe", "large-batch"], 16384, 0.003),
        (["--recipe", "large-batch", "--batch-size", "512"], 512, 0.003),
        (["--recipe", "large-batch", "--lr", "0.05"], 16384, 0.05),
    ],
)
def test_a_recipe_sets_what_the_flags_leave_unset(tmp_path, extra, batch_size, lr):
    """--recipe large-batch: its batch size and learning rate, unless the flags give theirs."""
    assert main([*train_args("gmf", tmp_path / "r", "--epochs", "1"), *extra]) == 0
    config = read_metrics(tmp_path / "r")["config"]
    assert (config["batch_size"], config["learning_rate"]) == (batch_size, lr)
    assert config["recipe"] == (extra[1] if extra else None)


def test_no_prefetch_draws_in_turn_and_gives_the_same_run(runs, tmp_path, monkeypatch):
    """--no-prefetch starts no background draw, and the run's numbers are those drawn ahead."""

    def refuse(*args, **kwargs):
        raise AssertionError("a background sampler was started")

    monkeypatch.setattr(batches, "ThreadPoolExecutor", refuse)
    assert main(train_args("gmf", tmp_path / "g", "--lr", "0.005", "--no-prefetch")) == 0
    history, drawn_ahead = (read_metrics(p)["history"] for p in (tmp_path / "g", runs["gmf"]))
    for key in ("loss", "hr@10", "ndcg@10"):
        assert [row[key] for row in history] == [row[key] for row in drawn_ahead]


def run_module(*argv: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m ncf_keras ARGV...` in a fresh process, with `env` added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "ncf_keras", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        check=False,
    )


def test_train_and_evaluate_on_jax(tmp_path):
    """The same code on the JAX backend: a short NeuMF run, quiet on stderr, then `evaluate`
    reproduces its best epoch."""
    run = tmp_path / "jax-run"
    train = run_module(*train_args("neumf", run, "--lr", "0.005"), KERAS_BACKEND="jax")
    assert train.returncode == 0, train.stderr
    assert not train.stderr.strip(), train.stderr
    metrics = read_metrics(run)
    assert metrics["best"]["hr@10"] > 0.2  # random ranking gives about 0.10
    evaluate = run_module("evaluate", "--run", str(run), KERAS_BACKEND="jax")
    assert evaluate.returncode == 0, evaluate.stderr
    score = json.loads(evaluate.stdout)["hr@10"]
    assert score == pytest.approx(metrics["best"]["hr@10"], abs=1.5 / 1000)


def test_negatives_drawn_on_the_device_train_on_jax(tmp_path, capsys):
    """--sample-on device under XLA: the run learns and records where it drew; with
    lazy-adam, which it does not support yet, one error line and no run."""
    run = tmp_path / "device-run"
    args = train_args("neumf", run, "--lr", "0.005", "--sample-on", "device")
    train = run_module(*args, KERAS_BACKEND="jax")
    assert train.returncode == 0, train.stderr
    assert not train.stderr.strip(), train.stderr
    metrics = read_metrics(run)
    assert metrics["config"]["sample_on"] == "device"
    assert metrics["best"]["hr@10"] > 0.2  # random ranking gives about 0.10
    assert main([*args, "--overwrite", "--optimizer", "lazy-adam"]) == 2
    assert "error: --sample-on device does not yet work with lazy-adam" in error_line(capsys)
    assert read_metrics(run)["config"]["sample_on"] == "device"  # the run is still there


def test_module_help_runs():
    """`python -m ncf_keras --help` lists the four commands."""
    result = run_module("--help")
    assert result.returncode == 0, result.stderr
    for command in ("train", "evaluate", "recommend", "plot"):
        assert command in result.stdout


def test_swapped_pretraining_runs_are_refused(runs, tmp_path, capsys):
    """An MLP run given as --pretrain-gmf (and a GMF run as --pretrain-mlp): one line."""
    swapped = ["--pretrain-gmf", str(runs["mlp"]), "--pretrain-mlp", str(runs["gmf"])]
    assert main(train_args("neumf", tmp_path / "r", *swapped)) == 2
    assert f"{runs['mlp']}: holds a 'mlp' run, not a 'gmf' one" in error_line(capsys)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("size", [0, 100])
def test_a_truncated_model_file_is_named(runs, tmp_path, capsys, size):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_bytes((runs["gmf"] / "metrics.json").read_bytes())
    (run / "model.keras").write_bytes((runs["gmf"] / "model.keras").read_bytes()[:size])
    assert main(["recommend", "--run", str(run), "--user", "0"]) == 2
    assert f"{run / 'model.keras'}: not a complete .keras file ({size} bytes" in error_line(capsys)


def test_an_out_folder_that_cannot_be_created_is_one_line(runs, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["plot", str(runs["gmf"]), "--out", str(blocker / "sub" / "plot.png")]) == 2
    assert error_line(capsys).startswith(f"error: {blocker / 'sub'}")
    assert main(train_args("gmf", blocker / "sub")) == 2
    assert error_line(capsys).startswith(f"error: {blocker / 'sub'}")


def test_warnings_are_one_line(tmp_path):
    """A warning (here: duplicate rows collapsed) prints as one `warning:` line."""
    rows = [*background_rows(), background_rows()[0]]
    path = write_table(tmp_path / "dups.csv", rows, ",")
    done = run_module(*train_args("gmf", tmp_path / "run", "--dataset", str(path)))
    assert done.returncode == 0, done.stderr
    err = [line for line in done.stderr.splitlines() if line.strip()]
    assert err == [
        "warning: dups.csv: collapsed 1 duplicate (user, item) rows into their latest occurrence"
    ]


def test_every_option_has_help_and_states_its_default():
    """`--help` of every command explains each option; optional ones name their default."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.dest}: no help text"
            if not action.required and action.option_strings:
                assert "default" in action.help, f"{name} {action.option_strings[0]}: no default"
