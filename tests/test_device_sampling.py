"""Negatives drawn inside the training step: the draw, its batches, `train(sample_on=)`."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from keras_helpers import Interrupt

from ncf_keras import metrics, models
from ncf_keras.data.dataset import validation_split
from ncf_keras.data.sampling import UnseenItems
from ncf_keras.errors import ArgumentError, DataError
from ncf_keras.training.device_sampling import NegativeDrawing, PositiveBatches, UnseenItemDraw
from ncf_keras.training.fit import compile_model, train
from ncf_keras.training.history import summarize

NUM_ITEMS = 12
SEEN = {  # user -> seen items: none, one, four (both ends), all but one, eight (a run)
    0: [],
    1: [5],
    2: [0, 3, 4, 11],
    3: [i for i in range(NUM_ITEMS) if i != 7],
    4: [1, 2, 3, 4, 5, 6, 8, 9],
}


def unseen_items() -> UnseenItems:
    users = [u for u, items in SEEN.items() for _ in items]
    items = [i for seen in SEEN.values() for i in seen]
    return UnseenItems(np.array(users), np.array(items), len(SEEN), NUM_ITEMS)


def test_every_rank_maps_to_its_unseen_item(monkeypatch):
    """Rank r of a user gives its r-th unseen item, for every user and every rank."""
    draw = UnseenItemDraw(unseen_items(), negatives=1)
    for user, seen in SEEN.items():
        unseen = [i for i in range(NUM_ITEMS) if i not in seen]
        ranks = np.arange(len(unseen), dtype=np.int32)[:, None]
        monkeypatch.setattr(keras.random, "randint", lambda *args, **kwargs: ranks)  # noqa: B023
        drawn = ops.convert_to_numpy(draw(np.full(len(unseen), user, np.int32)))
        assert drawn[:, 0].tolist() == unseen, f"user {user}"


def test_draws_are_uniform_over_unseen_items_and_never_seen_ones():
    negatives = 2_000
    draw = UnseenItemDraw(unseen_items(), negatives=negatives, seed=4)
    users = np.arange(len(SEEN), dtype=np.int32)
    drawn = ops.convert_to_numpy(draw(users))
    assert drawn.shape == (len(SEEN), negatives) and drawn.dtype == np.int32
    for user, seen in SEEN.items():
        counts = np.bincount(drawn[user], minlength=NUM_ITEMS)
        assert counts[seen].sum() == 0, f"user {user} drew a seen item"
        unseen = [i for i in range(NUM_ITEMS) if i not in seen]
        expected = negatives / len(unseen)
        spread = np.sqrt(expected * (1 - 1 / len(unseen)))  # binomial standard deviation
        assert np.abs(counts[unseen] - expected).max() < 5 * spread + 1e-9, f"user {user}"


def test_a_user_who_has_seen_every_item_is_refused():
    everything = UnseenItems(np.zeros(4, int), np.arange(4), 1, 4)
    with pytest.raises(DataError, match="user 0 has interacted with all 4 items"):
        UnseenItemDraw(everything)


def test_positive_batches_serve_every_positive_once_per_epoch(small_synthetic):
    batches = PositiveBatches(small_synthetic, negatives=4, batch_size=100, seed=1)
    n = len(small_synthetic.train_users)
    orders = []
    for _ in range(2):
        batches.on_epoch_begin()
        pairs, sizes = [], []
        for index in range(len(batches)):
            x, y = batches[index]
            assert y.shape == (len(x["user"]), 5) and y.dtype == np.float32
            assert (y[:, 0] == 1).all() and (y[:, 1:] == 0).all()
            sizes.append(len(x["user"]))
            pairs += zip(x["user"].tolist(), x["item"].tolist(), strict=True)
        assert max(sizes) == 20  # 100 rows: 20 positives and their 80 negatives
        users, items = small_synthetic.train_users, small_synthetic.train_items
        assert sorted(pairs) == sorted(zip(users.tolist(), items.tolist(), strict=True))
        assert len(pairs) == n
        orders.append(pairs)
    assert orders[0] != orders[1]  # each epoch its own order


def test_positive_batches_split_evenly_over_devices_and_processes(small_synthetic):
    """On 7 devices, every batch's positives are a multiple of 7, the last batch cut to one;
    two processes each serve their half of every batch, and together all of it."""
    seven = PositiveBatches(small_synthetic, batch_size=119, seed=2, multiple_of=7)
    assert seven.positives == 21  # 119 rows hold 23 positives with their 4 negatives each
    assert len(seven.order) == 1320 - 1320 % 21 % 7 == 1316  # the last batch: 14 of 18
    sizes = [len(seven[index][0]["user"]) for index in range(len(seven))]
    assert sizes == [21] * 62 + [14]
    whole = PositiveBatches(small_synthetic, batch_size=111, seed=2, multiple_of=2)
    halves = [
        PositiveBatches(small_synthetic, batch_size=111, seed=2, multiple_of=2, shard=(part, 2))
        for part in (0, 1)
    ]
    for index in range(len(whole)):
        users = whole[index][0]["user"]
        parts = [half[index][0]["user"] for half in halves]
        assert len(parts[0]) == len(parts[1]) == len(users) // 2
        np.testing.assert_array_equal(np.concatenate(parts), users)


def fresh_neumf(dataset, seed=0):
    keras.utils.set_random_seed(seed)
    model = models.neumf(dataset.num_users, dataset.num_items, 8)
    return compile_model(model, learning_rate=0.01, jit_compile=False)


def device_run(dataset, seed=0, **kwargs):
    return train(
        fresh_neumf(dataset),
        dataset,
        batch_size=250,
        seed=seed,
        verbose=0,
        sample_on="device",
        **kwargs,
    )


def test_training_on_device_draws_learns_and_repeats_with_its_seed(small_synthetic):
    first = device_run(small_synthetic, epochs=3)
    assert device_run(small_synthetic, epochs=3) == first
    other = device_run(small_synthetic, seed=1, epochs=1)
    assert other[0]["loss"] != first[0]["loss"]
    assert first[-1]["loss"] < first[0]["loss"]
    assert summarize(first)["best"]["hr@10"] > 0.3  # random ranking: 0.1


def test_a_resumed_fit_draws_what_an_uninterrupted_one_draws(small_synthetic, tmp_path):
    whole = device_run(small_synthetic, epochs=2, out_dir=tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        device_run(small_synthetic, epochs=2, out_dir=tmp_path / "cut", callbacks=[Interrupt(0)])
    resumed = device_run(small_synthetic, epochs=2, out_dir=tmp_path / "cut", resume=True)
    assert [row["loss"] for row in resumed] == [row["loss"] for row in whole]
    saved = keras.saving.load_model(tmp_path / "cut" / "model.keras")
    assert [w.name for w in saved.weights] == [w.name for w in fresh_neumf(small_synthetic).weights]


def test_patience_stops_the_fit_and_restores_the_best_epoch(small_synthetic, tmp_path):
    """EarlyStopping and the checkpoint see the model's network: its stop ends the fit, and
    the model left in memory and the one saved are the best validation epoch's."""
    validation = validation_split(small_synthetic, seed=0)
    model = fresh_neumf(small_synthetic)
    history = train(
        model,
        small_synthetic,
        epochs=40,
        batch_size=250,
        validation=validation,
        patience=1,
        out_dir=tmp_path,
        verbose=0,
        sample_on="device",
    )
    assert len(history) < 40
    best = max(row["val_hr@10"] for row in history)
    saved = keras.saving.load_model(tmp_path / "model.keras")
    assert metrics.evaluate(model, validation)["hr@10"] == pytest.approx(best)
    assert metrics.evaluate(saved, validation)["hr@10"] == pytest.approx(best)


