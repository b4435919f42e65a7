"""GMF, MLP and NeuMF builders, NeuMF pre-training, and saving to .keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ncf_keras import models
from ncf_keras.errors import ArgumentError, DataError
from ncf_keras.models import named_weights
from ncf_keras.notebook import check_same_model
from ncf_keras.training import pretraining

NUM_USERS, NUM_ITEMS = 11, 17


def batch(n: int = 9, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "user": rng.integers(0, NUM_USERS, n).astype(np.int32),
        "item": rng.integers(0, NUM_ITEMS, n).astype(np.int32),
    }


def table_of(model: keras.Model, name: str) -> np.ndarray:
    """The embedding table of layer `name`, wherever it sits (the MLP's are in `mlp_layer1`)."""
    return keras.ops.convert_to_numpy(named_weights(model)[f"{name}/embeddings"])


def embedding_shape(model: keras.Model, name: str) -> tuple[int, ...]:
    return table_of(model, name).shape


def randomize(model: keras.Model, seed: int) -> keras.Model:
    """Overwrite every weight with N(0, 0.5) noise, so copies are easy to tell apart."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    return model


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


@pytest.mark.parametrize(
    "build",
    [
        lambda: models.gmf(NUM_USERS, NUM_ITEMS, factors=4),
        lambda: models.mlp(NUM_USERS, NUM_ITEMS, layers=[8, 4, 2]),
        lambda: models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[6, 4]),
    ],
    ids=["gmf", "mlp", "neumf"],
)
def test_models_output_one_probability_per_pair(build):
    """Each model maps a batch of (user, item) ids to probabilities of shape (batch, 1)."""
    model = randomize(build(), seed=1)
    scores = np.asarray(model.predict(batch(9), verbose=0))
    assert scores.shape == (9, 1)
    assert np.all((scores >= 0) & (scores <= 1))
    assert np.unique(scores).size > 1  # depends on the input


def test_gmf_embeddings_have_the_factor_size():
    model = models.gmf(NUM_USERS, NUM_ITEMS, factors=5)
    assert embedding_shape(model, "gmf_user_embedding") == (NUM_USERS, 5)
    assert embedding_shape(model, "gmf_item_embedding") == (NUM_ITEMS, 5)
    assert tuple(model.get_layer("prediction").kernel.shape) == (5, 1)


def test_mlp_embeddings_are_half_the_first_layer():
    """layers[0] is both embeddings side by side: each is layers[0] // 2 wide."""
    model = models.mlp(NUM_USERS, NUM_ITEMS, layers=[10, 6, 3])
    assert embedding_shape(model, "mlp_user_embedding") == (NUM_USERS, 5)
    assert embedding_shape(model, "mlp_item_embedding") == (NUM_ITEMS, 5)
    assert tuple(model.get_layer("mlp_layer1").kernel.shape) == (10, 6)
    assert tuple(model.get_layer("mlp_layer2").kernel.shape) == (6, 3)
    assert tuple(model.get_layer("prediction").kernel.shape) == (3, 1)


def test_neumf_has_separate_embeddings_and_a_fused_output():
    model = models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[8, 4, 2])
    assert embedding_shape(model, "gmf_user_embedding") == (NUM_USERS, 3)
    assert embedding_shape(model, "mlp_item_embedding") == (NUM_ITEMS, 4)
    assert tuple(model.get_layer("prediction").kernel.shape) == (3 + 2, 1)


def test_embeddings_start_small_distinct_and_seeded():
    """N(0, 0.01) embeddings: user and item tables differ, and the global seed fixes them."""
    keras.utils.set_random_seed(4)
    first = models.neumf(NUM_USERS, NUM_ITEMS, factors=4, layers=[8, 4])
    keras.utils.set_random_seed(4)
    again = models.neumf(NUM_USERS, NUM_ITEMS, factors=4, layers=[8, 4])
    keras.utils.set_random_seed(5)
    other = models.neumf(NUM_USERS, NUM_ITEMS, factors=4, layers=[8, 4])
    names = ["gmf_user_embedding", "gmf_item_embedding", "mlp_user_embedding", "mlp_item_embedding"]
    tables = [table_of(first, n) for n in names]
    for table in tables:
        assert 0.003 < table.std() < 0.03
    # No two tables share their leading rows (a shared, fixed-seed initializer would).
    for a in range(4):
        for b in range(a + 1, 4):
            assert not np.allclose(tables[a][:NUM_USERS], tables[b][:NUM_USERS])
    for name in names:
        np.testing.assert_array_equal(table_of(first, name), table_of(again, name))
    assert not np.allclose(table_of(first, names[0]), table_of(other, names[0]))


