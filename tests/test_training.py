"""Training: per-epoch negatives, the ranking callback, `train` and its run files."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from ncf_keras import metrics, models
from ncf_keras.data.dataset import Dataset, validation_split
from ncf_keras.data.sampling import training_instances
from ncf_keras.data.sources import synthetic
from ncf_keras.errors import ArgumentError
from ncf_keras.runs.folder import write_json
from ncf_keras.training import batches
from ncf_keras.training.batches import TrainingSamples
from ncf_keras.training.callbacks import AtomicModelCheckpoint, StepProgbar, interrupt_after
from ncf_keras.training.fit import compile_model, train
from ncf_keras.training.history import summarize


def fresh_gmf(dataset: Dataset, seed: int = 0, lr: float = 0.005) -> keras.Model:
    """A compiled GMF built right after seeding Keras. Without XLA: these runs are tiny,
    and compiling costs more than it saves (the CLI tests cover the XLA path)."""
    keras.utils.set_random_seed(seed)
    model = models.gmf(dataset.num_users, dataset.num_items, 8)
    return compile_model(model, learning_rate=lr, jit_compile=False)


def test_gmf_on_synthetic_clearly_beats_random_ranking():
    """5 epochs of GMF on the planted structure: HR@10 far above random (about 0.10)."""
    dataset = synthetic()
    history = train(fresh_gmf(dataset), dataset, epochs=5, timings=True, verbose=0)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5]
    assert max(row["hr@10"] for row in history) > 0.25
    assert history[-1]["loss"] < history[0]["loss"]
    for row in history:
        assert 0 <= row["ndcg@10"] <= row["hr@10"] <= 1
        assert row["train_seconds"] >= 0 and row["eval_seconds"] >= 0
        assert row["sample_seconds"] >= 0


def test_epoch_logs_hold_only_the_lesson_without_timings(small_synthetic):
    """Without `timings`, an epoch's logs are its loss, HR@10 and NDCG@10, nothing else."""
    history = train(fresh_gmf(small_synthetic), small_synthetic, epochs=1, verbose=0)
    assert set(history[0]) == {"epoch", "loss", "hr@10", "ndcg@10"}


# --- TrainingSamples -----------------------------------------------------------------


def test_training_samples_batches_cover_every_row_once(small_synthetic):
    """Batches of batch_size rows (the last one shorter) hold all n * (1 + negatives) rows.

    The rows are held lean (uint16 items, bool labels); Keras gets int32 ids and float32 labels.
    """
    samples = TrainingSamples(small_synthetic, negatives=3, batch_size=500, seed=0)
    n = len(small_synthetic.train_users)
    assert len(samples) == -(-n * 4 // 500)
    users, items, labels = [], [], []
    for index in range(len(samples)):
        x, y = samples[index]
        assert set(x) == {"user", "item"}
        assert len(x["user"]) == len(x["item"]) == len(y) <= 500
        assert (x["user"].dtype, x["item"].dtype, y.dtype) == (np.int32, np.int32, np.float32)
        users.append(x["user"])
        items.append(x["item"])
        labels.append(y)
    assert len(np.concatenate(labels)) == n * 4
    assert int(np.concatenate(labels).sum()) == n
    assert len(labels[-1]) == n * 4 - 500 * (len(samples) - 1)


def test_training_samples_redraw_negatives_each_epoch(small_synthetic):
    """Epoch e's rows come from rng([seed, e]): new each epoch, the same for the same seed."""
    d = small_synthetic

    def epochs(seed: int, count: int) -> list[np.ndarray]:
        samples = TrainingSamples(d, negatives=4, batch_size=256, seed=seed)
        drawn = []
        for _ in range(count):
            samples.on_epoch_begin()
            drawn.append(samples.items.copy())
            for index in range(len(samples)):  # serve the whole epoch, as fit does
                samples[index]
        return drawn

    first, again, other = epochs(1, 3), epochs(1, 3), epochs(2, 3)
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[1], first[2])
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    expected = training_instances(
        d.train_users, d.train_items, d.unseen_in_train, 4, np.random.default_rng([1, 2])
    )
    np.testing.assert_array_equal(first[2], expected[1])


def test_a_peek_before_training_does_not_skip_an_epoch(small_synthetic):
    """Keras may read a batch before the first epoch (JAX does): epoch 0 is still rng([seed, 0])."""
    samples = TrainingSamples(small_synthetic, negatives=4, batch_size=256, seed=3)
    first = samples.items.copy()
    samples[0]
    samples.on_epoch_begin()
    assert samples.epoch == 0
    np.testing.assert_array_equal(samples.items, first)


