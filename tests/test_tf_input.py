"""`training.tf_input`: TrainingSamples' batches on TensorFlow, through tf.data, no autotuning."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ncf_keras.models import build_model
from ncf_keras.training.batches import TrainingSamples
from ncf_keras.training.fit import compile_model, train

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the TensorFlow backend's input path"
)


def served(dataset) -> list:
    """Every batch of one pass over `dataset`, as NumPy."""
    return [({name: column.numpy() for name, column in x.items()}, y.numpy()) for x, y in dataset]


def test_the_pipeline_serves_samples_batches_in_order_without_autotuning(small_synthetic):
    from ncf_keras.training import tf_input

    samples = TrainingSamples(small_synthetic, batch_size=700, seed=3, prefetch=False)
    expected = [samples[i] for i in range(len(samples))]
    dataset = tf_input.tensorflow_batches(samples)
    assert int(dataset.cardinality()) == len(samples)
    assert dataset.options().autotune.enabled is False
    batches = served(dataset)
    assert len(batches) == len(expected)
    for (x, y), (want_x, want_y) in zip(batches, expected, strict=True):
        assert x["user"].dtype == np.int32 and x["item"].dtype == np.int32
        np.testing.assert_array_equal(x["user"], want_x["user"])
        np.testing.assert_array_equal(x["item"], want_x["item"])
        np.testing.assert_array_equal(y, want_y)


def test_next_epoch_takes_the_next_epochs_rows(small_synthetic):
    from ncf_keras.training import tf_input

    samples = TrainingSamples(small_synthetic, batch_size=700, seed=3, prefetch=False)
    dataset = tf_input.tensorflow_batches(samples)
    first = served(dataset)
    tf_input.NextEpoch(samples).on_epoch_begin(1)
    assert samples.epoch == 1
    second = served(dataset)
    assert not np.array_equal(first[0][0]["item"], second[0][0]["item"])
    again = TrainingSamples(small_synthetic, batch_size=700, seed=3, first_epoch=1, prefetch=False)
    np.testing.assert_array_equal(second[0][0]["item"], again[0][0]["item"])


def test_train_fits_through_it_taking_each_epochs_rows(small_synthetic, monkeypatch):
    from ncf_keras.training import tf_input

    built, served_epochs = [], []
    original, draw = tf_input.tensorflow_batches, TrainingSamples._draw
    monkeypatch.setattr(tf_input, "tensorflow_batches", lambda s: built.append(s) or original(s))
    monkeypatch.setattr(
        TrainingSamples,
        "_draw",
        lambda self, epoch: served_epochs.append(epoch) or draw(self, epoch),
    )
    model = compile_model(build_model("gmf", small_synthetic.num_users, small_synthetic.num_items))
    history = train(model, small_synthetic, epochs=3, verbose=0)
    assert len(built) == 1 and [row["epoch"] for row in history] == [1, 2, 3]
    assert served_epochs == [0, 1, 2]  # fresh negatives every epoch


def test_fit_input_restores_glibcs_settings_whatever_keras_is_fed(small_synthetic):
    """Both a `TrainingSamples` and another `PyDataset` reach TensorFlow through a
    `from_generator` op, which resets glibc's mmap threshold: both get the callback."""
    from ncf_keras.training import tf_input
    from ncf_keras.training.device_sampling import PositiveBatches

    samples = TrainingSamples(small_synthetic, batch_size=700, prefetch=False)
    _, callbacks = tf_input.fit_input(samples)
    assert [type(c) for c in callbacks] == [tf_input.NextEpoch, tf_input.RestoreFreedMemoryReuse]
    positives = PositiveBatches(small_synthetic, batch_size=700)
    fed, callbacks = tf_input.fit_input(positives)
    assert fed is positives
    assert [type(c) for c in callbacks] == [tf_input.RestoreFreedMemoryReuse]


def test_the_settings_are_restored_once_an_epoch_after_its_first_batch(monkeypatch):
    from ncf_keras.training import tf_input

    restored = []
    monkeypatch.setattr(tf_input, "restore_freed_memory_reuse", lambda: restored.append(1))
    callback = tf_input.RestoreFreedMemoryReuse()
    for epoch in range(2):
        callback.on_epoch_begin(epoch)
        assert len(restored) == epoch  # not before the epoch's first batch has run
        for batch in range(3):
            callback.on_train_batch_end(batch)
    assert len(restored) == 2