@pytest.mark.parametrize("layers", [[7, 4], [9, 4, 2], [8]])
def test_mlp_refuses_an_odd_first_layer_or_a_single_layer(layers):
    """layers[0] must be even and there must be at least two sizes: an error naming them."""
    text = ",".join(map(str, layers))
    with pytest.raises(ArgumentError, match=rf"^layers {text}: need at least two sizes") as error:
        models.mlp(NUM_USERS, NUM_ITEMS, layers=layers)
    assert error.value.argument == "layers"
    with pytest.raises(ArgumentError, match=rf"^layers {text}"):
        models.neumf(NUM_USERS, NUM_ITEMS, layers=layers)


@pytest.mark.parametrize("name", ["mlp", "neumf"])
def test_dropout_acts_after_each_relu_layer_in_training_only(name):
    """Inference is the model without dropout; training drops units, a new draw each call."""
    build = dict(factors=3, layers=[8, 4, 2])
    model = models.build_model(name, NUM_USERS, NUM_ITEMS, **build, dropout=0.5)
    plain = models.build_model(name, NUM_USERS, NUM_ITEMS, **build)
    assert [layer.name for layer in model.layers if "dropout" in layer.name] == [
        "mlp_dropout1",
        "mlp_dropout2",
    ]
    randomize(model, seed=3)
    for layer in plain.layers:
        layer.set_weights(model.get_layer(layer.name).get_weights())
    x = batch(50, seed=4)
    np.testing.assert_allclose(model(x), plain(x), rtol=1e-6)
    first, second = (np.asarray(model(x, training=True)) for _ in range(2))
    assert not np.allclose(first, np.asarray(plain(x)))
    assert not np.allclose(first, second)


@pytest.mark.parametrize(("name", "rate"), [("neumf", 1.0), ("neumf", -0.1), ("gmf", 0.2)])
def test_dropout_refuses_a_rate_outside_zero_to_one_or_a_model_without_a_tower(name, rate):
    with pytest.raises(ArgumentError, match="dropout"):
        models.build_model(name, NUM_USERS, NUM_ITEMS, dropout=rate)


def test_l2_penalises_the_looked_up_embeddings_per_example():
    """l2 * (|p_u|^2 + |q_i|^2) per example, averaged over the batch; dense layers are free."""
    model = randomize(models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[6, 4], l2=0.01), 1)
    x = batch(5)
    model(x)
    expected = sum(
        0.01 * np.mean(np.sum(table_of(model, name)[x[key]] ** 2, axis=1))
        for name, key in [
            ("gmf_user_embedding", "user"),
            ("gmf_item_embedding", "item"),
            ("mlp_user_embedding", "user"),
            ("mlp_item_embedding", "item"),
        ]
    )
    assert len(model.losses) == 4
    assert float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses)) == pytest.approx(
        expected, rel=1e-5
    )
    assert models.gmf(NUM_USERS, NUM_ITEMS).losses == []


@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_gmf_holds_h_at_the_length_of_ones_only_under_l2(l2):
    """With l2, GMF could dodge the penalty by growing h; |h| = sqrt(factors) stops that."""
    model = models.gmf(NUM_USERS, NUM_ITEMS, factors=3, l2=l2)
    model.compile(optimizer=keras.optimizers.SGD(5.0), loss="binary_crossentropy")
    x = batch(64)
    model.fit(x, np.ones(64, dtype="float32"), epochs=3, verbose=0)
    length = np.linalg.norm(model.get_layer("prediction").get_weights()[0])
    if l2:
        assert length == pytest.approx(3**0.5, abs=1e-5)
    else:
        assert abs(length - 3**0.5) > 0.01


