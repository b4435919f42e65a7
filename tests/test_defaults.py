"""Defaults chosen from the data's size: `training.config.training_defaults`, the line `train`
prints about it, and what `train_run` records (config "auto") and resumes with."""

from __future__ import annotations

import json

import keras
import pytest
from helpers import read_metrics, train_args
from keras_helpers import Interrupt

from ncf_keras.cli.main import main
from ncf_keras.runs.train_run import train_run
from ncf_keras.training import config as training_config
from ncf_keras.training.config import training_defaults

ML_1M = (6_040, 3_706, 994_169)  # users, items, training positives (ml-1m-ncf)
ML_20M = (138_493, 26_744, 19_861_770)
LONG_TAIL = (3_000_000, 200_000, 3_000_000)  # 3M users x 2 interactions, one held out
EVERY = ["batch_size", "learning_rate", "optimizer"]
SMALL_EPOCH = {"batch_size": 1024, "learning_rate": 0.003, "optimizer": "adam"}
LARGE_BATCH = {"batch_size": 16_384, "learning_rate": 0.003}


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
@pytest.mark.parametrize("sizes", [ML_1M, (6_040, 3_952, 999_611), ML_20M])  # ml-1m-ncf, ml-1m
def test_epochs_of_ml_1m_size_and_up_get_the_large_batch_recipe(backend, sizes):
    """Batch 16,384 at 0.003 with Adam on every backend, wherever negatives are drawn."""
    large = ({**LARGE_BATCH, "optimizer": "adam"}, EVERY)
    assert training_defaults(*sizes, backend) == large
    assert training_defaults(*sizes, backend, sample_on="device") == large


@pytest.mark.parametrize("sizes", [ML_1M, ML_20M])
def test_the_mlp_takes_adam_at_0_01_at_the_large_batch(sizes):
    """At 0.003 the MLP scored 0.010 below batch 1,024 on ml-1m-ncf; at 0.01, level."""
    mlp = ({**LARGE_BATCH, "learning_rate": 0.01, "optimizer": "adam"}, EVERY)
    assert training_defaults(*sizes, "jax", model="mlp") == mlp
    for model in ("gmf", "neumf", "mf"):
        assert training_defaults(*sizes, "jax", model=model)[0]["learning_rate"] == 0.003
    given, auto = training_defaults(*sizes, "jax", model="mlp", learning_rate=0.003)
    assert (given["learning_rate"], auto) == (0.003, ["batch_size", "optimizer"])
    small, _ = training_defaults(6_040, 3_706, 100_000, "jax", model="mlp")
    assert small == SMALL_EPOCH  # batch 1,024 keeps 0.003
    tuned, _ = training_defaults(*sizes, "jax", model="mlp", fine_tuning=True)
    assert tuned["learning_rate"] == 0.001


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_smaller_epochs_keep_batch_1024(backend):
    """327,679 positives x 5 rows: one row short of 100 steps of 16,384."""
    assert training_defaults(6_040, 3_706, 327_679, backend) == (SMALL_EPOCH, EVERY)
    chosen, _ = training_defaults(6_040, 3_706, 327_680, backend)
    assert chosen["batch_size"] == 16_384


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_huge_tables_get_lazy_adam_at_the_large_batch(backend):
    chosen = {**LARGE_BATCH, "optimizer": "lazy-adam"}
    assert training_defaults(*LONG_TAIL, backend) == (chosen, EVERY)


def test_lazy_adam_starts_above_400_000_users_and_items():
    """Below, Keras's Adam at batch 16,384 is as fast (TensorFlow) or faster (JAX)."""
    for backend in ("tensorflow", "jax"):
        below, _ = training_defaults(350_000, 50_000, 5_000_000, backend)
        above, _ = training_defaults(350_001, 50_000, 5_000_000, backend)
        assert (below["optimizer"], above["optimizer"]) == ("adam", "lazy-adam")
        assert below["batch_size"] == above["batch_size"] == 16_384


@pytest.mark.parametrize(
    "backend, sample_on", [("torch", "host"), ("jax", "device"), ("tensorflow", "device")]
)
def test_without_lazy_adam_huge_tables_get_the_large_batch_recipe(backend, sample_on):
    """PyTorch has no lazy Adam step, and negatives drawn in the step do not work with it."""
    chosen, auto = training_defaults(*LONG_TAIL, backend, sample_on=sample_on)
    assert (chosen, auto) == ({**LARGE_BATCH, "optimizer": "adam"}, EVERY)


@pytest.mark.parametrize(
    "backend, optimizer", [("tensorflow", "lazy-adam"), ("jax", "lazy-adam"), ("torch", "adam")]
)
def test_large_tables_with_few_rows_keep_batch_1024(backend, optimizer):
    """100,000 positives: 500,000 rows an epoch, 31 steps of 16,384: too few to learn from."""
    chosen, _ = training_defaults(3_000_000, 200_000, 100_000, backend)
    assert chosen == {"batch_size": 1024, "learning_rate": 0.003, "optimizer": optimizer}
    chosen, _ = training_defaults(3_000_000, 200_000, 100_000, backend, negatives=99)
    assert chosen["batch_size"] == 16_384  # 10M rows an epoch


@pytest.mark.parametrize(
    "given, chosen, auto",
    [
        ({"batch_size": 512}, {"batch_size": 512}, ["lr", "opt"]),
        ({"learning_rate": 0.01}, {"learning_rate": 0.01}, ["bs", "opt"]),
        ({"optimizer": "adam"}, {"optimizer": "adam"}, ["bs", "lr"]),
        ({"optimizer": "sgd"}, {"optimizer": "sgd"}, ["bs", "lr"]),
        ({**LARGE_BATCH, "optimizer": "adagrad"}, {"optimizer": "adagrad"}, []),
    ],
)
def test_given_settings_win_and_the_others_are_chosen(given, chosen, auto):
    names = {"bs": "batch_size", "lr": "learning_rate", "opt": "optimizer"}
    result, chosen_names = training_defaults(*LONG_TAIL, "tensorflow", **given)
    assert result == {**LARGE_BATCH, "optimizer": "lazy-adam", **chosen}
    assert chosen_names == [names[name] for name in auto]


