"""An epoch's training rows served as Keras batches, the next epoch drawn in the background.

`TrainingSamples` is the `keras.utils.PyDataset` that `train` fits on. Every
epoch has fresh negatives (`sampling.training_instances`), seeded by (seed,
epoch). While the model fits epoch e, a background thread draws epoch e + 1,
so the accelerator need not wait for the host's sampler. NumPy releases the
GIL in most of the sampler's bulk work, so the draw runs beside the fit (see
*Drawing ahead* in benchmarks/README.md). The rows are the same either way.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import keras
import numpy as np

from ncf_keras.checks import available_memory, check_at_least, check_memory
from ncf_keras.data.dataset import Dataset
from ncf_keras.data.sampling import random_stream, training_instances
from ncf_keras.defaults import BATCH_SIZE, NEGATIVES

BYTES_PER_ROW = (
    17  # peak host memory per training row while an epoch is drawn (benchmarks/README.md, *Memory*)
)
HELD_BYTES_PER_ROW = 9  # a drawn epoch: int32 user, uint16 or int32 item, bool label

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # users, items, labels


class TrainingSamples(keras.utils.PyDataset):
    """Shuffled pointwise batches: every training positive plus sampled negatives.

    Each batch is ({"user": int32 (b,), "item": int32 (b,)}, label float32 (b,)),
    with b = batch_size (the last batch may be smaller). Epoch e's rows come from
    `random_stream(seed, "epoch", e)`, so a seed fixes every epoch's rows.

    For many devices, every batch must split evenly: the last one is cut to a
    multiple of `multiple_of`, leaving out fewer than `multiple_of` of the
    epoch's (shuffled) rows, and a process of a multi-process run serves only
    its `shard` of every batch.

    A new epoch's negatives are taken when an epoch begins after every batch of
    the current draw has been served. Counting epochs that way, rather than
    counting `on_epoch_begin` calls, stays right when Keras peeks at a batch
    before training (the JAX trainer does, in its first `fit`).

    Args:
        dataset: its training positives are served.
        negatives: sampled negatives per positive (default 4, as in the paper).
        batch_size: rows per batch (default 1024).
        seed: seeds every epoch's negatives and order.
        first_epoch: the 0-based epoch served first (default 0; more when resuming).
        multiple_of: every batch's rows are a multiple of it (default 1): the
            number of devices each batch is split over.
        shard: (index, count): serve the index-th of `count` equal parts of
            every batch (default (0, 1), all of it): this process's part in a
            multi-process run.
        prefetch: draw the next epoch in a background thread while this one is
            served (default True). It holds two epochs at once, so it is left
            off where memory is short for that (about 26 bytes per row).
        epochs: the number of epochs the fit runs, as `model.fit`'s `epochs`
            (default None: unknown); no epoch from there on is drawn ahead.

    Raises ArgumentError, before drawing, when one epoch's rows would not fit
    in the memory available (about 17 bytes per row while drawing).

    Call `close()` when done, so that no background draw outlives the fit.

    Attributes:
        epoch: the epoch whose rows are served now.
        sample_seconds: {epoch: (start time, seconds)}: how long each epoch
            waited for its rows; the whole draw, unless drawn ahead.
        prefetch: whether epochs are drawn ahead.
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
        prefetch: bool = True,
        epochs: int | None = None,
    ):
        super().__init__()
        self.negatives = check_at_least("negatives", negatives, 1)
        self.batch_size = check_at_least("batch_size", batch_size, 1)
        self.multiple_of = check_at_least("multiple_of", multiple_of, 1)
        self.shard = shard
        rows = len(dataset.train_users) * (1 + negatives)
        check_memory("negatives", rows * BYTES_PER_ROW, f"one epoch's {rows:,} training rows")
        available = available_memory()
        both = rows * (BYTES_PER_ROW + HELD_BYTES_PER_ROW)
        self.prefetch = prefetch and (available is None or both <= available)
        self.dataset = dataset
        self.seed = seed
        self.epochs = epochs
        self.sample_seconds: dict[int, tuple[float, float]] = {}
        self._pool = ThreadPoolExecutor(1, "ncf-sampler") if self.prefetch else None
        self._ahead: tuple[int, Future[Rows]] | None = None  # the epoch drawn in the background
        self._draw(first_epoch)

    def _instances(self, epoch: int) -> Rows:
        """Epoch `epoch`'s rows: (users, items, labels), shuffled."""
        d = self.dataset
        stream = random_stream(self.seed, "epoch", epoch)
        return training_instances(
            d.train_users, d.train_items, d.unseen_in_train, self.negatives, stream
        )

    def _draw(self, epoch: int) -> None:
        """Serve epoch `epoch`'s rows, taking them from the background draw when it has them."""
        start = time.perf_counter()
        ahead, self._ahead = self._ahead, None
        self.users = self.items = self.labels = None  # the last epoch's rows go first
        if ahead is not None and ahead[0] == epoch:
            rows = ahead[1].result()
        else:
            if ahead is not None:
                ahead[1].result()  # a draw no one will use: let it end, to bound memory
            rows = self._instances(epoch)
        self.users, self.items, self.labels = rows
        self.epoch = epoch
        self._served = 0
        self.rows = served_rows(len(self.labels), self.batch_size, self.multiple_of)
        self.sample_seconds[epoch] = (start, time.perf_counter() - start)
        if self._pool is not None and (self.epochs is None or epoch + 1 < self.epochs):
            self._ahead = (epoch + 1, self._pool.submit(self._instances, epoch + 1))

    @property
    def epoch_ahead(self) -> int | None:
        """The epoch drawn, or being drawn, in the background; None when there is none."""
        return None if self._ahead is None else self._ahead[0]

    def close(self) -> None:
        """End the background draw, if any: waits for one that has started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._ahead = None, None

    def on_epoch_begin(self) -> None:
        if self._served >= len(self):
            self._draw(self.epoch + 1)

    def __len__(self) -> int:
        return -(-self.rows // self.batch_size)

    def __getitem__(self, index: int):
        self._served += 1
        rows = batch_rows(index, self.batch_size, self.rows, self.shard)
        # Held lean (`training_instances`), widened one batch at a time.
        items, labels = self.items[rows].astype(np.int32), self.labels[rows].astype(np.float32)
        return {"user": self.users[rows], "item": items}, labels


def served_rows(rows: int, batch_size: int, multiple_of: int) -> int:
    """How many of `rows` are served: all, but the last batch cut to a multiple of `multiple_of`."""
    return rows - rows % batch_size % multiple_of


def batch_rows(index: int, batch_size: int, rows: int, shard: tuple[int, int]) -> slice:
    """The rows of batch `index` of `rows` that this process serves: its `shard` (index, count)."""
    start = index * batch_size
    size = min(batch_size, rows - start)
    part, count = shard
    return slice(start + part * size // count, start + (part + 1) * size // count)