def test_first_rows_max_norm_shortens_only_the_first_rows_and_only_when_too_long():
    bound = models.FirstRowsMaxNorm(rows=2, max_value=1.0)
    long = np.array([[3.0], [4.0], [10.0]], dtype="float32")
    short = np.array([[0.3], [0.4], [10.0]], dtype="float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bound(long)), [[0.6], [0.8], [10.0]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bound(short)), short)


@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_neumf_bounds_the_gmf_part_of_h_only_under_l2(l2):
    """Under l2, |h[:factors]| <= sqrt(factors), as in GMF; the MLP part of h stays free."""
    model = models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[8, 4, 2], l2=l2)
    output = model.get_layer("prediction")
    output.set_weights([np.full((5, 1), 10.0, dtype="float32"), np.zeros(1, dtype="float32")])
    model.compile(optimizer=keras.optimizers.SGD(1e-6), loss="binary_crossentropy")
    model.fit(batch(16), np.ones(16, dtype="float32"), epochs=1, verbose=0)
    kernel = output.get_weights()[0]
    gmf_length = np.linalg.norm(kernel[:3])
    if l2:
        assert gmf_length == pytest.approx(3**0.5, abs=1e-4)
    else:
        assert gmf_length > 17
    np.testing.assert_allclose(kernel[3:], 10.0, atol=1e-3)


def test_neumf_under_l2_keeps_the_alpha_of_pre_training():
    """alpha * h_GMF is shorter than sqrt(factors), so the bound leaves eq. (13) as loaded."""
    gmf = models.gmf(NUM_USERS, NUM_ITEMS, factors=3, l2=0.01)
    ones = np.ones((3, 1), dtype="float32")  # |h_GMF| = sqrt(3), as training under l2 leaves it
    gmf.get_layer("prediction").set_weights([ones, np.zeros(1, dtype="float32")])
    mlp = randomize(models.mlp(NUM_USERS, NUM_ITEMS, layers=[8, 4, 2], l2=0.01), seed=3)
    neumf = models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[8, 4, 2], l2=0.01)
    pretraining.load_pretrained(neumf, gmf, mlp, alpha=0.4)
    loaded = neumf.get_layer("prediction").get_weights()[0]
    neumf.compile(optimizer=keras.optimizers.SGD(0.0), loss="binary_crossentropy")
    neumf.fit(batch(16), np.ones(16, dtype="float32"), epochs=1, verbose=0)
    np.testing.assert_array_equal(neumf.get_layer("prediction").get_weights()[0], loaded)
    assert np.linalg.norm(loaded[:3]) == pytest.approx(0.4 * 3**0.5, rel=1e-5)


# --- Pre-training -----------------------------------------------------------------------


@pytest.fixture
def pretrained() -> tuple[keras.Model, keras.Model]:
    """A GMF and an MLP with distinctive random weights, biases included."""
    gmf = randomize(models.gmf(NUM_USERS, NUM_ITEMS, factors=3), seed=2)
    mlp = randomize(models.mlp(NUM_USERS, NUM_ITEMS, layers=[8, 4, 2]), seed=3)
    return gmf, mlp


def test_load_pretrained_copies_embeddings_and_layers(pretrained):
    gmf, mlp = pretrained
    neumf = models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[8, 4, 2])
    assert pretraining.load_pretrained(neumf, gmf, mlp, alpha=0.3) is neumf
    for source, names in (
        (gmf, ["gmf_user_embedding", "gmf_item_embedding"]),
        (mlp, ["mlp_layer1", "mlp_layer2"]),  # mlp_layer1 holds the MLP's two tables
    ):
        for name in names:
            for got, want in zip(
                neumf.get_layer(name).get_weights(),
                source.get_layer(name).get_weights(),
                strict=True,
            ):
                np.testing.assert_array_equal(got, want)


