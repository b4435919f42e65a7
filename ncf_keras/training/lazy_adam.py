"""Lazy Adam: each step updates only the embedding rows its batch looks up.

Keras's optimizers update every variable at every step. For an embedding table
that costs the whole table per step: Adam's moments decay everywhere, and the
gradient of a lookup is a table-sized array that is zero almost everywhere. On
ML-20M's 138,493 users that is most of the work of a step, and an epoch costs
steps x table size instead of growing with the interactions.

Lazy Adam (TensorFlow Addons' `LazyAdam`, made for this case) updates, for each
table, only the rows the batch looked up: their moments and their values, with
Adam's formulas and the optimizer's step count. Rows a batch does not touch
keep their moments, so it is not Adam's exact trajectory (the two coincide when
every row is in every batch); the dense layers are updated by Adam itself.

The train step differentiates the loss with respect to the looked-up rows,
shape (batch, size), not the tables: while the step runs, each
`keras.layers.Embedding` of the model returns the rows that the step hands it
(`_feeding`). The row arithmetic is in `keras.ops`; only the step around it is
written per backend, for JAX and TensorFlow (PyTorch has none), as the
`train_step` of `LazyAdamModel`, a `keras.Model` subclass on the model's own
network. Its `fit`, callbacks, saving and resuming work as with any optimizer. The Keras internals
the step needs are read in `ncf_keras.training.keras_private`, which refuses a
Keras version they were not checked against.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import NamedTuple

import keras
from keras import ops

from ncf_keras.errors import ArgumentError, DataError
from ncf_keras.layers import PairDense
from ncf_keras.training import keras_private
from ncf_keras.training.network_view import NetworkView, compiled_like


class Table(NamedTuple):
    """An embedding table of a model: its layer, the input it looks up, its place."""

    layer: keras.layers.Embedding
    key: str  # "user" or "item"
    index: int  # in model.trainable_variables


@contextlib.contextmanager
def _feeding(tables: list[Table], rows: list):
    """While the block runs, each table's layer returns its rows (b, size) instead of
    looking them up; Keras still applies the layer's activity regularizer to them."""
    for table, fed in zip(tables, rows, strict=True):
        object.__setattr__(table.layer, "call", lambda ids, fed=fed: fed)
    try:
        yield
    finally:
        for table in tables:
            object.__delattr__(table.layer, "call")


@keras.saving.register_keras_serializable(package="ncf_keras")
class LazyAdam(keras.optimizers.Adam):
    """Adam whose embedding tables are updated row by row; see the module's docstring.

    Same arguments as `keras.optimizers.Adam`. The tables are updated by the
    step of a `LazyAdamModel`, which `compile_model` returns and `train` fits;
    a plain `model.fit` that would update a table with dense Adam is refused.
    """

    def update_step(self, gradient, variable, learning_rate):
        # Keras names an Embedding's table "embeddings"; TensorFlow passes its own variable,
        # named "<layer>/embeddings:0".
        if variable.name.split(":")[0].rsplit("/", 1)[-1] == "embeddings":
            raise DataError(
                f"lazy-adam updates {variable.name} row by row in LazyAdamModel's step; "
                "fit the model that compile_model returns, or use train()"
            )
        super().update_step(gradient, variable, learning_rate)


