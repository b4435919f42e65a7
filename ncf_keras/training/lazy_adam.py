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
shape (batch, size), not the tables: `Embedding` returns the rows that the step
hands it. The row arithmetic is in `keras.ops`; only the step around it is
written per backend, for JAX and TensorFlow (PyTorch has none). `model.fit`,
callbacks, saving and resuming work as with any optimizer.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import NamedTuple

import keras
from keras import ops

_ROWS: dict[str, object] = {}  # layer name -> the rows it returns, while a step runs


@keras.saving.register_keras_serializable(package="ncf_keras")
class Embedding(keras.layers.Embedding):
    """`keras.layers.Embedding` that a lazy Adam step can feed the looked-up rows."""

    def call(self, inputs):
        rows = _ROWS.get(self.name)
        return super().call(inputs) if rows is None else rows


@contextlib.contextmanager
def _feeding(rows: dict[str, object]):
    _ROWS.update(rows)
    try:
        yield
    finally:
        _ROWS.clear()


@keras.saving.register_keras_serializable(package="ncf_keras")
class LazyAdam(keras.optimizers.Adam):
    """Adam whose embedding tables are updated row by row; see the module's docstring.

    Same arguments as `keras.optimizers.Adam`. `attach` (which `compile_model`
    calls) gives the model the step that makes it lazy; on its own it is Adam.
    """


class Table(NamedTuple):
    """An embedding table of a model: its layer, the input it looks up, its place."""

    layer: Embedding
    key: str  # "user" or "item"
    index: int  # in model.trainable_variables


def attach(model: keras.Model) -> None:
    """Make `model.fit` take lazy Adam steps: `model` must be compiled with `LazyAdam`.

    Every `ncf_keras.training.lazy_adam.Embedding` of `model` must look up one of the model's
    inputs ("user" or "item") directly, as in `ncf_keras.models`. JAX and
    TensorFlow backends only.
    """
    inputs = {id(tensor): tensor.name for tensor in model.inputs}
    positions = {id(v): i for i, v in enumerate(model.trainable_variables)}
    tables = []
    for layer in model.layers:
        if isinstance(layer, Embedding):
            (source,) = layer._inbound_nodes[0].input_tensors
            tables.append(Table(layer, inputs[id(source)], positions[id(layer.embeddings)]))
    if not model.optimizer.built:  # its moments now, not inside a traced step
        model.optimizer.build(model.trainable_variables)
    if keras.backend.backend() == "jax":
        model.train_step = lambda state, data: _jax_train_step(model, tables, state, data)
    else:
        model.train_step = lambda data: _tensorflow_train_step(model, tables, data)


def _jax_train_step(model: keras.Model, tables: list[Table], state, data):
    """The JAX trainer's stateless `train_step`, with lazy updates for `tables`."""
    import jax

    trainable, non_trainable, optimizer_values, metrics_values = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    in_tables = {table.index for table in tables}

    def loss(rows, dense):
        dense = iter(dense)
        values = [trainable[i] if i in in_tables else next(dense) for i in range(len(trainable))]
        with _feeding({table.layer.name: r for table, r in zip(tables, rows, strict=True)}):
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
    ids = {key: _sorted(x[key]) for key in {table.key for table in tables}}
    for table, grad in zip(tables, row_grads, strict=True):
        m, v = _moments(optimizer, table)
        old = (trainable[table.index], optimizer_values[at[id(m)]], optimizer_values[at[id(v)]])
        rows, new = _row_update(
            optimizer,
            ids[table.key],
            grad,
            old,
            step=optimizer_values[at[id(optimizer._iterations)]] + 1,
            learning_rate=optimizer_values[at[id(optimizer._learning_rate)]],
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
    logs, metrics_values = model._update_metrics_variables(
        metrics_values, unscaled_loss, x, y, y_pred, sample_weight
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
        with _feeding({table.layer.name: r for table, r in zip(tables, rows, strict=True)}):
            y_pred = model(x, training=True)
        loss = model.compute_loss(x, y, y_pred, sample_weight, training=True)
    model._loss_tracker.update_state(loss, sample_weight=ops.shape(x["user"])[0])
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
    slot = optimizer._get_variable_index(table.layer.embeddings)
    return optimizer._momentums[slot], optimizer._velocities[slot]


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