def test_given_settings_win_at_ml_1m_sizes_too():
    given = {"batch_size": 256, "learning_rate": 0.001, "optimizer": "lazy-adam"}
    assert training_defaults(*ML_1M, "jax", **given) == (given, [])


@pytest.mark.parametrize("sizes", [ML_1M, ML_20M, LONG_TAIL])
def test_fine_tuning_keeps_the_papers_sgd(sizes):
    """Pre-trained NeuMF: SGD at 0.001 and batch 1,024 whatever the size, as before."""
    chosen, auto = training_defaults(*sizes, "tensorflow", fine_tuning=True)
    sgd = {"batch_size": 1024, "learning_rate": 0.001, "optimizer": "sgd"}
    assert (chosen, auto) == (sgd, EVERY)
    chosen, _ = training_defaults(*sizes, "jax", fine_tuning=True, optimizer="adam")
    assert chosen == {"batch_size": 1024, "learning_rate": 0.001, "optimizer": "adam"}


# --- the command line and the run folder ----------------------------------------


@pytest.fixture
def large(monkeypatch):
    """Makes the synthetic dataset's epochs and tables count as large (`training_defaults`)."""
    monkeypatch.setattr(training_config, "LARGE_BATCH_ROWS", 10)
    monkeypatch.setattr(training_config, "LAZY_ADAM_TABLES", 10)


def lazy_or_adam() -> str:
    return "lazy-adam" if keras.backend.backend() in ("jax", "tensorflow") else "adam"


def default_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("defaults for ")]


@pytest.mark.parametrize("model, lr", [("gmf", 0.003), ("mlp", 0.01)])
def test_train_prints_and_records_the_choice_for_large_tables(large, tmp_path, capsys, model, lr):
    assert main(train_args(model, tmp_path / "r", "--epochs", "1")) == 0
    metrics = read_metrics(tmp_path / "r")
    data, config = metrics["data"], metrics["config"]
    assert default_lines(capsys.readouterr().out) == [
        f"defaults for {data['users']:,} users x {data['items']:,} items: batch 16,384, "
        f"lr {lr:g}, {lazy_or_adam()} (--batch-size/--lr/--optimizer override)"
    ]
    assert (config["batch_size"], config["learning_rate"]) == (16_384, lr)
    assert config["optimizer"] == lazy_or_adam()
    assert config["auto"] == ["batch_size", "learning_rate", "optimizer"]


def test_train_prints_the_small_epoch_defaults(tmp_path, capsys):
    assert main(train_args("gmf", tmp_path / "r", "--epochs", "1")) == 0
    (line,) = default_lines(capsys.readouterr().out)
    assert line.endswith(": batch 1,024, lr 0.003, adam (--batch-size/--lr/--optimizer override)")
    config = read_metrics(tmp_path / "r")["config"]
    assert (config["batch_size"], config["learning_rate"], config["optimizer"]) == (
        1024,
        0.003,
        "adam",
    )
    assert config["auto"] == ["batch_size", "learning_rate", "optimizer"]


@pytest.mark.parametrize(
    "extra, line, auto",
    [
        (
            ["--batch-size", "64", "--optimizer", "adam"],
            "lr 0.003 (--lr override)",
            ["learning_rate"],
        ),
        (["--recipe", "large-batch"], "{optimizer} (--optimizer override)", ["optimizer"]),
        (["--recipe", "large-batch", "--optimizer", "adam"], None, []),
    ],
)
def test_given_flags_are_neither_printed_nor_recorded_as_chosen(
    large, tmp_path, capsys, extra, line, auto
):
    assert main([*train_args("gmf", tmp_path / "r", "--epochs", "1"), *extra]) == 0
    lines = default_lines(capsys.readouterr().out)
    if line is None:
        assert lines == []
    else:
        assert [text.split(": ", 1)[1] for text in lines] == [line.format(optimizer=lazy_or_adam())]
    assert read_metrics(tmp_path / "r")["config"]["auto"] == auto


def test_resume_chooses_the_same_defaults(large, small_synthetic, tmp_path):
    """An interrupted run with chosen settings resumes: the same data give the same choice."""
    run = dict(layers=[16, 8, 4], epochs=2, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        train_run("neumf", small_synthetic, tmp_path / "r", callbacks=[Interrupt(0)], **run)
    metrics = train_run("neumf", small_synthetic, tmp_path / "r", resume=True, **run)
    assert len(metrics["history"]) == 2
    config = metrics["config"]
    assert (config["batch_size"], config["optimizer"]) == (16_384, lazy_or_adam())
    assert config["auto"] == ["batch_size", "learning_rate", "optimizer"]


def test_evaluate_and_recommend_read_runs_without_the_auto_key(tmp_path, capsys):
    """Runs written before the choice was recorded still evaluate and recommend."""
    run = tmp_path / "r"
    assert main(train_args("gmf", run, "--epochs", "1")) == 0
    metrics = read_metrics(run)
    del metrics["config"]["auto"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run)]) == 0
    assert json.loads(capsys.readouterr().out)["hr@10"] == pytest.approx(
        metrics["best"]["hr@10"], abs=1.5e-3
    )
    assert main(["recommend", "--run", str(run), "--user", "0", "--top", "3"]) == 0
