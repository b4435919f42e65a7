"""training.config: `TrainingConfig` checks its settings once, chooses those left None
from the data's size, and `recorded_config` reads runs written before its names."""

from __future__ import annotations

import dataclasses

import pytest

from ncf_keras.cli.main import main
from ncf_keras.errors import ArgumentError
from ncf_keras.training.config import TrainingConfig, recorded_config, with_settings

BAD_SETTINGS = [
    ({"epochs": 0}, "epochs must be >= 1, got 0", ["--epochs", "0"]),
    ({"batch_size": 0}, "batch_size must be >= 1, got 0", ["--batch-size", "0"]),
    ({"negatives": 0}, "negatives must be >= 1, got 0", ["--negatives", "0"]),
    ({"seed": -1}, "seed must be >= 0, got -1", ["--seed", "-1"]),
    ({"learning_rate": 0.0}, "learning_rate must be > 0, got 0.0", ["--lr", "0"]),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number, got nan", None),
    (
        {"optimizer": "adamw"},
        "optimizer must be one of adam, lazy-adam, sgd, adagrad, rmsprop, got 'adamw'",
        None,
    ),
    ({"patience": 0}, "patience must be >= 1, got 0", None),
    ({"sample_on": "gpu"}, "sample_on must be one of host, device, got 'gpu'", None),
]


@pytest.mark.parametrize("settings, message, flags", BAD_SETTINGS)
def test_a_bad_setting_is_refused_with_the_message_the_cli_prints(
    settings, message, flags, tmp_path, capsys
):
    with pytest.raises(ArgumentError) as refused:
        TrainingConfig(**settings)
    assert str(refused.value) == message
    with pytest.raises(ArgumentError, match=f"^{message.split(' must')[0]} must"):
        with_settings(TrainingConfig(), settings)  # the keyword form checks too
    if flags is not None:
        argument, problem = message.split(" ", 1)
        assert (
            main(
                [
                    "train",
                    "--model",
                    "gmf",
                    "--dataset",
                    "synthetic",
                    "--out",
                    str(tmp_path / "r"),
                    *flags,
                ]
            )
            == 2
        )
        flag = "--lr" if argument == "learning_rate" else "--" + argument.replace("_", "-")
        assert capsys.readouterr().err == f"error: {flag} {problem}\n"
        assert not (tmp_path / "r").exists()


def test_the_config_is_frozen_and_records_under_the_api_names():
    config = TrainingConfig(epochs=3, learning_rate=0.01)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 4
    assert list(dataclasses.asdict(config)) == [
        "epochs",
        "batch_size",
        "learning_rate",
        "optimizer",
        "negatives",
        "seed",
        "patience",
        "sample_on",
    ]


def test_settings_left_none_are_chosen_for_the_data_and_named(small_synthetic):
    data = small_synthetic
    chosen, auto = TrainingConfig(batch_size=64).chosen_for(data, "jax")
    assert (chosen.batch_size, chosen.learning_rate, chosen.optimizer) == (64, 0.003, "adam")
    assert auto == ["learning_rate", "optimizer"]
    tuned, _ = TrainingConfig().chosen_for(data, "jax", fine_tuning=True)
    assert (tuned.batch_size, tuned.learning_rate, tuned.optimizer) == (1024, 0.001, "sgd")


def test_a_config_written_with_lr_reads_under_todays_names():
    before = {"epochs": 2, "lr": 0.001, "auto": ["batch_size", "lr"], "seed": 1}
    assert recorded_config(before) == {
        "epochs": 2,
        "learning_rate": 0.001,
        "auto": ["batch_size", "learning_rate"],
        "seed": 1,
        "sample_on": "host",
        "patience": None,
    }
    assert "lr" in before  # the caller's dict is left as it was
    today = dataclasses.asdict(TrainingConfig(learning_rate=0.001)) | {"auto": []}
    assert recorded_config(today) == today
