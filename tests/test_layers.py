"""PairDense: the MLP's first layer, computed rows first or tables first, the same either way."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ncf_keras.layers import PairDense
from ncf_keras.models import build_model

USERS, ITEMS = 7, 5


def pairs(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """n (user, item) pairs, with repeats, so that a row's gradient sums several lookups."""
    rng = np.random.default_rng(seed)
    return {
        "user": rng.integers(0, USERS, n).astype("int32"),
        "item": rng.integers(0, ITEMS, n).astype("int32"),
    }


def noisy(model: keras.Model, seed: int = 1) -> keras.Model:
    """`model` with every weight N(0, 0.5), so that both ways give outputs far from zero."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.5, variable.shape).astype("float32"))
    return model


def trained_one_step(table_first: bool, x: dict, y: np.ndarray, l2: float = 0.0) -> list:
    """Every weight of a NeuMF after one SGD step on (x, y), its first layer computed as told."""
    keras.utils.set_random_seed(0)
    model = noisy(build_model("neumf", USERS, ITEMS, factors=3, layers=[6, 4, 2], l2=l2))
    model.get_layer("mlp_layer1").table_first = table_first
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    model.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0)
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def test_both_ways_give_the_same_output():
    model = noisy(build_model("mlp", USERS, ITEMS, layers=[6, 4]))
    layer, x = model.get_layer("mlp_layer1"), pairs(40)
    outputs = {}
    for table_first in (False, True):
        layer.table_first = table_first
        outputs[table_first] = keras.ops.convert_to_numpy(layer(x))
    assert outputs[False].shape == (40, 4) and np.abs(outputs[False]).max() > 0.1
    np.testing.assert_allclose(outputs[True], outputs[False], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_both_ways_give_the_same_gradients(l2):
    """One SGD step moves every weight (tables, kernel, bias) the same way, l2 penalty included."""
    x, y = pairs(30), np.random.default_rng(2).integers(0, 2, 30).astype("float32")
    before = [v for v in trained_one_step(False, x, y, l2)]
    after = trained_one_step(True, x, y, l2)
    for rows_first, tables_first in zip(before, after, strict=True):
        np.testing.assert_allclose(tables_first, rows_first, rtol=1e-4, atol=1e-6)


def test_it_multiplies_the_tables_first_only_for_batches_over_half_the_tables(monkeypatch):
    """Tables first costs (users + items) x size x units, rows first 2 x batch x size x units."""
    layer = build_model("mlp", USERS, ITEMS, layers=[6, 4]).get_layer("mlp_layer1")
    chosen = []
    monkeypatch.setattr(layer, "_tables_first", lambda u, i: chosen.append("tables") or 0.0)
    monkeypatch.setattr(layer, "_rows_first", lambda p, q: chosen.append("rows") or 0.0)
    for batch in (6, 7):  # 2 x 6 = 12 = users + items: rows first; 14 > 12: tables first
        layer.call({key: keras.ops.convert_to_tensor(v) for key, v in pairs(batch).items()})
    assert chosen == ["rows", "tables"]
    layer.table_first = False
    layer.call(pairs(50))
    assert chosen[-1] == "rows"


def test_a_batch_size_known_only_at_run_time_still_takes_the_cheaper_way():
    """TensorFlow's traced steps see a batch of unknown size: the choice is made as they run."""
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("a TensorFlow trace")
    model = noisy(build_model("mlp", USERS, ITEMS, layers=[6, 4]))
    layer = model.get_layer("mlp_layer1")
    ids = tf.TensorSpec((None,), tf.int32)
    traced = tf.function(layer.call, input_signature=[{"user": ids, "item": ids}])
    for batch in (3, 40):
        x = pairs(batch)
        layer.table_first = False
        want = keras.ops.convert_to_numpy(layer(x))
        layer.table_first = None
        np.testing.assert_allclose(traced(x).numpy(), want, rtol=1e-5, atol=1e-6)


def test_it_saves_and_loads_with_its_settings(tmp_path):
    model = noisy(build_model("neumf", USERS, ITEMS, factors=3, layers=[6, 4], l2=0.01))
    model.get_layer("mlp_layer1").table_first = True
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    layer = loaded.get_layer("mlp_layer1")
    assert isinstance(layer, PairDense) and layer.table_first is True and layer.l2 == 0.01
    assert (layer.user_embedding.name, layer.item_embedding.name) == (
        "mlp_user_embedding",
        "mlp_item_embedding",
    )
    x = pairs(9)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_its_diagram_box_names_it_with_its_width_and_activation():
    import matplotlib

    matplotlib.use("Agg")
    from ncf_keras.diagrams import describe, draw_model, layer_graph

    model = build_model("neumf", USERS, ITEMS, factors=3, layers=[6, 4])
    assert describe(model.get_layer("mlp_layer1")) == "PairDense 4, relu"
    assert sorted(layer_graph(model)["mlp_layer1"]) == ["item", "user"]
    assert draw_model(model).axes
