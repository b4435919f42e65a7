"""The package as a whole: a side-effect-free import, one model registry, a checked backend."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from ncf_keras import checks, defaults, keras_startup, models
from ncf_keras.errors import ArgumentError, DataError
from ncf_keras.training import fit


def run_python(code: str, **env: str) -> str:
    """Run `code` in a fresh interpreter; its stdout."""
    import os

    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, **env},
    )
    return done.stdout.strip()


def test_import_loads_no_backend_and_keeps_stderr():
    """`import ncf_keras` (and the CLI module) import no Keras, TensorFlow or JAX, and leave
    file descriptor 2 where it was."""
    out = run_python(
        "import os, sys\n"
        "before = os.fstat(2)\n"
        "import ncf_keras, ncf_keras.cli.main, ncf_keras.defaults\n"
        "after = os.fstat(2)\n"
        "heavy = sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch', 'pandas') "
        "if m in sys.modules)\n"
        "print(heavy, (before.st_ino, before.st_dev) == (after.st_ino, after.st_dev))"
    )
    assert out == "[] True"


def test_help_imports_no_backend():
    """`python -m ncf_keras --help` answers without importing Keras."""
    out = run_python(
        "import runpy, sys\n"
        "sys.argv = ['ncf_keras', '--help']\n"
        "try:\n    runpy.run_module('ncf_keras', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    assert out.endswith("False False")
    assert "train" in out and "recommend" in out


MALLOC_OF_A_64_MIB_BLOCK = (
    "import ctypes, numpy as np\n"
    "from ncf_keras.keras_startup import import_keras_quietly\n"
    "import_keras_quietly()\n"
    "class Info(ctypes.Structure):  # glibc's struct mallinfo (mallinfo2 needs glibc 2.33)\n"
    "    _fields_ = [(n, ctypes.c_int) for n in ('arena ordblks smblks hblks hblkhd '\n"
    "                'usmblks fsmblks uordblks fordblks keepcost').split()]\n"
    "info = ctypes.CDLL('libc.so.6').mallinfo\n"
    "info.restype = Info\n"
    "block = np.ones(2**24, 'float32')\n"
    "mapped = info().hblkhd  # bytes in blocks mapped apart from the heap\n"
    "del block\n"
    "print(mapped >> 20, info().fordblks >> 20)  # MiB mapped; MiB freed and kept"
)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")
def test_a_program_keeps_freed_memory_for_reuse():
    """After `import_keras_quietly`, glibc serves a 64 MiB block from its heap and keeps
    it when freed; where the user sets a MALLOC_ variable, it maps and unmaps it."""

    def malloc(**env: str) -> list[int]:
        out = run_python(MALLOC_OF_A_64_MIB_BLOCK, KERAS_BACKEND="numpy", **env)
        return [int(n) for n in out.split()]

    mapped, kept = malloc()
    assert mapped < 64 <= kept
    mapped, kept = malloc(MALLOC_ARENA_MAX="8")
    assert mapped >= 64 > kept


def test_the_registry_builds_every_model_by_name():
    """One registry: every name in defaults.MODEL_NAMES builds a model of that name."""
    assert tuple(models.MODELS) == defaults.MODEL_NAMES
    assert tuple(fit.OPTIMIZERS) == defaults.OPTIMIZER_NAMES
    for name in defaults.MODEL_NAMES:
        model = models.build_model(name, 7, 11, factors=4)
        assert model.name == name
        assert model.get_layer("prediction") is not None
    mlp = models.build_model("mlp", 7, 11, factors=4)
    assert [layer.units for layer in mlp.layers if layer.name.startswith("mlp_layer")] == [
        16,
        8,
        4,
    ]
    with pytest.raises(ArgumentError, match=r"^model must be one of gmf, mlp, neumf, mf"):
        models.build_model("bpr", 7, 11)


def test_mf_is_a_dot_product_plus_biases():
    """MF scores sigmoid(p_u . q_i + b_u + b_i)."""
    import numpy as np

    model = models.mf(3, 4, factors=2)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    p = model.get_layer("mf_user_embedding").get_weights()[0]
    q = model.get_layer("mf_item_embedding").get_weights()[0]
    bu = model.get_layer("mf_user_bias").get_weights()[0][:, 0]
    bi = model.get_layer("mf_item_bias").get_weights()[0][:, 0]
    users, items = np.array([0, 2], np.int32), np.array([3, 1], np.int32)
    expected = 1 / (1 + np.exp(-((p[users] * q[items]).sum(1) + bu[users] + bi[items])))
    got = model.predict({"user": users, "item": items}, verbose=0)[:, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "message"),
    [("cntk", "is not a Keras backend"), ("torch", "torch is not installed: pip install torch")],
)
def test_an_unusable_backend_is_refused_before_import(monkeypatch, name, message):
    monkeypatch.setenv("KERAS_BACKEND", name)
    monkeypatch.setattr(keras_startup.importlib.util, "find_spec", lambda package: None)
    with pytest.raises(DataError, match=message):
        keras_startup.require_backend()


def test_keras_json_names_the_backend_when_the_variable_is_unset(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_startup.selected_backend() == "tensorflow"
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')
    assert keras_startup.selected_backend() == "jax"


def test_argument_errors_name_the_argument():
    with pytest.raises(ArgumentError) as error:
        checks.check_number("l2", float("nan"))
    assert (error.value.argument, str(error.value)) == ("l2", "l2 must be a finite number, got nan")
    with pytest.raises(ArgumentError, match=r"^lr must be > 0, got 0"):
        checks.check_number("lr", 0, 0, strict=True)
    assert checks.check_number("lr", 0.5, 0, strict=True) == 0.5
