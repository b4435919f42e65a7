"""GMF, MLP and NeuMF as Keras functional models (He et al. 2017, section 3).

Every model takes a dict of two int32 tensors of shape (batch,), "user" and
"item", and returns the predicted probability of an interaction, shape
(batch, 1). Only Keras layers and ops are used, so the models run on any Keras
backend. They save to `.keras` files; the one custom object, the constraint on
NeuMF's output layer under `l2`, is registered when this module is imported.

`l2` is an L2 penalty on the embeddings each example looks up, as in Rendle et
al. 2020: l2 * (|p_u|^2 + |q_i|^2), averaged over the batch. It is computed on
the batch's rows, never on the whole embedding tables. The dense layers are not
penalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from ncf_keras.errors import DataError


def _inputs() -> dict[str, keras.KerasTensor]:
    return {
        "user": keras.Input(shape=(), dtype="int32", name="user"),
        "item": keras.Input(shape=(), dtype="int32", name="item"),
    }


def embedding(
    count: int, size: int, l2: float, name: str, stddev: float = 0.01
) -> keras.layers.Embedding:
    """A (count, size) table from N(0, stddev), penalised by `l2` on the rows it returns."""
    return keras.layers.Embedding(
        count,
        size,
        # N(0, 0.01) by default, as in the paper. A fresh initializer per layer: one
        # instance shared by several layers would give them all the same rows.
        embeddings_initializer=keras.initializers.RandomNormal(stddev=stddev),
        # On the looked-up rows (Keras averages it over the batch), not the table.
        activity_regularizer=keras.regularizers.L2(l2) if l2 else None,
        name=name,
    )


def _gmf_vector(
    inputs: dict[str, keras.KerasTensor],
    num_users: int,
    num_items: int,
    factors: int,
    l2: float,
    stddev: float = 0.01,
) -> keras.KerasTensor:
    """p_u * q_i, shape (batch, factors)."""
    p = embedding(num_users, factors, l2, "gmf_user_embedding", stddev)(inputs["user"])
    q = embedding(num_items, factors, l2, "gmf_item_embedding", stddev)(inputs["item"])
    return keras.layers.Multiply(name="gmf_product")([p, q])


def _mlp_vector(
    inputs: dict[str, keras.KerasTensor],
    num_users: int,
    num_items: int,
    layer_sizes: Sequence[int],
    l2: float,
) -> keras.KerasTensor:
    """The MLP tower over [p_u, q_i], shape (batch, layer_sizes[-1])."""
    if len(layer_sizes) < 2 or layer_sizes[0] % 2:
        raise DataError(
            f"--layers {','.join(map(str, layer_sizes))}: need at least two sizes, "
            "the first even (it is the user and item embeddings side by side)"
        )
    half = layer_sizes[0] // 2
    p = embedding(num_users, half, l2, "mlp_user_embedding")(inputs["user"])
    q = embedding(num_items, half, l2, "mlp_item_embedding")(inputs["item"])
    x = keras.layers.Concatenate(name="mlp_concat")([p, q])
    for depth, units in enumerate(layer_sizes[1:], 1):
        x = keras.layers.Dense(units, activation="relu", name=f"mlp_layer{depth}")(x)
    return x


@keras.saving.register_keras_serializable(package="ncf_keras")
class FirstRowsMaxNorm(keras.constraints.Constraint):
    """Scales `kernel[:rows]` down to Euclidean length `max_value` when it is longer.

    The other rows are left free. NeuMF uses it on the GMF part of h under `l2`.
    """

    def __init__(self, rows: int, max_value: float):
        self.rows, self.max_value = rows, max_value

    def __call__(self, kernel):
        head, tail = kernel[: self.rows], kernel[self.rows :]
        length = keras.ops.sqrt(keras.ops.sum(keras.ops.square(head)))
        scale = keras.ops.minimum(1.0, self.max_value / (length + keras.config.epsilon()))
        return keras.ops.concatenate([head * scale, tail], axis=0)

    def get_config(self) -> dict:
        return {"rows": self.rows, "max_value": self.max_value}


def _prediction(
    x: keras.KerasTensor, constraint: keras.constraints.Constraint | None = None
) -> keras.KerasTensor:
    """y_hat = sigmoid(h^T x): the interaction probability, shape (batch, 1).

    `constraint` is applied to h after every update.
    """
    return keras.layers.Dense(
        1,
        activation="sigmoid",
        kernel_initializer="lecun_uniform",
        kernel_constraint=constraint,
        name="prediction",
    )(x)


def gmf(num_users: int, num_items: int, factors: int = 8, l2: float = 0.0) -> keras.Model:
    """Generalized Matrix Factorization: y_hat = sigmoid(h^T (p_u * q_i)), eq. (9).

    With `l2`, GMF is put on the scale of plain MF, where the penalty means the
    same: h is held at length sqrt(factors), the length of h = (1, ..., 1) that
    makes GMF a dot product, and the embeddings start at N(0, 0.1). (A free h
    would grow and undo the penalty, since it can trade scale with p_u * q_i;
    from N(0, 0.01), a fixed-length h learns very slowly.)
    """
    inputs = _inputs()
    stddev, fixed = 0.01, None
    if l2:
        stddev, fixed = 0.1, keras.constraints.MinMaxNorm(factors**0.5, factors**0.5, axis=0)
    vector = _gmf_vector(inputs, num_users, num_items, factors, l2, stddev)
    return keras.Model(inputs, _prediction(vector, fixed), name="gmf")


def mlp(
    num_users: int, num_items: int, layers: Sequence[int] = (64, 32, 16, 8), l2: float = 0.0
) -> keras.Model:
    """Multi-Layer Perceptron over [p_u, q_i], eq. (10).

    `layers[0]` is the width of the concatenated embeddings (each is half of
    it); `layers[1:]` are the ReLU layers. The last one is the predictive factors.
    """
    inputs = _inputs()
    return keras.Model(
        inputs, _prediction(_mlp_vector(inputs, num_users, num_items, layers, l2)), name="mlp"
    )


def neumf(
    num_users: int,
    num_items: int,
    factors: int = 8,
    layers: Sequence[int] = (64, 32, 16, 8),
    l2: float = 0.0,
) -> keras.Model:
    """Neural Matrix Factorization: GMF and MLP with separate embeddings, fused, eq. (12).

    y_hat = sigmoid(h^T [p_u * q_i, MLP tower]). With `l2`, the GMF part is set
    up as in `gmf`: its embeddings start at N(0, 0.1), and its part of h,
    h[:factors], is held at length sqrt(factors) at most (at most, so that the
    alpha * h_GMF of pre-training, eq. (13), keeps its alpha).
    """
    inputs = _inputs()
    stddev, bound = 0.01, None
    if l2:
        stddev, bound = 0.1, FirstRowsMaxNorm(factors, factors**0.5)
    fused = keras.layers.Concatenate(name="neumf_concat")(
        [
            _gmf_vector(inputs, num_users, num_items, factors, l2, stddev),
            _mlp_vector(inputs, num_users, num_items, layers, l2),
        ]
    )
    return keras.Model(inputs, _prediction(fused, bound), name="neumf")


def load_pretrained(
    neumf_model: keras.Model, gmf_model: keras.Model, mlp_model: keras.Model, alpha: float = 0.5
) -> keras.Model:
    """Initialise NeuMF from trained GMF and MLP models, as in section 3.4.1.

    Embeddings and MLP layers are copied by name. The output layer becomes
    h = [alpha * h_GMF, (1 - alpha) * h_MLP], with bias alpha * b_GMF +
    (1 - alpha) * b_MLP. Raises DataError when a shape does not match.
    Returns `neumf_model`, modified in place.
    """
    if not 0.0 <= alpha <= 1.0:
        raise DataError(f"--alpha must be between 0 and 1, got {alpha}")
    for source in (gmf_model, mlp_model):
        for layer in source.layers:
            if not layer.weights or layer.name == "prediction":
                continue
            target = _layer(neumf_model, layer.name, source.name)
            _check_shapes(target, layer, source.name)
            target.set_weights(layer.get_weights())
    h_gmf, b_gmf = gmf_model.get_layer("prediction").get_weights()
    h_mlp, b_mlp = mlp_model.get_layer("prediction").get_weights()
    output = neumf_model.get_layer("prediction")
    kernel = np.concatenate([alpha * h_gmf, (1 - alpha) * h_mlp])
    if kernel.shape != tuple(output.kernel.shape):
        raise DataError(
            f"pre-trained prediction layers give a {kernel.shape} kernel; "
            f"NeuMF needs {tuple(output.kernel.shape)}"
        )
    output.set_weights([kernel, alpha * b_gmf + (1 - alpha) * b_mlp])
    return neumf_model


def check_same_model(
    built: keras.Model, packaged: keras.Model, num_users: int, num_items: int, seed: int = 0
) -> list[str]:
    """Check that a model built by hand is `packaged`, a builder's model, layer for layer.

    Both must have the same layer names and weight shapes. `built`'s weights are
    then copied into `packaged`, and both must give the same scores (to 1e-6) on
    1,000 random (user, item) pairs. Returns the layer names; raises
    AssertionError where the models differ.
    """

    def shapes(model: keras.Model) -> dict[str, list[tuple]]:
        return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers}

    mine, theirs = shapes(built), shapes(packaged)
    if mine != theirs:
        raise AssertionError(f"layers and weight shapes differ: {mine} != {theirs}")
    for layer in built.layers:
        packaged.get_layer(layer.name).set_weights(layer.get_weights())
    rng = np.random.default_rng(seed)
    pairs = {
        "user": rng.integers(num_users, size=1000, dtype=np.int32),
        "item": rng.integers(num_items, size=1000, dtype=np.int32),
    }
    np.testing.assert_allclose(
        packaged.predict(pairs, verbose=0), built.predict(pairs, verbose=0), rtol=1e-6
    )
    return list(mine)


def _layer(model: keras.Model, name: str, source: str) -> keras.layers.Layer:
    try:
        return model.get_layer(name)
    except ValueError:
        raise DataError(
            f"pre-trained {source} model has layer {name!r}, which NeuMF "
            "lacks: build NeuMF with the same --layers"
        ) from None


def _check_shapes(target: keras.layers.Layer, layer: keras.layers.Layer, source: str) -> None:
    want = [tuple(w.shape) for w in target.weights]
    got = [tuple(w.shape) for w in layer.weights]
    if want != got:
        raise DataError(
            f"pre-trained {source} layer {layer.name!r} has weights of shape {got}; "
            f"NeuMF expects {want} (check --factors, --layers and the dataset)"
        )
