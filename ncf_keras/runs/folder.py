"""Run folders: `write_run` completes one; the readers load it back.

`ncf_keras.runs.train_run` trains a model and writes its run folder, which holds:

* `metrics.json`: {"model", "dataset", "config", "data", "files", "best",
  "final", "history"}; "data" is the fingerprint of the data trained on
  (`Dataset.fingerprint`), "files" the SHA-256 of `model.keras`; a pre-trained
  NeuMF run adds "start", its HR@10 and NDCG@10 before the first epoch;
* `model.keras`: the model of the best epoch by HR@10;
* `history.csv`: one row per epoch;
* `hit_rate.png`: HR@10 and the training loss per epoch;
* `ncf-keras-run.json`: the marker that lists these files with their SHA-256
  (`ncf_keras.runs.ownership`).

`train_run` writes the folder all at once (`ncf_keras.runs.atomic`). The readers
refuse a folder whose files do not belong together, or whose data have
changed since, and read the config of runs written before today's names
(`training.config.recorded_config`).
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from pathlib import Path

import keras

from ncf_keras.data.dataset import Dataset
from ncf_keras.data.download import file_digest
from ncf_keras.errors import DataError, written_as
from ncf_keras.models import FirstRowsMaxNorm
from ncf_keras.plots import plot_runs
from ncf_keras.runs import ownership
from ncf_keras.training.config import recorded_config
from ncf_keras.training.history import summarize


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
    model it was written with (same SHA-256). The config comes under today's
    names, also from runs written before them (`recorded_config`: "lr" is
    "learning_rate").
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
    metrics["config"] = recorded_config(metrics["config"])
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
