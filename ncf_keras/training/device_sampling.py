"""Negatives drawn inside the compiled training step, on the device that trains.

`TrainingSamples` draws every epoch's negatives on the host and ships them
with the positives. Here the host ships only shuffled positives; the compiled
step draws each positive's negatives itself, with `keras.random` and
`keras.ops`, so it runs on every backend and never waits for a host sampler.
The host then holds no epoch of rows at all, only one shuffled order of the
positives (4 bytes per positive).

The draw is `sampling.UnseenItems`' rule moved onto the device: for a user
with `d` training positives, a rank `r` is drawn in [0, num_items - d) and
mapped to the r-th item the user has not seen,

    item = r + #{j : below_j <= r},

where below_j denotes the number of unseen items below the user's j-th seen
item (ascending). The count is a binary search over the user's slice of one
sorted table, `ceil(log2(d_max + 1))` rounds of `ops.take`, with no retries,
so a positive is never drawn. The rank is a 31-bit random integer modulo the
user's unseen count: uniform to within num_items / 2^31 (under 0.002% for
ML-20M's 26,744 items), where the host's draw is exact.

* `UnseenItemDraw`: the Keras layer that draws, users (b,) -> items (b, k).
* `NegativeDrawing`: the model to fit: a model's own network (its layers and
  weights), whose training call scores each positive with its k drawn
  negatives; every other call, and `save`, are the model's.
* `PositiveBatches`: the `keras.utils.PyDataset` of shuffled positives.
* `DrawSeeds`: keys each epoch's draws by (seed, epoch).
"""

from __future__ import annotations

import time

import keras
import numpy as np
from keras import ops

from ncf_keras.checks import check_at_least
from ncf_keras.data.dataset import Dataset
from ncf_keras.data.sampling import UnseenItems, random_stream
from ncf_keras.defaults import BATCH_SIZE, NEGATIVES
from ncf_keras.errors import DataError
from ncf_keras.training.batches import batch_rows, served_rows
from ncf_keras.training.network_view import NetworkView

EPOCH_STRIDE = 1 << 20  # the seed state's counter at epoch e starts at e * EPOCH_STRIDE