def test_fit_redraws_negatives_at_every_epoch(small_synthetic):
    """Inside model.fit, Keras triggers a fresh draw at the start of each epoch."""
    samples = TrainingSamples(small_synthetic, negatives=2, batch_size=256, seed=3)
    seen: list[tuple[int, np.ndarray]] = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((samples.epoch, samples.items.copy()))

    model = fresh_gmf(small_synthetic)
    model.fit(samples, epochs=3, verbose=0, callbacks=[Record()])
    assert [epoch for epoch, _ in seen] == [0, 1, 2]
    assert not np.array_equal(seen[0][1], seen[1][1])
    assert not np.array_equal(seen[1][1], seen[2][1])


def served_epochs(samples: TrainingSamples, count: int) -> list[np.ndarray]:
    """The items of `count` epochs, each served whole as fit serves it."""
    drawn = []
    for _ in range(count):
        samples.on_epoch_begin()
        drawn.append(np.concatenate([samples[index][0]["item"] for index in range(len(samples))]))
    return drawn


def sampler_threads() -> set[threading.Thread]:
    """The live threads of `TrainingSamples`' background draws (other tests' included)."""
    return {thread for thread in threading.enumerate() if thread.name.startswith("ncf-sampler")}


def test_epochs_drawn_ahead_in_the_background_are_the_epochs_drawn_in_turn(
    small_synthetic, monkeypatch
):
    """Prefetching changes where epoch e + 1 is drawn (a background thread), never its rows."""
    where: list[tuple[int, str]] = []
    draw = TrainingSamples._instances

    def traced(self, epoch):
        where.append((epoch, threading.current_thread().name))
        return draw(self, epoch)

    monkeypatch.setattr(TrainingSamples, "_instances", traced)
    before = sampler_threads()
    ahead = TrainingSamples(small_synthetic, negatives=2, batch_size=256, seed=5, epochs=3)
    assert ahead.prefetch
    assert ahead.epoch_ahead == 1
    drawn_ahead = served_epochs(ahead, 3)
    assert ahead.epoch_ahead is None
    ahead.close()
    main = threading.current_thread().name
    # Each epoch drawn once: 0 before the fit, the next ones in the background, and
    # not epoch 3, as the fit has 3 epochs (0 to 2).
    assert [(epoch, thread == main) for epoch, thread in where] == [
        (0, True),
        (1, False),
        (2, False),
    ]
    in_turn = TrainingSamples(small_synthetic, negatives=2, batch_size=256, seed=5, prefetch=False)
    for a, b in zip(drawn_ahead, served_epochs(in_turn, 3), strict=True):
        np.testing.assert_array_equal(a, b)
    assert sampler_threads() <= before  # close() ended the thread


def test_prefetch_is_left_off_where_two_epochs_would_not_fit_in_memory(
    small_synthetic, monkeypatch
):
    rows = len(small_synthetic.train_users) * 5
    one_epoch = rows * batches.BYTES_PER_ROW
    monkeypatch.setattr(batches, "available_memory", lambda: one_epoch + 1)
    assert not TrainingSamples(small_synthetic, negatives=4).prefetch
    monkeypatch.setattr(batches, "available_memory", lambda: 2 * one_epoch)
    samples = TrainingSamples(small_synthetic, negatives=4)
    assert samples.prefetch
    samples.close()


def test_train_leaves_no_background_draw_behind(small_synthetic):
    before = sampler_threads()
    train(fresh_gmf(small_synthetic), small_synthetic, epochs=3, verbose=0)
    assert sampler_threads() <= before