def test_load_pretrained_takes_an_mlp_whose_embeddings_sit_beside_its_first_layer(pretrained):
    """An MLP saved before `PairDense` (embeddings, a concatenation, then Dense layers) loads."""
    gmf, _ = pretrained
    ids = models.model_inputs()
    p = keras.layers.Embedding(NUM_USERS, 4, name="mlp_user_embedding")(ids["user"])
    q = keras.layers.Embedding(NUM_ITEMS, 4, name="mlp_item_embedding")(ids["item"])
    x = keras.layers.Concatenate(name="mlp_concat")([p, q])
    x = keras.layers.Dense(4, activation="relu", name="mlp_layer1")(x)
    x = keras.layers.Dense(2, activation="relu", name="mlp_layer2")(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="prediction")(x)
    old = randomize(keras.Model(ids, output, name="mlp"), seed=4)
    neumf = models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[8, 4, 2])
    pretraining.load_pretrained(neumf, gmf, old)
    copied, source = named_weights(neumf), named_weights(old)
    for name in ("mlp_user_embedding/embeddings", "mlp_layer1/kernel", "mlp_layer2/bias"):
        np.testing.assert_array_equal(np.asarray(copied[name]), np.asarray(source[name]))


def test_load_pretrained_builds_the_weighted_output_layer(pretrained):
    """h = [alpha h_gmf, (1 - alpha) h_mlp] and b = alpha b_gmf + (1 - alpha) b_mlp."""
    gmf, mlp = pretrained
    alpha = 0.3
    neumf = pretraining.load_pretrained(
        models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[8, 4, 2]), gmf, mlp, alpha
    )
    h_gmf, b_gmf = gmf.get_layer("prediction").get_weights()
    h_mlp, b_mlp = mlp.get_layer("prediction").get_weights()
    kernel, bias = neumf.get_layer("prediction").get_weights()
    np.testing.assert_allclose(kernel[:3], alpha * h_gmf, rtol=1e-6)
    np.testing.assert_allclose(kernel[3:], (1 - alpha) * h_mlp, rtol=1e-6)
    np.testing.assert_allclose(bias, alpha * b_gmf + (1 - alpha) * b_mlp, rtol=1e-6)
    # So NeuMF's logit is the alpha-weighted sum of the two models' logits.
    x = batch(12, seed=5)
    fused = logit(np.asarray(neumf.predict(x, verbose=0), np.float64))
    g = logit(np.asarray(gmf.predict(x, verbose=0), np.float64))
    m = logit(np.asarray(mlp.predict(x, verbose=0), np.float64))
    np.testing.assert_allclose(fused, alpha * g + (1 - alpha) * m, rtol=1e-4, atol=1e-4)


def test_load_pretrained_refuses_mismatched_factors(pretrained):
    """A GMF with other factors than NeuMF's: DataError naming the layer and shapes."""
    _, mlp = pretrained
    gmf = models.gmf(NUM_USERS, NUM_ITEMS, factors=4)
    neumf = models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[8, 4, 2])
    with pytest.raises(DataError, match=r"gmf layer 'gmf_user_embedding' has weights of shape"):
        pretraining.load_pretrained(neumf, gmf, mlp)


def test_load_pretrained_refuses_mismatched_layers(pretrained):
    """An MLP with a layer NeuMF lacks, or a different last layer: DataError."""
    gmf, _ = pretrained
    neumf = models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[8, 4])
    deeper = models.mlp(NUM_USERS, NUM_ITEMS, layers=[8, 4, 2])
    with pytest.raises(DataError, match=r"layer 'mlp_layer2', which NeuMF lacks"):
        pretraining.load_pretrained(neumf, gmf, deeper)
    shallower = models.mlp(NUM_USERS, NUM_ITEMS, layers=[8, 4])
    neumf_deep = models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[8, 4, 2])
    with pytest.raises(DataError, match=r"prediction layers give a \(7, 1\) kernel"):
        pretraining.load_pretrained(neumf_deep, gmf, shallower)


def test_load_pretrained_refuses_another_dataset_size(pretrained):
    """Embeddings for a different number of users do not fit: DataError."""
    gmf, mlp = pretrained
    neumf = models.neumf(NUM_USERS + 1, NUM_ITEMS, factors=3, layers=[8, 4, 2])
    with pytest.raises(DataError, match=r"NeuMF expects \[\(12, 3\)\]"):
        pretraining.load_pretrained(neumf, gmf, mlp)


