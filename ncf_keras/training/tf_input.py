"""On TensorFlow, the batches of `TrainingSamples` through a `tf.data` pipeline without autotuning.

Keras's TensorFlow trainer feeds a `PyDataset` through `tf.data`
(`Dataset.from_generator`, then `prefetch(AUTOTUNE)`) and makes a new iterator
at every epoch, dropping the one before. Deleting an iterator waits, with
Python's GIL held, for its autotuning thread to wake up, which stalled random
epochs for 3 to 9 s on a 2-core CPU (*TensorFlow's slow epochs* in
benchmarks/README.md). `tensorflow_batches` gives Keras the same batches, in
the same order, from a pipeline with autotuning off and no prefetch; `NextEpoch`
takes each epoch's rows, as Keras does for a `PyDataset`. Building that
pipeline's op resets glibc's malloc settings that `reuse_freed_memory` made;
`RestoreFreedMemoryReuse` applies them again. `fit_input` chooses this path on
TensorFlow and the `PyDataset` itself elsewhere.
"""

from __future__ import annotations

import keras

from ncf_keras.keras_startup import restore_freed_memory_reuse
from ncf_keras.training.batches import TrainingSamples


def tensorflow_batches(samples: TrainingSamples):
    """`samples`' batches as a `tf.data.Dataset` of `len(samples)` batches, autotuning off.

    Each element is ({"user": int32 (b,), "item": int32 (b,)}, float32 (b,)),
    `samples[i]` for i = 0, 1, ...: the rows of whatever epoch `samples` serves
    when the iterator asks, so fit it with `NextEpoch(samples)` in the callbacks.
    Nothing is fetched ahead (no prefetch): the iterator Keras makes at an
    epoch's end and drops unused reads no rows.
    """
    import tensorflow as tf

    def batches():
        for index in range(len(samples)):
            yield samples[index]

    rows = tf.TensorSpec((None,), tf.int32)
    signature = ({"user": rows, "item": rows}, tf.TensorSpec((None,), tf.float32))
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(samples)))
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


class NextEpoch(keras.callbacks.Callback):
    """Calls `samples.on_epoch_begin()` at each epoch's start: the next epoch's rows
    once the current ones are served, as Keras's own `PyDataset` adapter does."""

    def __init__(self, samples: TrainingSamples):
        super().__init__()
        self.samples = samples

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.samples.on_epoch_begin()


class RestoreFreedMemoryReuse(keras.callbacks.Callback):
    """Applies `reuse_freed_memory`'s settings again after each epoch's first batch.

    TensorFlow builds the pipeline's `from_generator` op during the first batch
    and sets glibc's mmap threshold to 128 KiB as it does; from then on every
    step's buffers are mapped afresh and unmapped (`restore_freed_memory_reuse`).
    """

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._restored = False

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if not self._restored:
            restore_freed_memory_reuse()
            self._restored = True


def fit_input(samples) -> tuple[object, list[keras.callbacks.Callback]]:
    """(what `model.fit` takes, the callbacks it needs) for `samples`, a `PyDataset`.

    On TensorFlow: `tensorflow_batches(samples)` with `NextEpoch(samples)` for
    a `TrainingSamples`, else `samples` itself, which Keras feeds through
    `from_generator` too; either way with `RestoreFreedMemoryReuse()`. On other
    backends: `samples` and no callbacks. `train` fits this way; so do the
    benchmarks.
    """
    if keras.backend.backend() != "tensorflow":
        return samples, []
    if isinstance(samples, TrainingSamples):
        return tensorflow_batches(samples), [NextEpoch(samples), RestoreFreedMemoryReuse()]
    return samples, [RestoreFreedMemoryReuse()]
