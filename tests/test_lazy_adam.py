"""Lazy Adam (`--optimizer lazy-adam`): only the looked-up embedding rows are updated.

The training runs happen in subprocesses, one per backend, as in
test_distribution.py: the test session runs one backend only.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers import train_args
from test_distribution import last_error, run_cli, run_python

COMPARE = """
import json
import keras
import numpy as np
from ncf_keras.models import build_model
from ncf_keras.training.fit import compile_model

def trained(optimizer, batches):
    model = compile_model(build_model("neumf", 5, 4, factors=2, layers=[4, 2]), optimizer, 0.05)
    rng = np.random.default_rng(0)  # the same start on every backend, in the same order
    for variable in sorted(model.weights, key=lambda v: v.path.rsplit("/", 2)[-2:]):
        variable.assign(rng.normal(scale=0.1, size=variable.shape))
        if variable.path.endswith("bias"):  # every ReLU unit live, so every table learns
            variable.assign(np.full(variable.shape, 0.1))
    weights = []
    for users, items in batches:
        x = {"user": np.array(users, "int32"), "item": np.array(items, "int32")}
        y = (np.arange(len(users)) % 3 == 0).astype("float32")
        model.fit(x, y, batch_size=len(users), epochs=3, shuffle=False, verbose=0)
        weights.append({v.path: v.numpy().tolist() for v in model.weights})
    moments = {v.path: v.numpy().tolist() for v in model.optimizer.variables if v.ndim == 2}
    return weights, moments

