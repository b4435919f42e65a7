"""Run folders: what `train --out DIR` writes, and reading it back.

A run folder holds:

* `metrics.json`: {"model", "dataset", "config", "best", "final", "history"};
* `model.keras`: the model of the best epoch by HR@10;
* `history.csv`: one row per epoch;
* `hit_rate.png`: HR@10 per epoch.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import matplotlib.pyplot as plt

from ncf_keras import paper
from ncf_keras.errors import DataError
from ncf_keras.models import FirstRowsMaxNorm
from ncf_keras.plots import plot_hit_rate
from ncf_keras.training import summarize, write_json


def run_label(metrics: dict) -> str:
    """The run's label: "neumf-pretrained" for a pre-trained NeuMF run, else the model name."""
    return metrics["model"] + ("-pretrained" if metrics["config"].get("pretrained") else "")


def write_run(out: Path, model: str, dataset: str, config: dict, history: list[dict]) -> None:
    """Write metrics.json and hit_rate.png into a run folder."""
    metrics = {
        "model": model,
        "dataset": dataset,
        "config": config,
        **summarize(history),
        "history": history,
    }
    write_json(out / "metrics.json", metrics)
    plot_runs([metrics], out / "hit_rate.png")


REQUIRED = ("model", "dataset", "config", "history")
REQUIRED_CONFIG = ("seed", "factors")


def read_run(run: Path) -> dict:
    """A run folder's metrics.json, or a DataError that names what is missing."""
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
        raise DataError(f"{path}: lacks {', '.join(missing)}, which 'train' writes")
    return metrics


def load_run_model(run: Path, dataset: str | None = None) -> keras.Model:
    """The best model saved in a run folder; checks it was trained on `dataset`."""
    metrics = read_run(run)
    if dataset is not None and metrics["dataset"] != dataset:
        raise DataError(f"{run}: trained on dataset {metrics['dataset']!r}, not {dataset!r}")
    path = Path(run) / "model.keras"
    if not path.is_file():
        raise DataError(f"{run}: no model.keras")
    # NeuMF trained with l2 saves one custom object, its output layer's constraint.
    custom = {keras.saving.get_registered_name(FirstRowsMaxNorm): FirstRowsMaxNorm}
    try:
        return keras.saving.load_model(path, custom_objects=custom)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{path}: cannot load the model ({reason})") from None


def plot_runs(runs: list[dict], path: Path) -> None:
    """HR@10 curves of runs into one PNG, with the paper's values for the NCF split."""
    curves, references = {}, {}
    for metrics in runs:
        key = run_label(metrics)
        label = paper.LABELS.get(key, key)
        curves[label] = [row["hr@10"] for row in metrics["history"]]
        reported = paper.reported(key, metrics["config"]["factors"])
        if metrics["dataset"] == "ml-1m-ncf" and reported is not None:
            references[label] = reported[0]
    title = f"HR@10 per epoch on {runs[0]['dataset']}"
    plt.close(plot_hit_rate(curves, path, references, title))