class LazyAdamModel(NetworkView):
    """`model`'s network (a `NetworkView`: the same layers and weights), fitted with lazy Adam.

    Its `train_step` updates, for each `keras.layers.Embedding`, only the rows
    the batch looks up. Every embedding must look up one of the model's inputs
    ("user" or "item") directly, as in `ncf_keras.models`, or be one of a
    `PairDense`'s two, which it has look their rows up first; compile it with
    `LazyAdam`. JAX and TensorFlow backends only.

    Raises DataError for a Keras version whose internals the step was not
    checked against (`keras_private`).
    """

    def __init__(self, model: keras.Model):
        keras_private.check_keras_version()
        super().__init__(model)
        for layer in self.layers:
            if isinstance(layer, PairDense):  # it must look its rows up, to be fed them
                layer.table_first = False

    def compile(self, *args, **kwargs) -> None:
        super().compile(*args, **kwargs)
        if not isinstance(self.optimizer, LazyAdam):
            raise ArgumentError("optimizer", "of a LazyAdamModel must be a LazyAdam")
        if not self.optimizer.built:  # its moments now, not inside a traced step
            self.optimizer.build(self.trainable_variables)

    def tables(self) -> list[Table]:
        """The embedding tables, each with the input it looks up and its place."""
        inputs = {id(tensor): tensor.name for tensor in self.inputs}
        positions = {id(v): i for i, v in enumerate(self.trainable_variables)}
        lookups = []  # (embedding layer, the input it looks up)
        for layer in self.layers:
            if isinstance(layer, keras.layers.Embedding):
                lookups.append((layer, inputs[id(layer.input)]))
            elif isinstance(layer, PairDense):  # called on the model's {"user", "item"}
                lookups += [(layer.user_embedding, "user"), (layer.item_embedding, "item")]
        return [Table(table, key, positions[id(table.embeddings)]) for table, key in lookups]

    def train_step(self, *args):
        """Keras's trainer's step for this backend: (state, data) on JAX, (data) on TensorFlow."""
        if keras.backend.backend() == "jax":
            return _jax_train_step(self, self.tables(), *args)
        return _tensorflow_train_step(self, self.tables(), *args)


def fitting(model: keras.Model) -> keras.Model:
    """The model whose `fit` trains `model`: a `LazyAdamModel` of it, compiled as it is,
    where it is compiled with `LazyAdam` and is not one already; else `model` itself."""
    if isinstance(model, LazyAdamModel) or not isinstance(model.optimizer, LazyAdam):
        return model
    return compiled_like(LazyAdamModel(model), model)


def _jax_train_step(model: keras.Model, tables: list[Table], state, data):
    """The JAX trainer's stateless `train_step`, with lazy updates for `tables`."""
    import jax

    trainable, non_trainable, optimizer_values, metrics_values = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    in_tables = {table.index for table in tables}

    def loss(rows, dense):
        dense = iter(dense)
        values = [trainable[i] if i in in_tables else next(dense) for i in range(len(trainable))]
        with _feeding(tables, rows):
            return model.compute_loss_and_updates(
                values, non_trainable, metrics_values, x, y, sample_weight,
                training=True, optimizer_variables=optimizer_values,
            )  # fmt: skip

    rows = [ops.take(trainable[table.index], x[table.key], axis=0) for table in tables]
    dense = [v for i, v in enumerate(trainable) if i not in in_tables]
    (_, aux), (row_grads, dense_grads) = jax.value_and_grad(loss, (0, 1), has_aux=True)(rows, dense)
    unscaled_loss, y_pred, non_trainable, metrics_values = aux

    optimizer = model.optimizer
    trainable, optimizer_values = list(trainable), list(optimizer_values)
    at = {id(v): i for i, v in enumerate(optimizer.variables)}
    with keras.StatelessScope(
        state_mapping=list(zip(optimizer.variables, optimizer_values, strict=True))
    ):
        step = ops.convert_to_tensor(optimizer.iterations + 1)  # before Adam counts this step
        learning_rate = ops.convert_to_tensor(optimizer.learning_rate)
    ids = {key: _sorted(x[key]) for key in {table.key for table in tables}}
    for table, grad in zip(tables, row_grads, strict=True):
        m, v = _moments(optimizer, table)
        old = (trainable[table.index], optimizer_values[at[id(m)]], optimizer_values[at[id(v)]])
        rows, new = _row_update(
            optimizer,
            ids[table.key],
            grad,
            old,
            step=step,
            learning_rate=learning_rate,
        )
        written = [
            value.at[rows].set(update, indices_are_sorted=True)
            for value, update in zip(old, new, strict=True)
        ]
        trainable[table.index], optimizer_values[at[id(m)]], optimizer_values[at[id(v)]] = written

    dense_grads = iter(dense_grads)
    grads = [None if i in in_tables else next(dense_grads) for i in range(len(trainable))]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Gradients do not exist")  # the tables: done above
        trainable, optimizer_values = optimizer.stateless_apply(optimizer_values, grads, trainable)
    logs, metrics_values = keras_private.jax_update_metrics(
        model, metrics_values, unscaled_loss, x, y, y_pred, sample_weight
    )
    return logs, (trainable, non_trainable, optimizer_values, metrics_values)


