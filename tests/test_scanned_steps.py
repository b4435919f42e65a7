"""On JAX, a compiled call's steps run in one `lax.scan` (`ncf_keras.training.scanned_steps`).

The fits happen in a JAX subprocess, as in test_distribution.py: the test
session runs one backend only.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_distribution import run_python

COMPARE = """
import json
import keras
import numpy as np
from ncf_keras.models import build_model
from ncf_keras.training import lazy_adam, network_view, scanned_steps
from ncf_keras.training.fit import OPTIMIZERS, compile_model

SCANNING = scanned_steps.scanning

def fitted(scanned, rows, optimizer):
    # Keras's own loop with scanning off (lazy Adam refuses an untested Keras version).
    scanned_steps.scanning = SCANNING if scanned else lambda model: False
    keras.utils.set_random_seed(0)
    model = build_model("neumf", 7, 9, factors=2, layers=[4, 2])
    model.compile(optimizer=OPTIMIZERS[optimizer](0.05), loss="binary_crossentropy",
                  jit_compile=True, steps_per_execution=4)
    fit = network_view.fitting(lazy_adam.fitting(model))
    rng = np.random.default_rng(1)
    x = {"user": rng.integers(0, 7, rows).astype("int32"),
         "item": rng.integers(0, 9, rows).astype("int32")}
    y = (rng.random(rows) < 0.3).astype("float32")
    history = fit.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    scanned_steps.scanning = SCANNING
    return {
        "function": fit.train_function.__module__,
        "loss": history.history["loss"],
        "weights": [w.tolist() for w in model.get_weights()],
        "moments": [v.numpy().tolist() for v in model.optimizer.variables],
    }

# 15 batches (3 scans of 4, then 3 steps one by one) and 16 batches, the last of
# 3 rows (3 scans, then a set of 4 whose shapes differ: one by one).
out = {f"{optimizer} {rows}": [fitted(True, rows, optimizer), fitted(False, rows, optimizer)]
       for optimizer in ("adam", "lazy-adam") for rows in (75, 78)}
out["compile_model"] = type(compile_model(build_model("gmf", 3, 4))).__name__
keras.__version__ = "3.16.0"  # a train function whose calling convention was never checked
out["untested_keras"] = type(compile_model(build_model("gmf", 3, 4))).__name__
print("RESULT " + json.dumps(out))
"""

FITS = [f"{optimizer} {rows}" for optimizer in ("adam", "lazy-adam") for rows in (75, 78)]


@pytest.fixture(scope="module")
def fits() -> dict:
    result = run_python(COMPARE, devices=1, backend="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.mark.parametrize("fit", FITS)
def test_scanned_steps_train_exactly_as_keras_steps_them_one_by_one(fits, fit):
    scanned, plain = fits[fit]
    assert scanned["function"] == "ncf_keras.training.scanned_steps"
    assert plain["function"] != scanned["function"]
    assert scanned["loss"] == pytest.approx(plain["loss"], rel=1e-6)
    ours, keras_own = (run["weights"] + run["moments"] for run in (scanned, plain))
    for mine, theirs in zip(ours, keras_own, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-7)


def test_compile_model_gives_the_scanning_view_on_jax(fits):
    assert fits["compile_model"] == "NetworkView"


def test_an_untested_keras_keeps_its_own_train_function(fits):
    assert fits["untested_keras"] == "Functional"
