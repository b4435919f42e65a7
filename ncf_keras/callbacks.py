"""Keras callbacks for NCF training: ranking metrics, timings, history and checkpoints.

* `RankingEvaluation` adds HR@K and NDCG@K on held-out items to the epoch logs,
  where the progress bar, `History`, `CSVLogger` and `ModelCheckpoint` see them.
* `EpochTimes` adds how the epoch's seconds were spent; the CLI adds it, the
  notebooks leave it out so that their epoch lines show only what the lesson
  is about.
* `HistoryCSV` and `AtomicModelCheckpoint` are Keras's `CSVLogger` and
  `ModelCheckpoint`, with 1-based epochs and a save that is never half-written.
* `EpochBackup` keeps what an interrupted fit needs to resume: the weights and
  optimizer state after the last completed epoch, and the epoch logs so far.
* `StepProgbar` is Keras's progress bar, stopped at the epoch's last step.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator, Sequence
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

    `sample_seconds`: waiting for the epoch's negatives (the whole draw, unless
    `TrainingSamples` drew them in the background); `eval_seconds`: the
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


class StepProgbar(keras.callbacks.ProgbarLogger):
    """`ProgbarLogger` that never counts past the epoch's steps.

    With `steps_per_execution` > 1, Keras reports the last step of each
    execution as if it were full, so a bar could end at 4864/4855.
    """

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self.target is not None:
            batch = min(batch, self.target - 1)
        super().on_train_batch_end(batch, logs)


class HistoryCSV(keras.callbacks.CSVLogger):
    """`CSVLogger` with epochs numbered from 1 and no empty `val_*` columns."""

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.keys is None:
            self.keys = sorted(logs or {})  # CSVLogger would add val_* columns for every key
        super().on_epoch_end(epoch + 1, logs)


@contextlib.contextmanager
def _sigint_noted(caught: list[int]) -> Iterator[None]:
    """Inside the block, a SIGINT is appended to `caught` instead of raised.

    Python runs signal handlers in the main thread only, so elsewhere, or where
    SIGINT is ignored, this changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, previous)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def interrupt_after() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) back until the block ends, then raise KeyboardInterrupt.

    Keras's `model.save` (3.15) catches every exception around its first step
    with a bare `except:`, so a KeyboardInterrupt raised there is lost and
    training goes on.
    """
    caught: list[int] = []
    with _sigint_noted(caught):
        yield
    if caught:
        raise KeyboardInterrupt


class InterruptAtBoundaries(keras.callbacks.Callback):
    """Raises a Ctrl-C (SIGINT) during `fit` as KeyboardInterrupt at the next batch or epoch edge.

    Keras 3.15 turns each step's logs into floats inside a bare `except:`
    (`pythonify_logs`), where the JAX backend waits for the step to finish: a
    KeyboardInterrupt raised there is lost and training goes on. Inside
    `armed()`, the signal is only noted, and this callback raises it from its
    own code. Put it first in the callbacks.
    """

    def __init__(self):
        super().__init__()
        self._caught: list[int] = []

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """Note SIGINT instead of raising it, for the block; the main thread only."""
        with _sigint_noted(self._caught):
            yield
        self._raise_if_caught()

    def _raise_if_caught(self) -> None:
        if self._caught:
            self._caught.clear()
            raise KeyboardInterrupt

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self._raise_if_caught()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._raise_if_caught()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._raise_if_caught()


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` that saves to a hidden temporary `.keras` file, then renames it.

    An interrupted save leaves the previous model in place, never a half-written
    one, and a Ctrl-C during the save stops training once it is done
    (`interrupt_after`).
    """

    def __init__(self, filepath: str | Path, **kwargs):
        self.final_path = Path(filepath)
        partial = self.final_path.with_name(f".{self.final_path.stem}.partial.keras")
        super().__init__(str(partial), **kwargs)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        partial = Path(self.filepath)
        with interrupt_after():
            try:
                super().on_epoch_end(epoch, logs)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            if partial.exists():
                partial.replace(self.final_path)


class EpochBackup(keras.callbacks.Callback):
    """Saves the training state after every epoch, so that an interrupted fit can resume.

    Like Keras's `BackupAndRestore`, but a kill at any moment leaves a
    consistent backup: the weights (with the optimizer's state) go to
    `epoch-N.weights.h5` and the epoch logs to `state.json`, each under a
    temporary name, then renamed; `state.json`, written last, names the
    weights file it belongs with. Place it after the callbacks whose keys the
    logs should hold.

    Args:
        folder: the backup folder, created when first needed.
    """

    STATE = "state.json"

    def __init__(self, folder: str | Path):
        super().__init__()
        self.folder = Path(folder)
        self.history: list[dict[str, float]] = []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.history.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})
        weights = self.folder / f"epoch-{epoch + 1}.weights.h5"
        partial = self.folder / f".partial-{weights.name}"
        with interrupt_after():  # a Ctrl-C here stops training once the backup is whole
            self.model.save_weights(partial, overwrite=True)
            partial.replace(weights)
            state = self.folder / self.STATE
            partial_state = self.folder / f".{self.STATE}.partial"
            partial_state.write_text(json.dumps({"weights": weights.name, "history": self.history}))
            partial_state.replace(state)
        for old in self.folder.glob("epoch-*.weights.h5"):
            if old != weights:
                old.unlink()

    def restore(self, model: keras.Model) -> list[dict[str, float]]:
        """Load the last backup into a compiled `model`; return the epoch logs so far.

        Returns [] (and changes nothing) when the folder holds no backup. The
        number of completed epochs is the length of the returned list.
        """
        saved = self._saved()
        if saved is None:
            return []
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self.folder / saved["weights"])
        self.history = saved["history"]
        return list(self.history)

    def completed_epochs(self) -> int:
        """How many epochs the folder's backup holds (0 if none), without loading it."""
        saved = self._saved()
        return 0 if saved is None else len(saved["history"])

    def _saved(self) -> dict | None:
        """The backup's state.json: {"weights": file name, "history": epoch logs}, or None."""
        state = self.folder / self.STATE
        return json.loads(state.read_text()) if state.is_file() else None
