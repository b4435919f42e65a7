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
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import keras

from ncf_keras.data.dataset import Dataset
from ncf_keras.errors import DataError, Terminated, WriteError, written_as
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
    execution as if it were full, so a bar could end at 4864/4855. Workaround
    for Keras 3.15's `ProgbarLogger`; it can go once `fit` reports the true
    last step of a partial execution.
    """

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self.target is not None:
            batch = min(batch, self.target - 1)
        super().on_train_batch_end(batch, logs)


class HistoryCSV(keras.callbacks.CSVLogger):
    """`CSVLogger` with epochs numbered from 1 and no empty `val_*` columns.

    A row that cannot be written (a full disk) raises `WriteError` naming the file.
    """

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.keys is None:
            self.keys = sorted(logs or {})  # CSVLogger would add val_* columns for every key
        try:
            super().on_epoch_end(epoch + 1, logs)
        except OSError as error:
            with contextlib.suppress(OSError):  # closed, so that exit does not flush it again
                self.csv_file.close()
            raise WriteError(self.filename, error) from None


INTERRUPTS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C; `timeout`, schedulers, containers


@contextlib.contextmanager
def _interrupts_noted(caught: list[int]) -> Iterator[None]:
    """Inside the block, a SIGINT or SIGTERM is appended to `caught` instead of raised.

    Python runs signal handlers in the main thread only, so elsewhere this
    changes nothing; nor for a signal that is ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for number in INTERRUPTS:
        previous[number] = signal.signal(number, lambda number, frame: caught.append(number))
        if previous[number] is signal.SIG_IGN:
            signal.signal(number, signal.SIG_IGN)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _raise_noted(caught: list[int]) -> None:
    """Raise the first noted signal: Terminated for SIGTERM, else KeyboardInterrupt."""
    if caught:
        number = caught[0]
        caught.clear()
        raise Terminated if number == signal.SIGTERM else KeyboardInterrupt


@contextlib.contextmanager
def interrupt_after() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) or SIGTERM back until the block ends, then raise it.

    Keras's `model.save` (3.15) catches every exception around its first step
    with a bare `except:`, so a KeyboardInterrupt raised there is lost and
    training goes on. SIGTERM is raised as `Terminated`, a KeyboardInterrupt.
    Workaround for Keras 3.15; it can go once `model.save` lets
    BaseException through.
    """
    caught: list[int] = []
    with _interrupts_noted(caught):
        yield
    _raise_noted(caught)


class InterruptAtBoundaries(keras.callbacks.Callback):
    """Raises a Ctrl-C or SIGTERM during `fit` at the next batch or epoch edge.

    Keras 3.15 turns each step's logs into floats inside a bare `except:`
    (`pythonify_logs`), where the JAX backend waits for the step to finish: a
    KeyboardInterrupt raised there is lost and training goes on. Inside
    `armed()`, SIGINT and SIGTERM are only noted, and this callback raises
    them from its own code: KeyboardInterrupt, or `Terminated` (a
    KeyboardInterrupt) for SIGTERM. Put it first in the callbacks.
    Workaround for Keras 3.15; it can go once `pythonify_logs` catches only
    Exception.
    """

    def __init__(self):
        super().__init__()
        self._caught: list[int] = []

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """Note SIGINT and SIGTERM instead of raising them, for the block; the main thread only."""
        with _interrupts_noted(self._caught):
            yield
        self._raise_if_caught()

    def _raise_if_caught(self) -> None:
        _raise_noted(self._caught)

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self._raise_if_caught()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._raise_if_caught()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._raise_if_caught()


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` that saves to a hidden temporary `.keras` file, then renames it.

    An interrupted or failed save leaves the previous model in place, never a
    half-written one; a Ctrl-C during the save stops training once it is done
    (`interrupt_after`), and a full disk raises `WriteError`.
    """

    def __init__(self, filepath: str | Path, **kwargs):
        self.final_path = Path(filepath)
        partial = self.final_path.with_name(f".{self.final_path.stem}.partial.keras")
        super().__init__(str(partial), **kwargs)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        partial = Path(self.filepath)
        with interrupt_after():
            with written_as(self.final_path, partial):
                super().on_epoch_end(epoch, logs)
            if partial.exists():
                partial.replace(self.final_path)


class EpochBackup(keras.callbacks.Callback):
    """Saves the training state after every epoch, so that an interrupted fit can resume.

    Like Keras's `BackupAndRestore`, but a kill or a full disk at any moment
    leaves a consistent backup: the model (with the optimizer's state) goes to
    `epoch-N.keras` and the epoch logs to `state.json`, each under a temporary
    name, then renamed; `state.json`, written last, names the model file it
    belongs with, and the previous one is removed only after. A write that
    fails raises `WriteError` and leaves the previous backup as it was.
    Place it after the callbacks whose keys the logs should hold.

    The model is saved with `model.save` rather than `save_weights`: its
    `.keras` zip is written through Python, where a full disk is an OSError,
    while `save_weights` writes its HDF5 file from C, and HDF5 left with a
    failed write crashes the process at exit (seen with Keras 3.15 and h5py;
    `save_weights` can come back once a failed HDF5 write is a clean OSError).

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
        weights = self.folder / f"epoch-{epoch + 1}.keras"
        partial = self.folder / f".partial-{weights.name}"
        state = self.folder / self.STATE
        partial_state = self.folder / f".{self.STATE}.partial"
        with interrupt_after():  # a Ctrl-C here stops training once the backup is whole
            with written_as(weights, partial):
                self.model.save(partial, overwrite=True)
            partial.replace(weights)
            with written_as(state, partial_state):
                saved = {"weights": weights.name, "history": self.history}
                partial_state.write_text(json.dumps(saved))
            partial_state.replace(state)
        for old in self.folder.glob("epoch-*"):
            if old != weights:
                old.unlink()

    def restore(self, model: keras.Model) -> list[dict[str, float]]:
        """Load the last backup into a compiled `model`; return the epoch logs so far.

        Returns [] (and changes nothing) when the folder holds no backup. The
        number of completed epochs is the length of the returned list. Raises
        DataError when the backup's weights do not fit `model`.
        """
        saved = self._saved()
        if saved is None:
            return []
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        weights = self.folder / saved["weights"]
        with warnings.catch_warnings(record=True) as told:
            warnings.simplefilter("always")
            try:
                model.load_weights(weights)
                skipped = [w for w in told if "freshly-initialized" in str(w.message)]
                reason = str(skipped[0].message) if skipped else None
            except ValueError as e:  # another layout: other layers, or an older ncf-keras's
                reason = str(e)
        if reason is not None:  # a backup loaded in part would train from random weights
            raise DataError(
                f"{weights}: the backup does not fit this model "
                f"({reason.splitlines()[0].rstrip('.:')}); it was saved for another model or "
                "by another ncf-keras version: start the run afresh (--overwrite instead of "
                "--resume)"
            )
        for warning in told:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
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
