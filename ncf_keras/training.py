"""Training with `model.fit`: fresh negatives every epoch, ranking metrics every epoch.

* `TrainingSamples` is a `keras.utils.PyDataset` that redraws the negatives at
  the start of each epoch, seeded by (seed, epoch).
* `RankingEvaluation` is a callback that adds HR@K, NDCG@K and timings to the
  epoch logs, where the progress bar, `History`, `CSVLogger` and
  `ModelCheckpoint` see them; `AtomicModelCheckpoint` saves the best model
  through a temporary file.
* `compile_model` compiles for the log loss; `train` fits with both callbacks
  and, given a folder, saves the history and the best model there.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras

from ncf_keras.datasets import Dataset
from ncf_keras.errors import DataError
from ncf_keras.metrics import evaluate
from ncf_keras.sampling import random_stream, training_instances

STEPS_PER_EXECUTION = 32  # batches per compiled call: less Python overhead per batch
LEARNING_RATE = 3e-3  # Adam, for batches of 1024 (the paper: 1e-3 for batches of 256)
FINE_TUNE_LEARNING_RATE = 1e-3  # SGD, for pre-trained NeuMF, as in the paper
OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "adagrad": keras.optimizers.Adagrad,
    "rmsprop": keras.optimizers.RMSprop,
}


class TrainingSamples(keras.utils.PyDataset):
    """Shuffled pointwise batches: every training positive plus sampled negatives.

    Each batch is ({"user": int32 (b,), "item": int32 (b,)}, label float32 (b,)),
    with b = batch_size (the last batch may be smaller). Epoch e's rows come from
    `random_stream(seed, "epoch", e)`, so a seed fixes every epoch's rows.

    A new epoch's negatives are drawn when an epoch begins after every batch of
    the current draw has been served. Counting epochs that way, rather than
    counting `on_epoch_begin` calls, stays right when Keras peeks at a batch
    before training (the JAX trainer does, in its first `fit`).

    Attributes:
        epoch: the epoch whose rows are served now.
        sample_seconds: {epoch: (start time, seconds)} of each draw, for timing.
    """

    def __init__(self, dataset: Dataset, negatives: int = 4, batch_size: int = 1024, seed: int = 0):
        super().__init__()
        if batch_size < 1:
            raise DataError(f"--batch-size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.negatives = negatives
        self.batch_size = batch_size
        self.seed = seed
        self.sample_seconds: dict[int, tuple[float, float]] = {}
        self._draw(0)

    def _draw(self, epoch: int) -> None:
        start = time.perf_counter()
        d = self.dataset
        self.users, self.items, self.labels = training_instances(
            d.train_users,
            d.train_items,
            d.unseen_in_train,
            self.negatives,
            random_stream(self.seed, "epoch", epoch),
        )
        self.epoch = epoch
        self._served = 0
        self.sample_seconds[epoch] = (start, time.perf_counter() - start)

    def on_epoch_begin(self) -> None:
        if self._served >= len(self):
            self._draw(self.epoch + 1)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __getitem__(self, index: int):
        self._served += 1
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return {"user": self.users[rows], "item": self.items[rows]}, self.labels[rows]


class RankingEvaluation(keras.callbacks.Callback):
    """Adds HR@k and NDCG@k on the held-out items to the logs after every epoch.

    Also adds `train_seconds` (the fit time of the epoch), `sample_seconds`
    (drawing its negatives, when `samples` is given) and `eval_seconds`.

    Args:
        dataset: its test items and test negatives are evaluated.
        k: the cut-off of HR@k and NDCG@k.
        samples: the training data, to read its sampling time from.
        full_ranking: rank against all unseen items instead of the 99 negatives.
        prefix: put before every key, e.g. "val_" for a validation hold-out.
    """

    def __init__(
        self,
        dataset: Dataset,
        k: int = 10,
        samples: TrainingSamples | None = None,
        full_ranking: bool = False,
        prefix: str = "",
    ):
        super().__init__()
        self.dataset, self.k, self.samples, self.full_ranking = dataset, k, samples, full_ranking
        self.prefix = prefix

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        fit_end = time.perf_counter()
        sample_start, sample = (
            self.samples.sample_seconds.get(epoch, (0.0, 0.0)) if self.samples else (0.0, 0.0)
        )
        in_epoch = sample if sample_start >= self._start else 0.0
        metrics = evaluate(self.model, self.dataset, self.k, self.full_ranking)
        metrics.update(
            sample_seconds=sample,
            train_seconds=fit_end - self._start - in_epoch,
            eval_seconds=time.perf_counter() - fit_end,
        )
        if logs is not None:
            logs.update({self.prefix + key: value for key, value in metrics.items()})


class HistoryCSV(keras.callbacks.CSVLogger):
    """`CSVLogger` with epochs numbered from 1 and no empty `val_*` columns."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.keys is None:
            self.keys = sorted(logs or {})  # CSVLogger would add val_* columns for every key
        super().on_epoch_end(epoch + 1, logs)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` that saves to a hidden temporary `.keras` file, then renames it.

    An interrupted save leaves the previous model in place, never a half-written one.
    """

    def __init__(self, filepath: str | Path, **kwargs):
        self.final_path = Path(filepath)
        partial = self.final_path.with_name(f".{self.final_path.stem}.partial.keras")
        super().__init__(str(partial), **kwargs)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        partial = Path(self.filepath)
        try:
            super().on_epoch_end(epoch, logs)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if partial.exists():
            partial.replace(self.final_path)


def compile_model(
    model: keras.Model,
    optimizer: str = "adam",
    learning_rate: float = LEARNING_RATE,
    jit_compile: bool | str = "auto",
) -> keras.Model:
    """Compile for binary cross-entropy (the paper's log loss, eq. 7).

    The default learning rate, 0.003, goes with the default batch of 1024: the
    paper used 0.001 with batches of 256, which takes 4x more steps per epoch.

    `jit_compile="auto"` uses XLA on TensorFlow and JAX, where it runs NCF
    several times faster on a CPU.
    """
    if optimizer not in OPTIMIZERS:
        raise DataError(f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    if jit_compile == "auto":
        jit_compile = keras.backend.backend() in ("tensorflow", "jax")
    model.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate),
        loss="binary_crossentropy",
        jit_compile=jit_compile,
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def train(
    model: keras.Model,
    dataset: Dataset,
    *,
    epochs: int = 20,
    batch_size: int = 1024,
    negatives: int = 4,
    seed: int = 0,
    out_dir: str | Path | None = None,
    k: int = 10,
    verbose: int | str = "auto",
) -> list[dict[str, float]]:
    """Fit a compiled model, evaluating HR@k and NDCG@k after every epoch.

    With `out_dir`, also writes `history.csv` (CSVLogger) and the best model
    by HR@k as `model.keras` (AtomicModelCheckpoint).

    Returns the history: one dict per epoch with "epoch" (1-based), "loss",
    "hr@k", "ndcg@k", "sample_seconds", "train_seconds" and "eval_seconds".
    """
    if epochs < 1:
        raise DataError(f"--epochs must be >= 1, got {epochs}")
    samples = TrainingSamples(dataset, negatives, batch_size, seed)
    callbacks: list[keras.callbacks.Callback] = [RankingEvaluation(dataset, k, samples)]
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        callbacks += [
            HistoryCSV(str(out / "history.csv")),
            AtomicModelCheckpoint(
                out / "model.keras", monitor=f"hr@{k}", mode="max", save_best_only=True
            ),
        ]
    return epoch_history(model.fit(samples, epochs=epochs, callbacks=callbacks, verbose=verbose))


def epoch_history(fitted: keras.callbacks.History) -> list[dict[str, float]]:
    """`model.fit`'s History as one dict per epoch: {"epoch": 1-based, "loss": ..., ...}."""
    logs = fitted.history
    return [
        {"epoch": e + 1, **{key: float(values[e]) for key, values in logs.items()}}
        for e in range(len(fitted.epoch))
    ]


def summarize(history: list[dict[str, float]], k: int = 10) -> dict:
    """{"best": {"epoch", "hr@k", "ndcg@k"}, "final": {"hr@k", "ndcg@k"}}; best by HR@k."""
    best = max(history, key=lambda row: row[f"hr@{k}"])  # the first of equal bests
    last = history[-1]
    return {
        "best": {
            "epoch": best["epoch"],
            f"hr@{k}": best[f"hr@{k}"],
            f"ndcg@{k}": best[f"ndcg@{k}"],
        },
        "final": {f"hr@{k}": last[f"hr@{k}"], f"ndcg@{k}": last[f"ndcg@{k}"]},
    }


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically: to a temporary file, then rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
