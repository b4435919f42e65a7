"""GMF, MLP, NeuMF and plain MF as Keras functional models, and a registry by name.

GMF, MLP and NeuMF are He et al. 2017, section 3; MF is the dot-product
baseline of Rendle et al. 2020. `build_model(name, ...)` builds any of them:
the CLI, the benchmarks and the notebooks all build models through it.

Every model takes a dict of two int32 tensors of shape (batch,), "user" and
"item", and returns the predicted probability of an interaction, shape
(batch, 1). Only Keras layers and ops are used, so the models run on any Keras
backend. They save to `.keras` files; the custom objects (the constraint on
NeuMF's output layer under `l2`, and the name older files give their
embeddings) are registered when this module is imported.

`l2` is an L2 penalty on the embeddings each example looks up, as in Rendle et
al. 2020: l2 * (|p_u|^2 + |q_i|^2), averaged over the batch. It is computed on
the batch's rows, never on the whole embedding tables. The dense layers are not
penalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ncf_keras.checks import check_choice, check_layers, check_number
from ncf_keras.defaults import FACTORS, LAYERS, MODEL_NAMES, paper_tower
from ncf_keras.errors import ArgumentError
from ncf_keras.layers import PairDense, embedding


def model_inputs() -> dict[str, keras.KerasTensor]:
    """The inputs every model here takes: {"user", "item"}, int32, shape (batch,)."""
    return {
        "user": keras.Input(shape=(), dtype="int32", name="user"),
        "item": keras.Input(shape=(), dtype="int32", name="item"),
    }


@keras.saving.register_keras_serializable(package="ncf_keras", name="Embedding")
class Embedding(keras.layers.Embedding):  # named so: Keras keys saved weights by class name
    """`keras.layers.Embedding` under the name older saved models give it: "ncf_keras>Embedding".

    Earlier versions of ncf-keras used a subclass that lazy Adam could feed; it added nothing to
    the layer, so it loads as a plain embedding. New models use
    `keras.layers.Embedding` itself.
    """


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
    dropout: float = 0.0,
) -> keras.KerasTensor:
    """The MLP tower over [p_u, q_i], shape (batch, layer_sizes[-1]).

    Its first layer holds the two embeddings (`PairDense`, which computes it
    tables first where that is less work). With `dropout`, each ReLU layer's
    output is dropped at that rate in training.
    """
    layer_sizes = check_layers(layer_sizes)
    first = PairDense(  # the embeddings and the first ReLU layer over [p_u, q_i]
        num_users, num_items, layer_sizes[0] // 2, layer_sizes[1], l2=l2,
        names=("mlp_user_embedding", "mlp_item_embedding"), name="mlp_layer1",
    )  # fmt: skip
    rest = [
        keras.layers.Dense(units, activation="relu", name=f"mlp_layer{depth}")
        for depth, units in enumerate(layer_sizes[2:], 2)
    ]
    x = inputs
    for depth, layer in enumerate([first, *rest], 1):
        x = layer(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"mlp_dropout{depth}")(x)
    return x


@keras.saving.register_keras_serializable(package="ncf_keras")
class FirstRowsMaxNorm(keras.constraints.Constraint):
    """Scales `kernel[:rows]` down to Euclidean length `max_value` when it is longer.

    The other rows are left free. NeuMF uses it on the GMF part of h under `l2`.
    """

    def __init__(self, rows: int, max_value: float):
        self.rows, self.max_value = rows, max_value

    def __call__(self, kernel):
        kernel = keras.ops.convert_to_tensor(kernel)
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


def gmf(num_users: int, num_items: int, factors: int = FACTORS, l2: float = 0.0) -> keras.Model:
    """Generalized Matrix Factorization: y_hat = sigmoid(h^T (p_u * q_i)), eq. (9).

    With `l2`, GMF is put on the scale of plain MF, where the penalty means the
    same: h is held at length sqrt(factors), the length of h = (1, ..., 1) that
    makes GMF a dot product, and the embeddings start at N(0, 0.1). (A free h
    would grow and undo the penalty, since it can trade scale with p_u * q_i;
    from N(0, 0.01), a fixed-length h learns very slowly.)
    """
    inputs = model_inputs()
    stddev, fixed = 0.01, None
    if l2:
        stddev, fixed = 0.1, keras.constraints.MinMaxNorm(factors**0.5, factors**0.5, axis=0)
    vector = _gmf_vector(inputs, num_users, num_items, factors, l2, stddev)
    return keras.Model(inputs, _prediction(vector, fixed), name="gmf")


def mlp(
    num_users: int,
    num_items: int,
    layers: Sequence[int] = LAYERS,
    l2: float = 0.0,
    dropout: float = 0.0,
) -> keras.Model:
    """Multi-Layer Perceptron over [p_u, q_i], eq. (10).

    `layers[0]` is the width of the concatenated embeddings (each is half of
    it); `layers[1:]` are the ReLU layers. The last one is the predictive
    factors. `dropout` is the rate after each ReLU layer (default 0).
    """
    inputs = model_inputs()
    vector = _mlp_vector(inputs, num_users, num_items, layers, l2, dropout)
    return keras.Model(inputs, _prediction(vector), name="mlp")


def neumf(
    num_users: int,
    num_items: int,
    factors: int = FACTORS,
    layers: Sequence[int] = LAYERS,
    l2: float = 0.0,
    dropout: float = 0.0,
) -> keras.Model:
    """Neural Matrix Factorization: GMF and MLP with separate embeddings, fused, eq. (12).

    y_hat = sigmoid(h^T [p_u * q_i, MLP tower]). With `l2`, the GMF part is set
    up as in `gmf`: its embeddings start at N(0, 0.1), and its part of h,
    h[:factors], is held at length sqrt(factors) at most (at most, so that the
    alpha * h_GMF of pre-training, eq. (13), keeps its alpha). `dropout` is
    the MLP tower's, as in `mlp`.
    """
    inputs = model_inputs()
    stddev, bound = 0.01, None
    if l2:
        stddev, bound = 0.1, FirstRowsMaxNorm(factors, factors**0.5)
    fused = keras.layers.Concatenate(name="neumf_concat")(
        [
            _gmf_vector(inputs, num_users, num_items, factors, l2, stddev),
            _mlp_vector(inputs, num_users, num_items, layers, l2, dropout),
        ]
    )
    return keras.Model(inputs, _prediction(fused, bound), name="neumf")


def mf(num_users: int, num_items: int, factors: int = FACTORS, l2: float = 0.0) -> keras.Model:
    """Plain matrix factorisation with biases: y_hat = sigmoid(p_u . q_i + b_u + b_i).

    As Rendle et al. 2020 set it up: N(0, 0.1) embeddings, zero biases, and `l2`
    on every looked-up row (embeddings and biases), averaged over the batch.
    """
    inputs = model_inputs()
    user, item = inputs["user"], inputs["item"]
    p = embedding(num_users, factors, l2, "mf_user_embedding", stddev=0.1)(user)
    q = embedding(num_items, factors, l2, "mf_item_embedding", stddev=0.1)(item)
    biases = [
        embedding(num_users, 1, l2, "mf_user_bias", stddev=0.0)(user),
        embedding(num_items, 1, l2, "mf_item_bias", stddev=0.0)(item),
    ]
    logit = keras.layers.Add()([keras.layers.Dot(axes=1)([p, q]), *biases])
    output = keras.layers.Activation("sigmoid", name="prediction")(logit)
    return keras.Model(inputs, output, name="mf")


def build_model(
    name: str,
    num_users: int,
    num_items: int,
    factors: int = FACTORS,
    layers: Sequence[int] | None = None,
    l2: float = 0.0,
    dropout: float = 0.0,
) -> keras.Model:
    """The model `name` ("gmf", "mlp", "neumf" or "mf") for `num_users` x `num_items`.

    Args:
        name: a key of `MODELS`.
        num_users, num_items: the sizes of the embedding tables.
        factors: the GMF and MF embedding size (default 8).
        layers: the MLP sizes for "mlp" and "neumf"; None gives the paper's
            tower for `factors`, [8f, 4f, 2f, f] (64, 32, 16, 8 at f = 8).
        l2: the penalty on the looked-up embeddings (default 0).
        dropout: the rate after each ReLU layer of the MLP tower, for "mlp"
            and "neumf" (default 0: none, as in the paper).
    """
    check_choice("model", name, MODEL_NAMES)
    check_number("dropout", dropout, 0)
    if dropout >= 1:
        raise ArgumentError("dropout", f"must be in [0, 1), got {dropout}")
    if dropout and name not in ("mlp", "neumf"):
        raise ArgumentError("dropout", f"is for the MLP tower of mlp and neumf; {name} has none")
    layers = paper_tower(factors) if layers is None else layers
    if name == "mlp":
        return mlp(num_users, num_items, layers, l2, dropout)
    if name == "neumf":
        return neumf(num_users, num_items, factors, layers, l2, dropout)
    return MODELS[name](num_users, num_items, factors, l2)


def named_weights(model: keras.Model) -> dict[str, keras.Variable]:
    """{"<layer>/<weight>": weight} for every weight of `model`, nested layers' included.

    The names do not depend on where a layer sits: "mlp_user_embedding/embeddings"
    names the MLP's user table in `PairDense` and in a model built by hand alike.
    """
    return {"/".join(v.path.split("/")[-2:]): v for v in model.weights}


MODELS = {"gmf": gmf, "mlp": mlp, "neumf": neumf, "mf": mf}  # the registry: name -> builder
