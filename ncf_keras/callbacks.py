"""Keras callbacks for NCF training: ranking metrics, timings, history and checkpoints.

* `RankingEvaluation` adds HR@K and NDCG@K on held-out items to the epoch logs,
  where the progress bar, `History`, `CSVLogger` and `ModelCheckpoint` see them.
* `EpochTimes` adds how the epoch's seconds were spent; the CLI adds it, the
  notebooks leave it out so that their epoch lines show only what the lesson
  is about.
* `HistoryCSV` and `AtomicModelCheckpoint` are Keras's `CSVLogger` and
  `ModelCheckpoint`, with 1-based epochs and a save that is never half-written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import keras

from ncf_keras.dataset import Dataset
from ncf_keras.metrics import evaluate


class RankingEvaluation(keras.callbacks.Callback):
    """Adds HR@k and NDCG@k on the held-out items to the logs after every epoch.

    Args:
        dataset: its test items and test negatives are evaluated.
        k: the cut-off of HR@k and NDCG@k (default 10).
        full_ranking: rank against all unseen items instead of the 99 negatives.
        prefix: put before every key, e.g. "val_" for a validation hold-out.

    Attributes:
        seconds: the wall seconds of the last evaluation.
    """

    def __init__(self, dataset: Dataset, k: int = 10, full_ranking: bool = False, prefix: str = ""):
        super().__init__()
        self.dataset, self.k, self.full_ranking, self.prefix = dataset, k, full_ranking, prefix
        self.seconds = 0.0

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        start = time.perf_counter()
        metrics = evaluate(self.model, self.dataset, self.k, self.full_ranking)
        self.seconds = time.perf_counter() - start
        if logs is not None:
            logs.update({self.prefix + key: value for key, value in metrics.items()})


class EpochTimes(keras.callbacks.Callback):
    """Adds the epoch's timings to the logs, in wall seconds.

    `sample_seconds`: drawing the epoch's negatives; `eval_seconds`: the
    `evaluations` of the epoch; `train_seconds`: the rest of the epoch, the fit.
    Place it after the evaluations it times, and before the callbacks that
    should record its keys.

    Args:
        samples: the `TrainingSamples` being fitted; its `sample_seconds` are read.
        evaluations: the `RankingEvaluation` callbacks of the same fit.
    """

    def __init__(self, samples, evaluations: Sequence[RankingEvaluation] = ()):
        super().__init__()
        self.samples, self.evaluations = samples, list(evaluations)
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        end = time.perf_counter()
        sample_start, sample = self.samples.sample_seconds.get(epoch, (0.0, 0.0))
        in_epoch = sample if sample_start >= self._start else 0.0
        evaluation = sum(callback.seconds for callback in self.evaluations)
        if logs is not None:
            logs.update(
                sample_seconds=sample,
                train_seconds=end - self._start - in_epoch - evaluation,
                eval_seconds=evaluation,
            )


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
