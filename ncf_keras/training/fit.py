"""Training with `model.fit`: fresh negatives every epoch, ranking metrics every epoch.

* `TrainingSamples` (`ncf_keras.training.batches`) is a `keras.utils.PyDataset` that
  redraws the negatives at the start of each epoch, seeded by (seed, epoch).
* `compile_model` compiles for the log loss, on any Keras backend.
* `train` fits with the callbacks of `ncf_keras.training.callbacks`: HR@K and NDCG@K
  after every epoch, optionally a validation hold-out that chooses the best
  epoch, timings, TensorBoard logs, and, given a folder, the history, the best
  model and a backup to resume from; on one device or, with `distribute`, on
  many (`ncf_keras.training.distribution`).
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from pathlib import Path

import keras

from ncf_keras.checks import check_choice, check_number
from ncf_keras.data.dataset import Dataset
from ncf_keras.defaults import ADAM_BETAS, LAZY_ADAM_BACKENDS, LEARNING_RATE, OPTIMIZER_NAMES
from ncf_keras.errors import ArgumentError
from ncf_keras.training import device_sampling, lazy_adam, network_view, tf_input
from ncf_keras.training import distribution as distribution_lib
from ncf_keras.training.batches import TrainingSamples
from ncf_keras.training.callbacks import (
    AtomicModelCheckpoint,
    EpochBackup,
    EpochTimes,
    HistoryCSV,
    InterruptAtBoundaries,
    RankingEvaluation,
    StepProgbar,
)
from ncf_keras.training.config import TrainingConfig, with_settings
from ncf_keras.training.history import epoch_history, rewrite_history_csv
from ncf_keras.training.network_view import compiled_like

STEPS_PER_EXECUTION = 32  # batches per compiled call: less Python overhead per batch
OPTIMIZERS = {  # defaults.OPTIMIZER_NAMES -> the Keras optimizer
    "adam": keras.optimizers.Adam,
    "lazy-adam": lazy_adam.LazyAdam,
    "sgd": keras.optimizers.SGD,
    "adagrad": keras.optimizers.Adagrad,
    "rmsprop": keras.optimizers.RMSprop,
}


def compile_model(
    model: keras.Model,
    optimizer: str = "adam",
    learning_rate: float = LEARNING_RATE,
    jit_compile: bool | str = "xla",
    betas: tuple[float, float] = ADAM_BETAS,
) -> keras.Model:
    """Compile `model` for binary cross-entropy (the paper's log loss, eq. 7); returns the
    model to fit: `model`, or with "lazy-adam" a `lazy_adam.LazyAdamModel` of it, or on
    JAX a `NetworkView` of it that scans each call's steps (`scanned_steps`); the
    same layers and weights either way, saved as `model`. `train` accepts either.

    Args:
        model: a model of `ncf_keras.models`, or one built the same way.
        optimizer: "adam" (default), "lazy-adam" (JAX and TensorFlow: updates
            only the embedding rows each batch looks up, `ncf_keras.training.lazy_adam`),
            "sgd", "adagrad" or "rmsprop".
        learning_rate: default 0.003, for batches of 1,024 and 16,384 (the
            sizes `training_defaults` chooses): the paper used 0.001 with
            batches of 256.
        betas: Adam's (beta_1, beta_2), default Keras's (0.9, 0.999); only
            "adam" has them.
        jit_compile: "xla" (default) compiles with XLA on TensorFlow and JAX,
            where it runs NCF several times faster on a CPU, and not on
            PyTorch. True, False and "auto" are passed to Keras as they are
            (Keras's own "auto" leaves XLA off for TensorFlow on a CPU).

    Several batches run per compiled call (`steps_per_execution`), except on
    PyTorch, whose trainer runs one.
    """
    check_choice("optimizer", optimizer, OPTIMIZER_NAMES)
    check_number("learning_rate", learning_rate, 0, strict=True)
    settings = {}
    if tuple(betas) != ADAM_BETAS:
        if optimizer not in ("adam", "lazy-adam"):
            raise ArgumentError("betas", f"are Adam's; the {optimizer} optimizer has none")
        for beta in betas:
            check_number("betas", beta, 0)
            if beta >= 1:
                raise ArgumentError("betas", f"must each be in [0, 1), got {beta}")
        settings = {"beta_1": betas[0], "beta_2": betas[1]}
    backend = keras.backend.backend()
    if optimizer == "lazy-adam" and backend not in LAZY_ADAM_BACKENDS:
        raise ArgumentError(
            "optimizer", f"lazy-adam needs KERAS_BACKEND=jax or tensorflow, not {backend}"
        )
    if jit_compile not in (True, False, "auto", "xla"):
        raise ArgumentError(
            "jit_compile", f'must be "xla", "auto", True or False, got {jit_compile!r}'
        )
    if jit_compile == "xla":
        jit_compile = backend in ("tensorflow", "jax")
    model.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate, **settings),
        loss="binary_crossentropy",
        jit_compile=jit_compile,
        steps_per_execution=1 if backend == "torch" else STEPS_PER_EXECUTION,
    )
    # The model whose fit takes the steps: lazy Adam's, or on JAX the steps scanned.
    return network_view.fitting(lazy_adam.fitting(model))


def train(
    model: keras.Model,
    dataset: Dataset,
    config: TrainingConfig | None = None,
    *,
    validation: Dataset | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    tensorboard: str | Path | None = None,
    timings: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    k: int = 10,
    verbose: int | str = "auto",
    distribute: str | keras.distribution.Distribution | None = None,
    prefetch: bool = True,
    keep_backup: bool = False,
    **settings,
) -> list[dict[str, float]]:
    """Fit a compiled model, evaluating HR@k and NDCG@k on the test items after every epoch.

    Args:
        model: a compiled model (`compile_model`): its optimizer and learning
            rate are those it was compiled with, not the config's.
        dataset: trained on, and its test items evaluated every epoch.
        config: the epochs, batch size, negatives, seed, patience and
            `sample_on` (`TrainingConfig`; default `TrainingConfig()`: 20
            epochs, the batch size chosen from the data's size, 4 negatives,
            seed 0, no early stop, negatives drawn on the host).
        settings: `TrainingConfig` fields that replace the config's, e.g.
            `train(model, data, epochs=3)`.
        validation: a `validation_split(dataset)`. Training then uses its
            positives, which leave out each user's validation item, and the best
            epoch is the one with the best validation HR@k: the test items never
            choose anything.
        out_dir: a folder for `history.csv`, `model.keras` (the model of the
            best epoch) and `backup/`, the state after the last completed
            epoch, removed when the fit ends.
        resume: continue from the backup in `out_dir` where there is one: the
            weights, the optimizer's state, the epoch logs and the next
            epoch's negatives are those an uninterrupted fit would have.
        tensorboard: a folder for TensorBoard logs (Keras's `TensorBoard`
            callback): loss, HR@k and NDCG@k per epoch. Needs the tensorflow
            and tensorboard packages, on any backend.
        timings: add `EpochTimes` (sample_seconds, train_seconds, eval_seconds).
        callbacks: more Keras callbacks, run after these.
        k: the cut-off of HR@k and NDCG@k (default 10).
        verbose: Keras's progress output.
        distribute: None (default) trains on one device; "data" splits every
            batch over all devices (`distribution.data_parallel`); or a
            `keras.distribution.Distribution` (`distribution.make_distribution`),
            under whose `scope()` the model must have been built and compiled.
            JAX backend only. The batch size is the global batch: the devices
            must divide it.
        prefetch: draw each next epoch's negatives in the background while
            the model fits (default True; `TrainingSamples`).
        keep_backup: leave `backup/` in `out_dir` when the fit ends (default
            False: removed). `train_run` removes it itself once the rest of its
            run folder is written, so a failure in between (a full disk) can
            still be resumed.

    With `sample_on="device"` the negatives are drawn inside the compiled step
    (`ncf_keras.training.device_sampling`): each batch then holds batch_size //
    (1 + negatives) positives (rounded down to a multiple of the devices), each
    with its own negatives. Not yet with lazy Adam.

    Returns:
        One dict per epoch: "epoch" (1-based), "loss", "hr@k", "ndcg@k", then
        "val_hr@k" and "val_ndcg@k" with `validation`, and the timings.
    """
    config, _ = with_settings(config, settings).chosen_for(dataset, keras.backend.backend())
    _check_fit(dataset, config, validation, out_dir, resume, tensorboard)
    distribution = _distribution(model, distribute, config.batch_size)
    backup = None if out_dir is None else backup_of(out_dir)
    done = _restored(model, backup, resume, distribution)
    fitted, samples = _sample_source(
        model, validation or dataset, config, len(done), distribution, prefetch
    )
    evaluations = [RankingEvaluation(dataset, k)]
    if validation is not None:
        evaluations.insert(0, RankingEvaluation(validation, k, prefix="val_"))
    interrupt = InterruptAtBoundaries()
    chain = _callback_chain(
        [interrupt, *evaluations],
        monitor=f"val_hr@{k}" if validation is not None else f"hr@{k}",
        distribution=distribution,
        timings=EpochTimes(samples, evaluations) if timings else None,
        patience=config.patience,
        tensorboard=tensorboard,
        backup=backup,
        done=done,
    )
    fed, feeding = tf_input.fit_input(samples)
    chain = _on_fitted(fitted, [*chain, *feeding, *callbacks], config.seed)
    try:
        if len(done) < config.epochs:
            with distribution_lib.scope(distribution), interrupt.armed():
                history = fitted.fit(
                    fed,
                    epochs=config.epochs,
                    initial_epoch=len(done),
                    callbacks=chain,
                    verbose=verbose,
                    shuffle=False,  # the samples are shuffled by the seed; Keras uses `random`
                )
            done += epoch_history(history)
    finally:
        samples.close()  # no background draw outlives the fit
    if backup is not None and not keep_backup:
        shutil.rmtree(backup.folder, ignore_errors=True)
    return done


def _check_fit(
    dataset: Dataset,
    config: TrainingConfig,
    validation: Dataset | None,
    out_dir: str | Path | None,
    resume: bool,
    tensorboard: str | Path | None,
) -> None:
    """Refuse what `train` cannot do with these arguments, before anything runs."""
    if validation is not None and (validation.num_users, validation.num_items) != (
        dataset.num_users,
        dataset.num_items,
    ):
        raise ArgumentError("validation", "must be a validation_split of the dataset")
    if resume and (out_dir is None or config.patience is not None):
        raise ArgumentError("resume", "needs out_dir, and cannot be combined with patience")
    if tensorboard is not None and None in map(
        importlib.util.find_spec, ("tensorflow", "tensorboard")
    ):
        raise ArgumentError(
            "tensorboard",
            "needs TensorFlow and TensorBoard to write its logs: "
            "pip install tensorflow tensorboard",
        )


def _distribution(
    model: keras.Model,
    distribute: str | keras.distribution.Distribution | None,
    batch_size: int,
) -> keras.distribution.Distribution | None:
    """The `Distribution` that `train(distribute=)` names, checked against the model and batch."""
    distribution = distribute
    if isinstance(distribute, str):  # the model was built: its tables are known
        distribution = distribution_lib.make_distribution(distribute, lambda: model)
    if distribution is not None:
        distribution_lib.check_backend()
        distribution_lib.check_batch_size(batch_size, distribution)
        distribution_lib.check_model(model, distribution)
    return distribution


def _restored(
    model: keras.Model,
    backup: EpochBackup | None,
    resume: bool,
    distribution: keras.distribution.Distribution | None,
) -> list[dict[str, float]]:
    """The epochs a resumed fit has already completed, restored into `model` (none if not resuming).

    Makes the backup's folder; on resume, the weights and optimizer state come
    back from it and history.csv is cut back to the epochs it holds.
    """
    if backup is None:
        return []
    backup.folder.parent.mkdir(parents=True, exist_ok=True)
    if not resume:
        return []
    with distribution_lib.scope(distribution):  # the optimizer's state on the devices
        done = backup.restore(model)
    rewrite_history_csv(backup.folder.parent / "history.csv", done)
    return done


def _sample_source(
    model: keras.Model,
    trained_on: Dataset,
    config: TrainingConfig,
    initial_epoch: int,
    distribution: keras.distribution.Distribution | None,
    prefetch: bool,
) -> tuple[keras.Model, TrainingSamples | device_sampling.PositiveBatches]:
    """(the model to fit, its batches), the negatives drawn where `config.sample_on` says.

    On the host, `model` itself fits `TrainingSamples`; on the device, a model
    that draws the negatives inside the step (`_with_negatives`) fits batches of
    positives. Both take the same settings and resume at `initial_epoch`.
    """
    batches = (trained_on, config.negatives, config.batch_size, config.seed, initial_epoch)
    devices = {
        "multiple_of": distribution_lib.replicas(distribution),
        "shard": distribution_lib.data_shard(distribution),
    }
    if config.sample_on == "host":
        with distribution_lib.scope(distribution):  # its loss tracker on the devices
            # lazy Adam's steps, else `model`'s, scanned on JAX (`scanned_steps`)
            fitted = network_view.fitting(lazy_adam.fitting(model))
        samples = TrainingSamples(*batches, **devices, prefetch=prefetch, epochs=config.epochs)
        return fitted, samples
    if isinstance(model.optimizer, lazy_adam.LazyAdam):
        raise ArgumentError("sample_on", "device does not yet work with lazy-adam; use host")
    with distribution_lib.scope(distribution):  # its tables replicated on every device
        fitted = _with_negatives(model, trained_on, config.negatives, config.seed)
    return fitted, device_sampling.PositiveBatches(*batches, **devices)


def _callback_chain(
    chain: list[keras.callbacks.Callback],
    *,
    monitor: str,
    distribution: keras.distribution.Distribution | None,
    timings: EpochTimes | None,
    patience: int | None,
    tensorboard: str | Path | None,
    backup: EpochBackup | None,
    done: list[dict[str, float]],
) -> list[keras.callbacks.Callback]:
    """`train`'s callbacks, in the order they must run at each epoch's end.

    1. `chain` as given: the `InterruptAtBoundaries` first, so that a Ctrl-C
       stops before the others run, then the `RankingEvaluation`s, which
       add the HR@k and NDCG@k that all the later callbacks read (run outside
       the devices' mesh when distributed);
    2. `timings`, after the evaluations it times and before the callbacks that
       record its keys;
    3. `StepProgbar`, after the callbacks whose keys the epoch line shows;
    4. `EarlyStopping` on `monitor` where `patience` is given;
    5. TensorBoard;
    6. with a `backup`: `HistoryCSV`, the best model (`AtomicModelCheckpoint`,
       whose best so far is that of the `done` epochs), and the backup last, so
       that a backed-up epoch has its row and its model written.
    """
    interrupt, *evaluations = chain
    if distribution is not None:
        evaluations = distribution_lib.outside(distribution, evaluations)
    chain = [interrupt, *evaluations]
    if timings is not None:
        chain.append(timings)
    chain.append(StepProgbar())
    if patience is not None:
        chain.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, mode="max", patience=patience, restore_best_weights=True
            )
        )
    if tensorboard is not None:
        chain.append(keras.callbacks.TensorBoard(str(tensorboard), write_graph=False))
    if backup is not None:
        out = backup.folder.parent
        chain += [
            HistoryCSV(str(out / "history.csv"), append=bool(done)),
            AtomicModelCheckpoint(
                out / "model.keras",
                monitor=monitor,
                mode="max",
                save_best_only=True,
                initial_value_threshold=max((row[monitor] for row in done), default=None),
            ),
            backup,
        ]
    return chain


def _on_fitted(
    fitted: keras.Model, chain: list[keras.callbacks.Callback], seed: int
) -> list[keras.callbacks.Callback]:
    """`chain` for fitting `fitted` (`_sample_source`): where it draws negatives in the
    step, `DrawSeeds` first, so that the device's draws are keyed by epoch."""
    if isinstance(fitted, device_sampling.NegativeDrawing):
        return [device_sampling.DrawSeeds(fitted.draw, seed), *chain]
    return chain


def _with_negatives(model: keras.Model, dataset: Dataset, negatives: int, seed: int) -> keras.Model:
    """`device_sampling.NegativeDrawing(model)`, compiled as `model` is, with its optimizer."""
    fitted = device_sampling.NegativeDrawing(model, dataset.unseen_in_train, negatives, seed)
    return compiled_like(fitted, model)


def backup_of(out_dir: str | Path) -> EpochBackup:
    """The `EpochBackup` that `train` keeps in `out_dir`: its `backup/` folder."""
    return EpochBackup(Path(out_dir) / "backup")