def test_negative_drawing_is_the_models_network_and_saves_as_the_model(tmp_path):
    """Its training call scores each positive and its drawn items; everything else is the
    model's: the same weights, the same predictions, and a saved file without the draw."""
    model = models.gmf(len(SEEN), NUM_ITEMS, 4)
    fitted = NegativeDrawing(model, unseen_items(), negatives=3, seed=1)
    assert [id(v) for v in fitted.trainable_variables] == [id(v) for v in model.trainable_variables]
    x = {"user": np.array([0, 1, 2, 4], "int32"), "item": np.array([1, 5, 3, 9], "int32")}
    np.testing.assert_array_equal(fitted.predict(x, verbose=0), model.predict(x, verbose=0))
    scores = np.asarray(fitted(x, training=True))
    assert scores.shape == (4, 4)
    np.testing.assert_allclose(scores[:, :1], np.asarray(model(x)), rtol=1e-6)
    every = np.asarray(
        model(
            {
                "user": np.repeat(x["user"], NUM_ITEMS),
                "item": np.tile(np.arange(NUM_ITEMS, dtype="int32"), 4),
            }
        )
    )
    for row, user in enumerate(x["user"]):  # each drawn score is an unseen item's score
        unseen = [i for i in range(NUM_ITEMS) if i not in SEEN[int(user)]]
        for score in scores[row, 1:]:
            assert np.isclose(every[row * NUM_ITEMS + np.array(unseen)], score, rtol=1e-6).any()
    fitted.save(tmp_path / "model.keras")
    saved = keras.saving.load_model(tmp_path / "model.keras")
    assert type(saved) is type(model) and "negatives" not in [layer.name for layer in saved.layers]
    np.testing.assert_array_equal(saved.predict(x, verbose=0), model.predict(x, verbose=0))


def test_callbacks_see_the_model_that_predicts_and_saves_as_the_trained_one(small_synthetic):
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.predict(x, verbose=0).shape)

    x = {"user": np.array([0, 1], "int32"), "item": np.array([2, 3], "int32")}
    model = fresh_neumf(small_synthetic)
    before = model.predict(x, verbose=0)
    train(
        model,
        small_synthetic,
        epochs=2,
        batch_size=250,
        verbose=0,
        sample_on="device",
        callbacks=[Watch()],
    )
    assert seen == [(2, 1), (2, 1)]
    assert not np.allclose(model.predict(x, verbose=0), before)  # fitting it trained `model`


def test_device_sampling_refuses_what_it_does_not_support(small_synthetic):
    with pytest.raises(ArgumentError, match="sample_on must be one of"):
        train(fresh_neumf(small_synthetic), small_synthetic, epochs=1, sample_on="gpu")
    model = models.neumf(small_synthetic.num_users, small_synthetic.num_items, 8)
    compile_model(model, "lazy-adam", jit_compile=False)
    with pytest.raises(ArgumentError, match="does not yet work with lazy-adam"):
        train(model, small_synthetic, epochs=1, sample_on="device")
