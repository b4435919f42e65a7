"""The models' own layers: `embedding` tables, and `PairDense`, the MLP's first layer.

Eq. (10) of He et al. 2017 starts the MLP with z_1 = [p_u; q_i], the two
embeddings side by side, and its first layer is a(W^T z_1 + b), where a
denotes the activation (the MLP's ReLU), W (2e, units) the kernel and b the bias. Splitting W into
its user half and item half, W = [W_P; W_Q],

    W^T [p_u; q_i] = W_P^T p_u + W_Q^T q_i = (P W_P)[u] + (Q W_Q)[i],

where P (users, e) and Q (items, e) are the embedding tables, p_u = P[u] and
q_i = Q[i] their rows, e the embedding size, and (P W_P)[u] row u of the
table multiplied by W_P. A row looked up and then multiplied is the row of
the multiplied table, so the layer can be computed two ways, with the same
result and the same gradients:

* rows first: look up the batch's b pairs of rows, put them side by side and
  multiply, b x 2e x units multiply-adds;
* tables first: multiply the two whole tables, then look up the rows,
  (users + items) x e x units multiply-adds, however large the batch.

`PairDense` takes whichever is less work for each batch: tables first when
2b > users + items. On ML-1M at the default batch of 16,384 that is tables
first, 3.4 times fewer multiply-adds in the layer's forward and backward pass
and no (b, 2e) concatenation; with small batches or ML-20M's tables, rows first.
"""

from __future__ import annotations

import keras
from keras import ops


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


@keras.saving.register_keras_serializable(package="ncf_keras")
class PairDense(keras.layers.Layer):
    """a(W^T [p_u; q_i] + b) for a batch of (user, item) pairs: the embeddings and the first layer.

    The layer holds the two embedding tables, `user_embedding` and
    `item_embedding` (`keras.layers.Embedding`, N(0, stddev), their names
    given), and the kernel W (2 * size, units, Glorot uniform) and bias b
    (units, zeros) of the dense layer over [p_u; q_i]. It is called on a dict
    {"user": ids, "item": ids}, two int32 tensors of shape (batch,), and
    returns shape (batch, units).

    Args:
        num_users, num_items: the tables' rows.
        size: each embedding's width, e (half of W's rows).
        units: the layer's width.
        activation: a Keras activation (default "relu").
        l2: a penalty on the rows each batch looks up, as in
            `embedding` (default 0: none).
        stddev: the embeddings' initial standard deviation (default 0.01).
        names: the two tables' layer names (default "user_embedding",
            "item_embedding").
        table_first: True multiplies the tables first, False looks the rows up
            first; None (default) chooses for each batch, tables first when its
            rows are more than half the tables' (see the module's docstring).
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        size: int,
        units: int,
        activation: str = "relu",
        l2: float = 0.0,
        stddev: float = 0.01,
        names: tuple[str, str] = ("user_embedding", "item_embedding"),
        table_first: bool | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_users, self.num_items, self.size, self.units = num_users, num_items, size, units
        self.activation = keras.activations.get(activation)
        self.l2, self.stddev, self.names = l2, stddev, tuple(names)
        self.table_first = table_first
        self.user_embedding = embedding(num_users, size, l2, self.names[0], stddev)
        self.item_embedding = embedding(num_items, size, l2, self.names[1], stddev)
        # Made after the tables, as `keras.layers.Dense` would be: the same seed, the same weights.
        self.kernel_initializer = keras.initializers.get("glorot_uniform")

    def build(self, input_shape=None) -> None:
        self.user_embedding.build((None,))
        self.item_embedding.build((None,))
        self.kernel = self.add_weight(
            shape=(2 * self.size, self.units), initializer=self.kernel_initializer, name="kernel"
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs: dict) -> keras.KerasTensor:
        user, item = inputs["user"], inputs["item"]
        # The rows, looked up by the embedding layers, where an l2 penalty applies to them;
        # tables first leaves them unused, for XLA to drop.
        p, q = self.user_embedding(user), self.item_embedding(item)
        tables_first = self.table_first
        if tables_first is None:
            tables_first = self._tables_cheaper(ops.shape(user)[0])
        if not ops.is_tensor(tables_first):  # the batch's size is known as the step is traced
            return self._tables_first(user, item) if tables_first else self._rows_first(p, q)
        # The batch's size is a tensor, known only as the step runs (TensorFlow's traces).
        return ops.cond(
            tables_first, lambda: self._tables_first(user, item), lambda: self._rows_first(p, q)
        )

    def _tables_cheaper(self, batch):
        """Whether multiplying the tables first is fewer multiply-adds for `batch` pairs."""
        return 2 * batch > self.num_users + self.num_items

    def _rows_first(self, p, q):
        """a([p_u; q_i] W + b), from the looked-up rows p and q, each (batch, size)."""
        pairs = ops.concatenate([p, q], axis=-1)  # z_1, (batch, 2 * size)
        return self.activation(ops.matmul(pairs, self.kernel) + self.bias)

    def _tables_first(self, user, item):
        """a((P W_P)[u] + (Q W_Q)[i] + b), from the whole tables P and Q."""
        users = ops.matmul(self.user_embedding.embeddings, self.kernel[: self.size])
        items = ops.matmul(self.item_embedding.embeddings, self.kernel[self.size :])
        rows = ops.take(users, user, axis=0) + ops.take(items, item, axis=0)
        return self.activation(rows + self.bias)

    def compute_output_shape(self, input_shape: dict) -> tuple:
        return (*input_shape["user"], self.units)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_users": self.num_users,
            "num_items": self.num_items,
            "size": self.size,
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "l2": self.l2,
            "stddev": self.stddev,
            "names": list(self.names),
            "table_first": self.table_first,
        }
