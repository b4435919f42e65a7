"""notebook.load_or_train: a saved run is reused only for the same data and settings."""

from __future__ import annotations

import numpy as np

from ncf_keras.data.sources import synthetic
from ncf_keras.notebook import load_or_train

TRAINING = {"factors": 4, "layers": [8, 4], "epochs": 1, "batch_size": 256, "verbose": 0}


def test_a_matching_run_is_reused_and_any_difference_trains_anew(tmp_path, small_synthetic, capsys):
    run = tmp_path / "gmf"
    first, model = load_or_train("gmf", small_synthetic, run, **TRAINING)
    assert "training it here" in capsys.readouterr().out
    again, reused = load_or_train("gmf", small_synthetic, run, **TRAINING)
    assert "using the run saved" in capsys.readouterr().out
    assert again == first
    np.testing.assert_array_equal(model.get_weights()[0], reused.get_weights()[0])
    load_or_train("gmf", small_synthetic, run, **{**TRAINING, "layers": [16, 8]})
    assert "using the run saved" in capsys.readouterr().out, "GMF has no MLP tower"

    changes = [
        ("another learning rate", small_synthetic, {"learning_rate": 0.01}),
        ("other data of the same name", synthetic(120, 150, 12, seed=4), {}),
    ]
    for why, data, change in changes:
        load_or_train("gmf", data, run, **{**TRAINING, **change, "overwrite": True})
        assert "training it here" in capsys.readouterr().out, why
