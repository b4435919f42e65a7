"""Run folders: `train_run` trains a model and writes one; the readers load it back.

`train_run` is the one call behind `python -m ncf_keras train` and notebooks
02 and 03. (The quality benchmark calls `training.train`, the same training
without a run folder.) A run folder holds:

* `metrics.json`: {"model", "dataset", "config", "data", "files", "best",
  "final", "history"}; "data" is the fingerprint of the data trained on
  (`Dataset.fingerprint`), "files" the SHA-256 of `model.keras`; a pre-trained
  NeuMF run adds "start", its HR@10 and NDCG@10 before the first epoch;
* `model.keras`: the model of the best epoch by HR@10;
* `history.csv`: one row per epoch;
* `hit_rate.png`: HR@10 and the training loss per epoch;
* `ncf-keras-run.json`: the marker that lists these files with their SHA-256
  (`ncf_keras.runs.ownership`).

`train_run` writes the folder all at once (`ncf_keras.runs.atomic`): it appears
complete or not at all, an existing run is replaced only when asked and only
if ncf-keras wrote it, and an interrupted run can be resumed. The readers
refuse a folder whose files do not belong together, or whose data have
changed since.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import keras

from ncf_keras.data.dataset import Dataset
from ncf_keras.data.download import file_digest
from ncf_keras.defaults import ALPHA, EPOCHS, FACTORS, LAYERS, NEGATIVES, training_defaults
from ncf_keras.errors import ArgumentError, DataError, written_as
from ncf_keras.metrics import evaluate
from ncf_keras.models import FirstRowsMaxNorm, build_model
from ncf_keras.plots import plot_runs
from ncf_keras.runs import ownership
from ncf_keras.runs.atomic import partial_path, writing
from ncf_keras.training import distribution as distribution_lib
from ncf_keras.training.fit import backup_of, compile_model, summarize, train
from ncf_keras.training.pretraining import load_pretrained


def train_run(
    name: str,
    dataset: Dataset,
    out_dir: str | Path,
    *,
    model: keras.Model | None = None,
    pretrained: tuple[keras.Model, keras.Model] | None = None,
    alpha: float = ALPHA,
    factors: int = FACTORS,
    layers: Sequence[int] = LAYERS,
    l2: float = 0.0,
    epochs: int = EPOCHS,
    batch_size: int | None = None,
    negatives: int = NEGATIVES,
    optimizer: str | None = None,
    learning_rate: float | None = None,
    seed: int = 0,
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
    sample_on: str = "host",
) -> dict:
    """Train one model and write its whole run folder; return its metrics.json content.

    Args:
        name: the model, "gmf", "mlp", "neumf" or "mf".
        dataset: trained on; its test items are evaluated after every epoch.
        out_dir: the run folder to write.
        model: a model built by hand (uncompiled) to train instead of
            `build_model(name, ...)`; `factors`, `layers` and `l2` must describe it.
        pretrained: (GMF model, MLP model) to initialise NeuMF from, fused with
            weight `alpha` (default 0.5); such a model is fine-tuned with SGD at
            0.001 by default, as in the paper.
        factors, layers, l2: passed to `build_model` (defaults 8, [64, 32, 16, 8], 0).
        epochs, negatives, seed: as in `training.train`.
        batch_size, optimizer, learning_rate: default (None): chosen from the
            data's size by `defaults.training_defaults`, as the CLI does: batch
            1,024 and "adam" at 0.003 up to `LARGE_TABLES` users + items (ML-1M),
            batch 16,384 at 0.003 above, with "lazy-adam" above `LAZY_ADAM_TABLES`
            (JAX, TensorFlow); "sgd" at 0.001, batch 1,024, when `pretrained` is
            given. The config records the values used, and under "auto" which
            were chosen.
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
        sample_on: where the negatives are drawn, "host" (default) or "device",
            as in `training.train`; "device" is recorded in the config.

    Raises:
        DataError: `out_dir` holds a run and `overwrite` is False, another
            process is writing it, or `resume` meets other settings.
    """
    if pretrained is not None and name != "neumf":
        raise ArgumentError("pretrained", f"initialises NeuMF only, not {name!r}")
    given = model

    def build() -> keras.Model:
        if given is not None:
            return given
        return build_model(name, dataset.num_users, dataset.num_items, factors, layers, l2)

    chosen, auto = training_defaults(
        dataset.num_users,
        dataset.num_items,
        len(dataset.train_users),
        keras.backend.backend(),
        negatives=negatives,
        sample_on=sample_on,
        fine_tuning=pretrained is not None,
        batch_size=batch_size,
        learning_rate=learning_rate,
        optimizer=optimizer,
    )
    batch_size, optimizer = chosen["batch_size"], chosen["optimizer"]
    learning_rate = chosen["learning_rate"]
    distribution = distribute
    if isinstance(distribute, str):
        distribution = distribution_lib.make_distribution(distribute, build)
        distribution_lib.check_batch_size(batch_size, distribution)
    with distribution_lib.scope(distribution):  # Keras places variables where they are made
        if model is None:
            keras.utils.set_random_seed(seed)
            model = build()
        if pretrained is not None:
            load_pretrained(model, *pretrained, alpha=alpha)
        compile_model(model, optimizer, learning_rate)
    source = source or dataset.name
    config = {
        "model": name,
        "dataset": source,
        "epochs": epochs,
        # an MLP's predictive factors are its last layer
        "factors": layers[-1] if name == "mlp" else factors,
        "layers": list(layers),
        "negatives": negatives,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "lr": learning_rate,
        "auto": [{"learning_rate": "lr"}.get(name, name) for name in auto],  # older runs lack it
        "l2": l2,
        "seed": seed,
        "pretrained": pretrained is not None,
        "alpha": alpha if pretrained is not None else None,
        "devices": distribution_lib.device_count(distribution),
        **({"sample_on": sample_on} if sample_on != "host" else {}),  # older runs lack it
        **(extra_config or {}),
    }
    with writing(
        out_dir,
        overwrite=overwrite,
        resume=resume,
        resumable=lambda partial: backup_of(partial).completed_epochs() > 0,
    ) as partial:
        _check_same_start(partial / "start.json", {"config": config, "data": dataset.fingerprint()})
        # Where fine-tuning starts from, before `train` restores a backup to resume
        # from. (A model trained from scratch starts at chance: nothing to record.)
        start = evaluate(model, dataset) if pretrained is not None else None
        history = train(
            model,
            dataset,
            epochs=epochs,
            batch_size=batch_size,
            negatives=negatives,
            seed=seed,
            out_dir=partial,
            resume=resume,
            tensorboard=tensorboard,
            timings=timings,
            callbacks=callbacks,
            verbose=verbose,
            distribute=distribution,
            prefetch=prefetch,
            sample_on=sample_on,
            keep_backup=True,  # until the run is written: a full disk then can still resume
        )
        # The marker comes last, from `writing`, once the backup is gone: a kill before
        # then leaves a partial run to resume, never a "finished" one holding the backup.
        metrics = write_run(partial, name, source, config, history, dataset, start, marker=False)
        shutil.rmtree(backup_of(partial).folder)
        (partial / "start.json").unlink()
        return metrics


def resumable_epochs(out_dir: str | Path) -> int:
    """How many epochs an interrupted `train_run` into `out_dir` completed (0 if none)."""
    return backup_of(partial_path(Path(out_dir))).completed_epochs()


def _check_same_start(path: Path, start: dict) -> None:
    """Record what a run starts from; a resumed run must start from the same."""
    start = json.loads(json.dumps(start))  # as JSON has it: lists, not tuples
    if path.is_file():
        before = json.loads(path.read_text())
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


def write_run(
    out: Path,
    model: str,
    source: str,
    config: dict,
    history: list[dict],
    dataset: Dataset,
    start: dict[str, float] | None = None,
    *,
    marker: bool = True,
) -> dict:
    """Complete a run folder that holds `model.keras`: metrics.json, hit_rate.png, the marker.

    Args:
        out: the run folder.
        model: the model's name, e.g. "gmf".
        source: the dataset's name or path, as `sources.load_dataset` takes it.
        config: the run's settings.
        history: one dict per epoch, as `training.train` returns.
        dataset: the data trained on; its fingerprint is recorded.
        start: the model's {"hr@10", "ndcg@10"} before the first epoch, recorded
            as "start" where given (`train_run` gives it for a pre-trained NeuMF).
        marker: write the `ncf-keras-run.json` marker listing the run's files
            (default True); `train_run` leaves it to `atomic.writing`.

    Returns: the metrics written.
    """
    metrics = {
        "model": model,
        "dataset": source,
        "config": config,
        "data": dataset.fingerprint(),
        "files": {"model.keras": file_digest(out / "model.keras", "sha256")},
        **summarize(history),
        **({"start": start} if start is not None else {}),
        "history": history,
    }
    write_json(out / "metrics.json", metrics)
    plot_runs([metrics], out / "hit_rate.png")
    if marker:  # what lets a later `train --overwrite` replace the run (`ncf_keras.runs.ownership`)
        ownership.write_marker(out, ownership.COMPLETE, RUN_FILES)
    return metrics


RUN_FILES = ("metrics.json", "model.keras", "history.csv", "hit_rate.png")  # a run's own files


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically: to a temporary file, then rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    with written_as(path, tmp):
        tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


REQUIRED = ("model", "dataset", "config", "data", "files", "history")
REQUIRED_CONFIG = ("seed", "factors")


def read_run(run: Path) -> dict:
    """A complete run folder's metrics.json, or a DataError that names what is wrong.

    Complete: metrics.json has what `write_run` writes, and `model.keras` is the
    model it was written with (same SHA-256).
    """
    path = Path(run) / "metrics.json"
    if not path.is_file():
        raise DataError(f"{run}: no metrics.json; is it a run folder written by 'train --out'?")
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("config"), dict):
        raise DataError(f"{path}: expected an object with a 'config' object, as 'train' writes")
    missing = [key for key in REQUIRED if key not in metrics]
    missing += [f"config.{key}" for key in REQUIRED_CONFIG if key not in metrics["config"]]
    if missing:
        raise DataError(
            f"{path}: lacks {', '.join(missing)}, which 'train' writes; train the run again"
        )
    model_path = Path(run) / "model.keras"
    if not model_path.is_file():
        raise DataError(f"{run}: no model.keras; the run is incomplete: train it again")
    if not zipfile.is_zipfile(model_path):
        raise DataError(
            f"{model_path}: not a complete .keras file ({model_path.stat().st_size:,} bytes; "
            "truncated or empty): train the run again"
        )
    if file_digest(model_path, "sha256") != metrics["files"].get("model.keras"):
        raise DataError(
            f"{model_path}: not the model metrics.json was written with (its SHA-256 "
            "differs): the folder mixes two runs; train it again"
        )
    return metrics


def check_data(run: Path, metrics: dict, dataset: Dataset) -> None:
    """A DataError unless `dataset` holds the data the run was trained on."""
    then, now = metrics["data"], dataset.fingerprint()
    if then != now:

        def sizes(data: dict) -> str:
            return (
                f"{data.get('users', '?'):,} users, {data.get('items', '?'):,} items, "
                f"{data.get('train_positives', '?'):,} training positives, "
                f"sha256 {str(data.get('sha256'))[:12]}"
            )

        raise DataError(
            f"{run}: trained on other data than {metrics['dataset']} holds now "
            f"(then {sizes(then)}; now {sizes(now)}); train again, or use the data it "
            "was trained on"
        )


def load_run_model(
    run: Path, dataset: Dataset | str | None = None, model: str | None = None
) -> keras.Model:
    """The best model saved in a complete run folder (see `read_run`).

    Args:
        run: the run folder.
        dataset: where given, the run must have been trained on it: a Dataset
            (its content is compared) or a dataset name.
        model: where given, the run must be of this model ("gmf", "mlp", ...).

    Raises DataError naming the mismatch.
    """
    metrics = read_run(run)
    if isinstance(dataset, Dataset):
        check_data(run, metrics, dataset)
    elif dataset is not None and metrics["dataset"] != dataset:
        raise DataError(f"{run}: trained on dataset {metrics['dataset']!r}, not {dataset!r}")
    if model is not None and metrics["model"] != model:
        raise DataError(f"{run}: holds a {metrics['model']!r} run, not a {model!r} one")
    path = Path(run) / "model.keras"
    # NeuMF trained with l2 saves one custom object, its output layer's constraint.
    custom = {keras.saving.get_registered_name(FirstRowsMaxNorm): FirstRowsMaxNorm}
    # Keras warns of each part it cannot load before it fails: only the failure is told.
    with warnings.catch_warnings(record=True) as told:
        try:  # safe_mode stays on: a config that would run code is refused
            loaded = keras.saving.load_model(path, custom_objects=custom, safe_mode=True)
        except Exception as e:  # TypeError, ValueError, KeyError, ... for a bad config
            raise DataError(
                f"{path}: cannot load the model ({_reason(e)}); train the run again"
            ) from None
    for warning in told:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return loaded


def _reason(error: Exception) -> str:
    """The first sentence of the innermost cause Keras gives ("Exception encountered: ...")."""
    text = str(error).rsplit("Exception encountered:", 1)[-1].strip()
    if not text:
        return type(error).__name__
    return re.split(r"(?<=\.)\s", text.splitlines()[0], maxsplit=1)[0].rstrip(".")[:300]
