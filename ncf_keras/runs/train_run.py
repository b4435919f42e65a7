"""`train_run`: train one model and write its run folder (`ncf_keras.runs.folder`).

`train_run` is the one call behind `python -m ncf_keras train` and notebooks
02 and 03. (The quality benchmark calls `training.train`, the same training
without a run folder.) It writes the folder all at once
(`ncf_keras.runs.atomic`): it appears complete or not at all, an existing run
is replaced only when asked and only if ncf-keras wrote it, and an
interrupted run can be resumed, with the settings and data it started with.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import keras

from ncf_keras.data.dataset import Dataset
from ncf_keras.defaults import ALPHA, FACTORS, LAYERS
from ncf_keras.errors import ArgumentError, DataError
from ncf_keras.metrics import evaluate
from ncf_keras.models import build_model
from ncf_keras.runs.atomic import partial_path, writing
from ncf_keras.runs.folder import write_json, write_run
from ncf_keras.training import distribution as distribution_lib
from ncf_keras.training.config import TrainingConfig, recorded_config, with_settings
from ncf_keras.training.fit import backup_of, compile_model, train
from ncf_keras.training.pretraining import load_pretrained


def train_run(
    name: str,
    dataset: Dataset,
    out_dir: str | Path,
    config: TrainingConfig | None = None,
    *,
    model: keras.Model | None = None,
    pretrained: tuple[keras.Model, keras.Model] | None = None,
    alpha: float = ALPHA,
    factors: int = FACTORS,
    layers: Sequence[int] = LAYERS,
    l2: float = 0.0,
    source: str | None = None,
    timings: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
    extra_config: dict | None = None,
    overwrite: bool = False,
    resume: bool = False,
    tensorboard: str | Path | None = None,
    distribute: str | keras.distribution.Distribution | None = None,
    prefetch: bool = True,
    **settings,
) -> dict:
    """Train one model and write its whole run folder; return its metrics.json content.

    Args:
        name: the model, "gmf", "mlp", "neumf" or "mf".
        dataset: trained on; its test items are evaluated after every epoch.
        out_dir: the run folder to write.
        config: how to train (`TrainingConfig`, default `TrainingConfig()`).
            Its batch_size, optimizer and learning_rate, where None, are chosen
            from the data's size (`TrainingConfig.chosen_for`), as the CLI does:
            "adam" at 0.003 (the MLP at 0.01), batch 16,384 for an epoch of
            `LARGE_BATCH_ROWS` rows or more (ML-1M and up), else "adam" at
            0.003, batch 1,024; "lazy-adam" above `LAZY_ADAM_TABLES` users +
            items (JAX, TensorFlow); "sgd" at 0.001, batch 1,024, when
            `pretrained` is given. metrics.json's config records the values
            used, and under "auto" which were chosen.
        settings: `TrainingConfig` fields that replace the config's, e.g.
            `train_run("gmf", data, out, epochs=3, seed=1)`.
        model: a model built by hand (uncompiled) to train instead of
            `build_model(name, ...)`; `factors`, `layers` and `l2` must describe it.
        pretrained: (GMF model, MLP model) to initialise NeuMF from, fused with
            weight `alpha` (default 0.5).
        factors, layers, l2: passed to `build_model` (defaults 8, [64, 32, 16, 8], 0).
        source: how `sources.load_dataset` finds the dataset again, recorded
            for `evaluate` and `recommend` (default: `dataset.name`).
        timings: add sample_seconds, train_seconds and eval_seconds per epoch.
        callbacks: more Keras callbacks for `model.fit`.
        verbose: Keras's progress output.
        extra_config: more entries for the run's recorded config.
        overwrite: replace an existing run in `out_dir`, if ncf-keras wrote it and it is
            unchanged (default: refuse; see `ncf_keras.runs.atomic`).
        resume: continue the interrupted run of `out_dir` from its last
            completed epoch, if there is one; its settings must be these.
        tensorboard: a folder for TensorBoard logs, as in `training.train`.
        distribute: None (default): one device; "data": every batch split over
            all devices; "model": the embedding tables split over all devices;
            or a `keras.distribution.Distribution` (`distribution.make_distribution`).
            JAX backend only; the model is built and compiled under it, and
            metrics.json records config.devices.
        prefetch: draw each next epoch's negatives in the background, as in
            `training.train` (default True); the results are the same either way.

    Raises:
        DataError: `out_dir` holds a run and `overwrite` is False, another
            process is writing it, or `resume` meets other settings.
    """
    config, auto = with_settings(config, settings).chosen_for(
        dataset, keras.backend.backend(), fine_tuning=pretrained is not None, model=name
    )
    built, distribution = _compiled_model(
        name, dataset, config, model, pretrained, alpha, factors, layers, l2, distribute
    )
    source = source or dataset.name
    recorded = {
        "model": name,
        "dataset": source,
        **dataclasses.asdict(config),  # under the names of `TrainingConfig`
        "auto": auto,
        **_model_settings(name, factors, layers, l2, pretrained is not None, alpha),
        "devices": distribution_lib.device_count(distribution),
        **(extra_config or {}),
    }
    with writing(
        out_dir,
        overwrite=overwrite,
        resume=resume,
        resumable=lambda partial: backup_of(partial).completed_epochs() > 0,
    ) as partial:
        start_json = {"config": recorded, "data": dataset.fingerprint()}
        _check_same_start(partial / "start.json", start_json)
        # Where fine-tuning starts from, before `train` restores a backup to resume
        # from. (A model trained from scratch starts at chance: nothing to record.)
        start = evaluate(built, dataset) if pretrained is not None else None
        history = train(
            built,
            dataset,
            config,
            out_dir=partial,
            resume=resume,
            tensorboard=tensorboard,
            timings=timings,
            callbacks=callbacks,
            verbose=verbose,
            distribute=distribution,
            prefetch=prefetch,
            keep_backup=True,  # until the run is written: a full disk then can still resume
        )
        # The marker comes last, from `writing`, once the backup is gone: a kill before
        # then leaves a partial run to resume, never a "finished" one holding the backup.
        metrics = write_run(partial, name, source, recorded, history, dataset, start, marker=False)
        shutil.rmtree(backup_of(partial).folder)
        (partial / "start.json").unlink()
        return metrics


def _compiled_model(
    name: str,
    dataset: Dataset,
    config: TrainingConfig,
    model: keras.Model | None,
    pretrained: tuple[keras.Model, keras.Model] | None,
    alpha: float,
    factors: int,
    layers: Sequence[int],
    l2: float,
    distribute: str | keras.distribution.Distribution | None,
) -> tuple[keras.Model, keras.distribution.Distribution | None]:
    """(`model`, or the model `build_model` builds with `config.seed`, compiled; its distribution).

    Under `distribute`, the model is built and compiled inside the distribution's
    scope, where Keras places its variables; a pre-trained NeuMF is loaded
    before it is compiled. Args as in `train_run`.
    """
    if pretrained is not None and name != "neumf":
        raise ArgumentError("pretrained", f"initialises NeuMF only, not {name!r}")

    def build() -> keras.Model:
        if model is not None:
            return model
        keras.utils.set_random_seed(config.seed)
        return build_model(name, dataset.num_users, dataset.num_items, factors, layers, l2)

    distribution = distribute
    if isinstance(distribute, str):
        distribution = distribution_lib.make_distribution(distribute, build)
        distribution_lib.check_batch_size(config.batch_size, distribution)
    with distribution_lib.scope(distribution):  # Keras places variables where they are made
        built = build()
        if pretrained is not None:
            load_pretrained(built, *pretrained, alpha=alpha)
        compile_model(built, config.optimizer, config.learning_rate)
    return built, distribution


def _model_settings(
    name: str, factors: int, layers: Sequence[int], l2: float, pretrained: bool, alpha: float
) -> dict:
    """The model's settings as a run records them, beside its `TrainingConfig`."""
    return {
        "factors": layers[-1] if name == "mlp" else factors,  # an MLP's: its last layer
        "layers": list(layers),
        "l2": l2,
        "pretrained": pretrained,
        "alpha": alpha if pretrained else None,
    }


def resumable_epochs(out_dir: str | Path) -> int:
    """How many epochs an interrupted `train_run` into `out_dir` completed (0 if none)."""
    return backup_of(partial_path(Path(out_dir))).completed_epochs()


def _check_same_start(path: Path, start: dict) -> None:
    """Record what a run starts from; a resumed run must start from the same.

    A start.json written before `TrainingConfig` is read under today's names
    (`recorded_config`).
    """
    start = json.loads(json.dumps(start))  # as JSON has it: lists, not tuples
    if path.is_file():
        before = json.loads(path.read_text())
        before["config"] = recorded_config(before["config"])
        for part in ("config", "data"):
            for key in sorted(set(before[part]) | set(start[part])):
                then, now = before[part].get(key), start[part].get(key)
                if then != now:
                    raise DataError(
                        f"{path.parent}: the interrupted run had {part} {key} = {then!r}, "
                        f"not {now!r}; resume with its settings and data, or drop "
                        "--resume to start afresh"
                    )
    write_json(path, start)