def test_a_ctrl_c_inside_a_bare_except_still_stops_train(small_synthetic, ctrl_c_raises):
    """Keras swallows a KeyboardInterrupt raised in its bare `except:` blocks; train does not.

    The signal lands inside such a block in epoch 1; train raises at the next batch edge,
    so epoch 2 never starts, and Python's own Ctrl-C handler is back afterwards.
    """
    epochs_begun = []

    class CtrlCInsideBareExcept(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs_begun.append(epoch)
            if epoch == 1:
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.2)  # the handler runs here
                except:  # noqa: E722 (as in keras.src.utils.python_utils.pythonify_logs)
                    pass

    with pytest.raises(KeyboardInterrupt):
        train(
            fresh_gmf(small_synthetic),
            small_synthetic,
            epochs=4,
            verbose=0,
            callbacks=[CtrlCInsideBareExcept()],
        )
    assert epochs_begun == [0, 1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_training_samples_refuse_bad_sizes(small_synthetic):
    with pytest.raises(ArgumentError, match=r"^batch_size must be >= 1, got 0"):
        TrainingSamples(small_synthetic, batch_size=0)
    with pytest.raises(ArgumentError, match=r"^negatives must be >= 1, got 0"):
        TrainingSamples(small_synthetic, negatives=0)


# --- train --------------------------------------------------------------------------


def test_same_seed_gives_identical_history(small_synthetic):
    """Seeding Keras, then building and training, twice: identical loss, HR@10 and NDCG@10."""

    def run(seed: int) -> list[tuple[float, float, float]]:
        history = train(
            fresh_gmf(small_synthetic, seed),
            small_synthetic,
            epochs=2,
            seed=seed,
            batch_size=256,
            verbose=0,
        )
        return [(row["loss"], row["hr@10"], row["ndcg@10"]) for row in history]

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert [row[0] for row in first] != [row[0] for row in other]


def test_train_writes_history_csv_and_the_best_model(tmp_path, small_synthetic):
    """history.csv: epochs from 1, the logged metrics, no empty val_ columns; model.keras loads."""
    out = tmp_path / "run"
    history = train(
        fresh_gmf(small_synthetic),
        small_synthetic,
        epochs=3,
        batch_size=256,
        out_dir=out,
        timings=True,
        verbose=0,
    )
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    columns = set(rows[0])
    assert {"epoch", "loss", "hr@10", "ndcg@10", "train_seconds", "eval_seconds"} <= columns
    assert not [c for c in columns if c.startswith("val_")]
    for row, logged in zip(rows, history, strict=True):
        assert float(row["hr@10"]) == pytest.approx(logged["hr@10"])
        assert float(row["loss"]) == pytest.approx(logged["loss"], rel=1e-6)

    assert sorted(path.name for path in out.iterdir()) == ["history.csv", "model.keras"]
    best = summarize(history)["best"]
    reloaded = keras.saving.load_model(out / "model.keras")
    result = metrics.evaluate(reloaded, small_synthetic)
    assert result["hr@10"] == pytest.approx(best["hr@10"], abs=1.5 / small_synthetic.num_users)


def test_checkpoint_keeps_the_previous_model_when_a_save_fails(tmp_path, monkeypatch):
    model = models.gmf(3, 4)
    checkpoint = AtomicModelCheckpoint(
        tmp_path / "model.keras", monitor="hr@10", mode="max", save_best_only=True
    )
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"hr@10": 0.1})
    saved = (tmp_path / "model.keras").read_bytes()

    def crash_midway(path, **kwargs):
        Path(path).write_bytes(b"half a zip")
        raise OSError("No space left on device")

    monkeypatch.setattr(model, "save", crash_midway)
    with pytest.raises(OSError, match="No space left"):
        checkpoint.on_epoch_end(1, {"hr@10": 0.2})
    assert (tmp_path / "model.keras").read_bytes() == saved
    assert [path.name for path in tmp_path.iterdir()] == ["model.keras"]


def test_train_and_compile_refuse_bad_settings(small_synthetic):
    with pytest.raises(ArgumentError, match=r"^epochs must be >= 1, got 0"):
        train(fresh_gmf(small_synthetic), small_synthetic, epochs=0)
    with pytest.raises(ArgumentError, match=r"^optimizer must be one of adam, .*, got 'adamw'"):
        compile_model(models.gmf(3, 4), optimizer="adamw")
    with pytest.raises(ArgumentError, match=r"^learning_rate must be a finite number, got nan"):
        compile_model(models.gmf(3, 4), learning_rate=float("nan"))


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "rmsprop"])
def test_compile_model_picks_the_optimizer_and_rate(optimizer):
    model = compile_model(models.gmf(3, 4), optimizer=optimizer, learning_rate=0.02)
    assert type(model.optimizer).__name__.lower() == optimizer
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)


def test_compile_model_xla_means_xla_where_keras_auto_would_not():
    """Our "xla" turns XLA on for TensorFlow and JAX; Keras's own values pass through."""
    assert compile_model(models.gmf(3, 4)).jit_compile is True  # the default, "xla"
    assert compile_model(models.gmf(3, 4), jit_compile=False).jit_compile is False
    with pytest.raises(ArgumentError, match=r'^jit_compile must be "xla", "auto", True or False'):
        compile_model(models.gmf(3, 4), jit_compile="on")


def test_summarize_picks_the_first_best_epoch_and_the_last():
    history = [
        {"epoch": 1, "hr@10": 0.2, "ndcg@10": 0.1},
        {"epoch": 2, "hr@10": 0.5, "ndcg@10": 0.3},
        {"epoch": 3, "hr@10": 0.5, "ndcg@10": 0.4},
        {"epoch": 4, "hr@10": 0.4, "ndcg@10": 0.2},
    ]
    assert summarize(history) == {
        "best": {"epoch": 2, "hr@10": 0.5, "ndcg@10": 0.3},
        "final": {"hr@10": 0.4, "ndcg@10": 0.2},
    }