def _tensorflow_train_step(model: keras.Model, tables: list[Table], data):
    """The TensorFlow trainer's `train_step`, with lazy updates for `tables`."""
    import tensorflow as tf

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    rows = [ops.take(table.layer.embeddings, x[table.key], axis=0) for table in tables]
    in_tables = {table.index for table in tables}
    dense = [v for i, v in enumerate(model.trainable_variables) if i not in in_tables]
    with tf.GradientTape() as tape:
        tape.watch(rows)
        with _feeding(tables, rows):
            y_pred = model(x, training=True)
        loss = model.compute_loss(x, y, y_pred, sample_weight, training=True)
    keras_private.loss_tracker(model).update_state(loss, sample_weight=ops.shape(x["user"])[0])
    row_grads, dense_grads = tape.gradient(loss, (rows, dense))

    optimizer = model.optimizer
    step = ops.cast(optimizer.iterations + 1, "float32")  # before Adam counts this step
    ids = {key: _sorted(x[key]) for key in {table.key for table in tables}}
    for table, grad in zip(tables, row_grads, strict=True):
        variables = (table.layer.embeddings, *_moments(optimizer, table))
        rows, new = _row_update(
            optimizer, ids[table.key], grad, variables, step, optimizer.learning_rate
        )
        for variable, update in zip(variables, new, strict=True):
            variable.value.scatter_update(tf.IndexedSlices(update, rows))
    optimizer.apply(dense_grads, dense)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def _moments(optimizer: LazyAdam, table: Table) -> tuple[keras.Variable, keras.Variable]:
    """Adam's first and second moment variables for `table`."""
    return keras_private.adam_moments(optimizer, table.layer.embeddings)


def _sorted(ids) -> tuple:
    """(order, ids[order], segment): a batch's ids sorted, and `segment[j]` the
    number of distinct ids before sorted id j, so that equal ids share one."""
    order = ops.argsort(ids)
    rows = ops.take(ids, order)
    first = ops.concatenate([ops.ones((1,), "bool"), ops.not_equal(rows[1:], rows[:-1])])
    return order, rows, ops.cumsum(ops.cast(first, "int32")) - 1


def _row_update(optimizer: LazyAdam, ids: tuple, grad, values, step, learning_rate):
    """Adam's step for the rows a batch looked up, in a table and in its two moments.

    Args:
        ids: the batch's ids for the table, as `_sorted` gives them.
        grad: (batch, size): the loss's gradient for each looked-up row.
        values: (table, first moment, second moment), each (rows, size).
        step: the step Adam is about to take, counted from 1.
        learning_rate: the optimizer's current learning rate.

    Returns:
        (rows, new): the ids sorted, shape (batch,), and the three arrays' new
        values at those rows, each (batch, size). A row looked up several times
        gets the sum of its gradients, as in a dense gradient, and the same new
        values at each of its places: writing them all leaves one result.
    """
    order, rows, segment = ids
    size = ops.shape(rows)[0]
    grad = ops.segment_sum(ops.take(grad, order, axis=0), segment, size)
    grad = ops.take(grad, segment, axis=0)  # each id's summed gradient, at each place
    table, m, v = (ops.take(value, rows, axis=0) for value in values)
    beta_1, beta_2 = optimizer.beta_1, optimizer.beta_2
    m = m + (grad - m) * (1 - beta_1)
    v = v + (grad * grad - v) * (1 - beta_2)
    alpha = learning_rate * ops.sqrt(1 - beta_2**step) / (1 - beta_1**step)
    table = table - alpha * m / (ops.sqrt(v) + optimizer.epsilon)
    return rows, (table, m, v)