class UnseenItemDraw(keras.layers.Layer):
    """Draws `negatives` items per user, uniformly from those it has not seen in training.

    Call it on int32 user ids, shape (b,); returns int32 item ids, shape
    (b, negatives). The seen pairs are held as two non-trainable int32
    tables (4 bytes per seen pair and per user), on the device.

    Args:
        unseen: the seen pairs to avoid (`Dataset.unseen_in_train`).
        negatives: items drawn per user (default 4).
        seed: the seed of the layer's `keras.random.SeedGenerator`.

    Raises DataError when a user has seen every item.
    """

    def __init__(self, unseen: UnseenItems, negatives: int = NEGATIVES, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        offsets, below = unseen.seen_table()
        if len(offsets) > 1 and (np.diff(offsets) >= unseen.num_items).any():
            user = int(np.argmax(np.diff(offsets) >= unseen.num_items))
            raise DataError(
                f"user {user} has interacted with all {unseen.num_items} items; "
                "no negative can be drawn"
            )
        self.negatives = check_at_least("negatives", negatives, 1)
        self.num_items = unseen.num_items
        self.rounds = int(np.diff(offsets).max(initial=0)).bit_length()  # binary-search rounds
        self.offsets = self._table("offsets", offsets)
        self.below = self._table("below", below if len(below) else np.zeros(1, np.int32))
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _table(self, name: str, values: np.ndarray) -> keras.Variable:
        return self.add_weight(
            shape=values.shape,
            dtype="int32",
            initializer=lambda shape, dtype: ops.convert_to_tensor(values, dtype),
            trainable=False,
            name=name,
        )

    def call(self, users):
        users = ops.repeat(ops.expand_dims(ops.cast(users, "int32"), 1), self.negatives, axis=1)
        start = ops.take(self.offsets, users)
        lo, hi = start, ops.take(self.offsets, users + 1)
        unseen = self.num_items - (hi - lo)
        draws = keras.random.randint(
            ops.shape(users), 0, 2**31 - 1, dtype="int32", seed=self.seed_generator
        )
        ranks = ops.mod(draws, unseen)
        last = ops.shape(self.below)[0] - 1
        # Count the user's seen items with below <= rank: a binary search in [lo, hi).
        for _ in range(self.rounds):
            mid = lo + (hi - lo) // 2
            open_ = ops.less(lo, hi)
            at_or_below = ops.less_equal(ops.take(self.below, ops.minimum(mid, last)), ranks)
            lo = ops.where(ops.logical_and(open_, at_or_below), mid + 1, lo)
            hi = ops.where(ops.logical_and(open_, ops.logical_not(at_or_below)), mid, hi)
        return ranks + (lo - start)

    def compute_output_spec(self, users):
        return keras.KerasTensor((users.shape[0], self.negatives), dtype="int32")


class NegativeDrawing(NetworkView):
    """`model`'s network, whose training call draws `negatives` items for each positive.

    A `NetworkView`: it holds `model`'s layers and weights, so fitting it
    trains `model`. Called with
    `training=True` on positives ({"user", "item"}, int32, shape (b,)), it
    returns the probabilities of each positive and its drawn items, shape
    (b, 1 + negatives), column 0 the positive's: the `UnseenItemDraw` layer
    `draw` draws them inside the compiled step, and its seed state is part
    of the step's state on every backend. Any other call (`predict`,
    `evaluate`) is `model`'s, shape (b, 1), and `save` and `save_weights`
    save `model`, so callbacks (evaluations, checkpoints, backups, early
    stopping) treat it as `model`.

    Args:
        model: a model of `ncf_keras.models`.
        unseen: the seen pairs to avoid (`Dataset.unseen_in_train`).
        negatives: items drawn per positive (default 4).
        seed: the seed of the draw (`DrawSeeds` sets it per epoch).
    """

    def __init__(
        self, model: keras.Model, unseen: UnseenItems, negatives: int = NEGATIVES, seed: int = 0
    ):
        super().__init__(model)
        self.draw = UnseenItemDraw(unseen, negatives, seed, name="negatives")
        self.draw.build((None,))  # its tables exist: nothing for fit to build in a step

    def compile(self, *args, **kwargs) -> None:
        """`keras.Model.compile`, with the loss built for the training call's shape.

        Before its first step, `fit` builds an unbuilt compiled loss on the
        inference output's shape, (b, 1), where the labels are (b, 1 + negatives).
        """
        super().compile(*args, **kwargs)
        scores = ops.full((1, 1 + self.draw.negatives), 0.5)
        self.compute_loss(y=scores, y_pred=scores)

    def call(self, inputs, training=None, mask=None):
        if not training:
            return super().call(inputs, training=training, mask=mask)
        users, items = inputs["user"], inputs["item"]
        width = 1 + self.draw.negatives
        drawn = self.draw(users)
        users = ops.repeat(ops.expand_dims(users, 1), width, axis=1)
        items = ops.concatenate([ops.expand_dims(items, 1), drawn], axis=1)
        flat = {"user": ops.reshape(users, (-1,)), "item": ops.reshape(items, (-1,))}
        return ops.reshape(super().call(flat, training=training, mask=mask), (-1, width))


class PositiveBatches(keras.utils.PyDataset):
    """Shuffled batches of training positives, for a `NegativeDrawing` model.

    Each batch is ({"user": int32 (p,), "item": int32 (p,)}, labels float32
    (p, 1 + negatives)), labels 1 in column 0 and 0 elsewhere, with
    p = batch_size // (1 + negatives) positives: about `batch_size` rows once
    the step has drawn their negatives. Epoch e's order comes from
    `random_stream(seed, "epoch", e)`.

    Args:
        dataset: its training positives are served.
        negatives: negatives the step draws per positive (default 4).
        batch_size: rows per batch, negatives included (default 1024).
        seed: seeds every epoch's order.
        first_epoch: the 0-based epoch served first (default 0; more when resuming).
        multiple_of, shard: as in `TrainingSamples`, for many devices: every
            batch's positives are a multiple of `multiple_of` (batches shrink
            to one; the last is cut to one), and a process serves its `shard`.

    Attributes:
        epoch: the epoch whose order is served now.
        sample_seconds: {epoch: (start time, seconds)}: the time to shuffle.
    """

    def __init__(
        self,
        dataset: Dataset,
        negatives: int = NEGATIVES,
        batch_size: int = BATCH_SIZE,
        seed: int = 0,
        first_epoch: int = 0,
        multiple_of: int = 1,
        shard: tuple[int, int] = (0, 1),
    ):
        super().__init__()
        self.multiple_of = check_at_least("multiple_of", multiple_of, 1)
        check_at_least("batch_size", batch_size, (1 + negatives) * multiple_of)
        self.positives = batch_size // (1 + negatives) // multiple_of * multiple_of
        self.shard = shard
        self.users = np.asarray(dataset.train_users, np.int32)
        self.items = np.asarray(dataset.train_items, np.int32)
        self.labels = np.zeros((self.positives, 1 + negatives), np.float32)
        self.labels[:, 0] = 1
        self.seed = seed
        self.sample_seconds: dict[int, tuple[float, float]] = {}
        self._shuffle(first_epoch)

    def _shuffle(self, epoch: int) -> None:
        start = time.perf_counter()
        # rng.shuffle of an arange draws what rng.permutation draws, in half the memory.
        n = len(self.users)
        order = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
        random_stream(self.seed, "epoch", epoch).shuffle(order)
        self.order = order[: served_rows(n, self.positives, self.multiple_of)]
        self.epoch, self._served = epoch, 0
        self.sample_seconds[epoch] = (start, time.perf_counter() - start)

    def close(self) -> None:
        """Nothing to end: unlike `TrainingSamples`, nothing is drawn in the background."""

    def on_epoch_begin(self) -> None:
        if self._served >= len(self):  # not on a peek before training (see TrainingSamples)
            self._shuffle(self.epoch + 1)

    def __len__(self) -> int:
        return -(-len(self.order) // self.positives)

    def __getitem__(self, index: int):
        self._served += 1
        rows = self.order[batch_rows(index, self.positives, len(self.order), self.shard)]
        return {"user": self.users[rows], "item": self.items[rows]}, self.labels[: len(rows)]


class DrawSeeds(keras.callbacks.Callback):
    """Keys epoch e's negatives by (seed, e): sets the draw's seed state to [seed, e * 2^20].

    The draws of an epoch then depend on the seed and the epoch alone, so a
    resumed fit draws what an uninterrupted one would have.
    """

    def __init__(self, draw: UnseenItemDraw, seed: int):
        super().__init__()
        self.draw, self.seed = draw, seed

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        state = self.draw.seed_generator.state
        state.assign(ops.convert_to_tensor([self.seed, epoch * EPOCH_STRIDE], state.dtype))