def test_write_json_replaces_atomically(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    write_json(path, {"a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_validation_chooses_the_best_epoch_and_patience_restores_it(tmp_path, small_synthetic):
    """With a validation hold-out, the best epoch is the best validation HR@10: the saved
    model and, under `patience`, the model left in memory are that epoch's."""
    validation = validation_split(small_synthetic, seed=0)
    model = fresh_gmf(small_synthetic, lr=0.05)
    history = train(
        model,
        small_synthetic,
        epochs=6,
        batch_size=256,
        validation=validation,
        patience=2,
        out_dir=tmp_path,
        verbose=0,
    )
    assert {"val_hr@10", "val_ndcg@10", "hr@10", "ndcg@10"} <= set(history[0])
    scores = [row["val_hr@10"] for row in history]
    chosen = summarize(history)["best"]
    assert chosen["epoch"] == 1 + scores.index(max(scores))
    assert chosen["hr@10"] == history[chosen["epoch"] - 1]["hr@10"]
    restored = metrics.evaluate(model, validation)["hr@10"]
    saved = metrics.evaluate(keras.saving.load_model(tmp_path / "model.keras"), validation)
    assert restored == pytest.approx(max(scores)) == pytest.approx(saved["hr@10"])


def test_validation_must_be_a_split_of_the_dataset(small_synthetic):
    with pytest.raises(ArgumentError, match=r"^validation must be a validation_split"):
        train(fresh_gmf(small_synthetic), small_synthetic, validation=synthetic(num_users=50))


class ScrambleBefore(keras.callbacks.Callback):
    """Replaces the embeddings with noise at the start of epoch `epoch` (0-based)."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if epoch == self.epoch:
            rng = np.random.default_rng(0)
            for layer in self.model.layers:
                if "embedding" in layer.name:
                    table = layer.get_weights()[0]
                    layer.set_weights([rng.normal(scale=3.0, size=table.shape)])


def test_the_saved_model_is_the_best_epoch_not_the_last(tmp_path, small_synthetic):
    """When a later epoch is worse, model.keras keeps the best one, and scores as it did."""
    history = train(
        fresh_gmf(small_synthetic),
        small_synthetic,
        epochs=3,
        batch_size=256,
        out_dir=tmp_path,
        callbacks=[ScrambleBefore(2)],
        verbose=0,
    )
    hr = [row["hr@10"] for row in history]
    assert hr[2] < max(hr[:2]) - 0.05, hr  # the scrambled last epoch is clearly worse
    saved = metrics.evaluate(keras.saving.load_model(tmp_path / "model.keras"), small_synthetic)
    assert saved["hr@10"] == pytest.approx(max(hr[:2]), abs=1.5 / small_synthetic.num_users)


def test_the_progress_bar_stops_at_the_last_step(capsys):
    """Keras reports a partial last execution of 32 steps as a full one (step 31 of 10);
    `StepProgbar` counts 10 of 10."""
    progbar = StepProgbar()
    progbar.set_params({"verbose": 1, "epochs": 1, "steps": 10})
    progbar.on_epoch_begin(0)
    progbar.on_train_batch_end(31, {"loss": 0.5})
    assert progbar.seen == 10
    assert "10/10" in capsys.readouterr().out


def test_a_ctrl_c_during_a_save_is_raised_when_the_save_ends(ctrl_c_raises):
    """Keras's `model.save` swallows a KeyboardInterrupt (a bare `except:`); held back
    until the save is done, the Ctrl-C still stops training."""
    import contextlib
    import os
    import signal

    reached_the_end = False
    with pytest.raises(KeyboardInterrupt), interrupt_after():
        os.kill(os.getpid(), signal.SIGINT)
        with contextlib.suppress(BaseException):  # as the bare `except:` in keras.saving
            sum(range(1000))  # the signal is handled here, while it would be swallowed
        reached_the_end = True
    assert reached_the_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_compile_model_gives_adam_its_betas_and_refuses_them_elsewhere():
    model = compile_model(models.gmf(3, 4), betas=(0.25, 0.5))
    assert (model.optimizer.beta_1, model.optimizer.beta_2) == (0.25, 0.5)
    with pytest.raises(ArgumentError, match=r"^betas are Adam's; the sgd optimizer has none"):
        compile_model(models.gmf(3, 4), optimizer="sgd", betas=(0.25, 0.5))
    with pytest.raises(ArgumentError, match=r"^betas must each be in \[0, 1\), got 1.0"):
        compile_model(models.gmf(3, 4), betas=(0.9, 1.0))