@pytest.mark.parametrize("name", ["gmf", "neumf"])
@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_saved_model_reloads_and_predicts_the_same(tmp_path, name, l2):
    """A .keras file reloads with keras.saving.load_model, no custom objects to pass.

    With l2, the penalty and the constraints on h (GMF's and NeuMF's) come back too.
    """
    if name == "gmf":
        model = models.gmf(NUM_USERS, NUM_ITEMS, factors=3, l2=l2)
    else:
        model = models.neumf(NUM_USERS, NUM_ITEMS, factors=3, layers=[8, 4, 2], l2=l2)
    randomize(model, seed=7)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = batch(20, seed=8)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    loaded(x)
    assert len(loaded.losses) == (0 if not l2 else 2 if name == "gmf" else 4)
    constraint = loaded.get_layer("prediction").kernel_constraint
    if not l2:
        assert constraint is None
    elif name == "gmf":
        assert isinstance(constraint, keras.constraints.MinMaxNorm)
    else:
        assert isinstance(constraint, models.FirstRowsMaxNorm)
        assert constraint.get_config() == {"rows": 3, "max_value": 3**0.5}


def test_check_same_model_accepts_a_copy_and_refuses_another_shape():
    """A second gmf() with other weights is the same model; one with 4 factors is not."""
    built = randomize(models.gmf(NUM_USERS, NUM_ITEMS, factors=3), seed=1)
    packaged = models.gmf(NUM_USERS, NUM_ITEMS, factors=3)
    names = check_same_model(built, packaged, NUM_USERS, NUM_ITEMS)
    assert "gmf_user_embedding" in names and "prediction" in names
    for layer in built.layers:  # the weights were copied over
        copied = packaged.get_layer(layer.name).get_weights()
        for mine, theirs in zip(layer.get_weights(), copied, strict=True):
            np.testing.assert_array_equal(mine, theirs)
    with pytest.raises(AssertionError):
        check_same_model(built, models.gmf(NUM_USERS, NUM_ITEMS, factors=4), 5, 5)


def test_models_build_plain_keras_embeddings_and_import_no_training_code():
    import ast
    from pathlib import Path

    model = models.build_model("neumf", 5, 4, factors=2, layers=[4, 2])
    first = model.get_layer("mlp_layer1")
    tables = [layer for layer in model.layers if "embedding" in layer.name]
    tables += [first.user_embedding, first.item_embedding]
    assert len(tables) == 4 and {type(layer) for layer in tables} == {keras.layers.Embedding}
    tree = ast.parse(Path(models.__file__).read_text())
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [
        a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names
    ]
    assert not [name for name in imported if name and name.startswith("ncf_keras.training")]


def test_a_model_saved_with_the_old_embedding_class_still_loads(tmp_path):
    """Files written before the models used plain embeddings name theirs "ncf_keras>Embedding"."""
    import json
    import zipfile

    model = models.build_model("neumf", 5, 4, factors=2, layers=[4, 2], l2=0.01)
    model.save(tmp_path / "new.keras")
    with (
        zipfile.ZipFile(tmp_path / "new.keras") as new,
        zipfile.ZipFile(tmp_path / "old.keras", "w") as old,
    ):
        for item in new.infolist():
            data = new.read(item)
            if item.filename == "config.json":  # the old code's form of each embedding
                config = json.loads(data)
                tables = [
                    layer for layer in config["config"]["layers"] if "embedding" in layer["name"]
                ]
                assert len(tables) == 2  # GMF's; the MLP's are made by PairDense
                for layer in tables:
                    layer.update(
                        module="ncf_keras.training.lazy_adam", registered_name="ncf_keras>Embedding"
                    )
                data = json.dumps(config)
            old.writestr(item, data)
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert isinstance(loaded.get_layer("gmf_user_embedding"), keras.layers.Embedding)
    x = {"user": np.array([0, 4, 2], "int32"), "item": np.array([3, 0, 1], "int32")}
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