every = ([u for u in range(5) for i in range(4)] * 2, [i for u in range(5) for i in range(4)] * 2)
some = ([1, 2, 3, 4, 2], [1, 2, 3, 3, 1])  # never user 0 or item 0
out = {opt: trained(opt, [every, some]) for opt in ("adam", "lazy-adam")}
print("RESULT " + json.dumps(out))
"""


def trained(backend: str) -> dict:
    """Adam and lazy Adam from the same weights: 3 steps on batches holding every user
    and item (each twice), then 3 steps on batches without user 0 and item 0."""
    result = run_python(COMPARE, devices=1, backend=backend)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.fixture(scope="module")
def runs() -> dict:
    return {backend: trained(backend) for backend in ("jax", "tensorflow")}


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_lazy_adam_is_adam_when_every_row_is_in_every_batch(runs, backend):
    """Repeated ids included: a row's gradients are summed, as in a dense gradient.

    Adam is JAX's: Keras's Adam on TensorFlow squares each repeat of an id in a
    sparse gradient apart, so it is not Adam when a batch repeats a row.
    """
    adam, _ = runs["jax"]["adam"]
    lazy, _ = runs[backend]["lazy-adam"]
    assert adam[0].keys() == lazy[0].keys()
    for path in adam[0]:
        np.testing.assert_allclose(lazy[0][path], adam[0][path], atol=1e-5, err_msg=path)


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_lazy_adam_leaves_rows_and_moments_the_batch_does_not_look_up(runs, backend):
    """Adam keeps moving user 0 and item 0 on their momentum; lazy Adam does not touch them."""
    (adam, _), (lazy, moments) = runs[backend]["adam"], runs[backend]["lazy-adam"]
    tables = [path for path in lazy[0] if path.endswith("/embeddings")]
    assert len(tables) == 4
    for path in tables:
        before, after = np.array(lazy[0][path]), np.array(lazy[1][path])
        np.testing.assert_array_equal(after[0], before[0], err_msg=path)
        assert not np.allclose(after[1:3], before[1:3]), path  # looked-up rows moved
        assert not np.allclose(adam[1][path][0], adam[0][path][0]), path
    momenta = [path for path in moments if "embeddings" in path]
    assert len(momenta) == 8  # a first and second moment for each table
    # The moments of row 0 are those the first batches left, not decayed since.
    for path in momenta:
        assert np.abs(np.array(moments[path])[0]).sum() > 0, path


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_lazy_adam_trains_from_the_command_line(tmp_path, backend):
    """A lazy-adam run completes, records its optimizer, and its loss goes down."""
    result = run_cli(
        *train_args("neumf", tmp_path / "run", "--optimizer", "lazy-adam", "--epochs", "3"),
        backend=backend,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["config"]["optimizer"] == "lazy-adam"
    losses = [epoch["loss"] for epoch in metrics["history"]]
    assert losses[-1] < losses[0]


def test_lazy_adam_refuses_pytorch_before_loading_anything(tmp_path):
    result = run_cli(
        *train_args("neumf", tmp_path / "run", "--optimizer", "lazy-adam"), backend="torch"
    )
    assert last_error(result) == (
        "error: --optimizer lazy-adam needs KERAS_BACKEND=jax or tensorflow; this run uses torch"
    )
    assert not (tmp_path / "run").exists()


def test_sorted_ids_number_equal_ids_alike():
    from ncf_keras.training.lazy_adam import _sorted

    ids = np.array([7, 3, 7, 0, 49, 3, 3, 12], np.int32)
    order, rows, segment = (np.asarray(part) for part in _sorted(ids))
    np.testing.assert_array_equal(ids[order], np.sort(ids))
    np.testing.assert_array_equal(rows, np.sort(ids))
    np.testing.assert_array_equal(segment, [0, 1, 1, 1, 2, 2, 3, 4])


def test_lazy_adam_refuses_an_untested_keras_version_with_one_line(monkeypatch):
    import keras

    from ncf_keras.errors import DataError
    from ncf_keras.models import build_model
    from ncf_keras.training import keras_private
    from ncf_keras.training.fit import compile_model

    keras_private.check_keras_version("3.15.1")  # the version it was checked against
    for version in ("3.16.0", "3.14.2", "4.0.0", "nightly"):
        with pytest.raises(
            DataError, match=f"tested with Keras 3.15 only, and this is Keras {version}"
        ):
            keras_private.check_keras_version(version)
    monkeypatch.setattr(keras, "__version__", "3.16.0")
    with pytest.raises(
        DataError, match=re.escape("pip install 'keras>=3.15,<3.16', or use --optimizer adam")
    ):
        compile_model(build_model("gmf", 3, 4), "lazy-adam")
    compile_model(build_model("gmf", 3, 4), "adam")  # Adam reads no internals


def test_lazy_adam_fits_through_its_model_and_refuses_a_plain_fit(tmp_path):
    """compile_model returns a LazyAdamModel on the same weights, saved as the plain model;
    fitting the plain model would update its tables with dense Adam, and is refused."""
    import keras

    from ncf_keras.errors import DataError
    from ncf_keras.models import build_model
    from ncf_keras.training.fit import compile_model
    from ncf_keras.training.lazy_adam import LazyAdamModel

    model = build_model("gmf", 5, 4, factors=2)
    fitted = compile_model(model, "lazy-adam", jit_compile=False)
    assert isinstance(fitted, LazyAdamModel) and fitted.network() is model
    assert [id(v) for v in fitted.weights] == [id(v) for v in model.weights]
    x = {"user": np.array([0, 1, 2], "int32"), "item": np.array([3, 2, 1], "int32")}
    y = np.array([1.0, 0.0, 1.0], "float32")
    fitted.fit(x, y, batch_size=3, verbose=0)
    fitted.save(tmp_path / "model.keras")
    assert type(keras.saving.load_model(tmp_path / "model.keras")) is type(model)
    with pytest.raises(DataError, match="fit the model that compile_model returns"):
        model.fit(x, y, batch_size=3, verbose=0)


def test_lazy_adam_steps_leave_the_embeddings_plain_layers_again():
    """During a step each table returns the rows it is fed; afterwards it looks them up."""
    import keras

    from ncf_keras.models import build_model
    from ncf_keras.training.fit import compile_model

    model = compile_model(build_model("gmf", 5, 4, factors=2), "lazy-adam", jit_compile=False)
    x = {"user": np.array([0, 1, 2], "int32"), "item": np.array([3, 2, 1], "int32")}
    model.fit(x, np.array([1.0, 0.0, 1.0], "float32"), batch_size=3, verbose=0)
    tables = [layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)]
    assert len(tables) == 2 and all("call" not in vars(layer) for layer in tables)
    user = model.get_layer("gmf_user_embedding")
    np.testing.assert_array_equal(
        np.asarray(user(x["user"])), np.asarray(user.embeddings)[[0, 1, 2]]
    )
