"""Neural Collaborative Filtering (He et al., WWW 2017) in Keras 3.

    import ncf_keras as ncf

    data = ncf.load_dataset("ml-1m-ncf")
    model = ncf.compile_model(ncf.build_model("neumf", data.num_users, data.num_items))
    history = ncf.train(model, data, epochs=20)

Every name in `__all__` is offered here and imported on first use (PEP 562), so
`import ncf_keras` loads no backend and touches no file descriptor: the CLI can
answer `--help` before Keras starts. The package's folders, each a layer that
imports only the layers above it in this list:

* foundation (`errors`, `checks`, `defaults`, `digests`, `paper_results`,
  `keras_startup`): Keras-free names, defaults, checks and errors.
* `data/`: datasets from a name, a synthetic spec or your own file; the
  `Dataset` form; negative sampling.
* `layers`, `models`, `metrics`, `baselines`, `recommendations`, `plots`,
  `diagrams`: the models, the layer they add to Keras's (`PairDense`), and what
  ranks, scores and draws them.
* `training/`: `compile_model`, `train` and what they use: batches, callbacks,
  lazy Adam, sampling on the device, many devices, pre-training.
* `runs/`: the run folders `train_run` writes, kept whole, and reading them back.
* `notebook`: helpers the notebooks use to show and check their work.
* `cli/`: `ncf-keras` and `python -m ncf_keras`.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    # data
    "Dataset": "ncf_keras.data.dataset",
    "load_dataset": "ncf_keras.data.sources",
    "validation_split": "ncf_keras.data.dataset",
    "training_instances": "ncf_keras.data.sampling",
    # models
    "build_model": "ncf_keras.models",
    "PairDense": "ncf_keras.layers",
    # training
    "TrainingConfig": "ncf_keras.training.config",
    "compile_model": "ncf_keras.training.fit",
    "train": "ncf_keras.training.fit",
    "epoch_history": "ncf_keras.training.history",
    "TrainingSamples": "ncf_keras.training.batches",
    "HistoryCSV": "ncf_keras.training.callbacks",
    "RankingEvaluation": "ncf_keras.training.callbacks",
    "load_pretrained": "ncf_keras.training.pretraining",
    # runs
    "train_run": "ncf_keras.runs.train_run",
    "write_run": "ncf_keras.runs.folder",
    "read_run": "ncf_keras.runs.folder",
    "load_run_model": "ncf_keras.runs.folder",
    # ranking, baselines and recommendations
    "hit_rate": "ncf_keras.metrics",
    "ndcg": "ncf_keras.metrics",
    "rank_among": "ncf_keras.metrics",
    "sampled_ranks": "ncf_keras.metrics",
    "full_ranks": "ncf_keras.metrics",
    "evaluate": "ncf_keras.metrics",
    "ItemPop": "ncf_keras.baselines",
    "IALS": "ncf_keras.baselines",
    "choose_ials": "ncf_keras.baselines",
    "recommend": "ncf_keras.recommendations",
    # pictures
    "plot_hit_rate": "ncf_keras.plots",
    "plot_runs": "ncf_keras.plots",
    "run_label": "ncf_keras.plots",
    "draw_model": "ncf_keras.diagrams",
    # notebooks
    "import_keras_quietly": "ncf_keras.keras_startup",
    "check_same_model": "ncf_keras.notebook",
    "show_user": "ncf_keras.notebook",
    "load_or_train": "ncf_keras.notebook",
    # errors
    "NcfError": "ncf_keras.errors",
    "DataError": "ncf_keras.errors",
    "ArgumentError": "ncf_keras.errors",
}
# Modules offered as attributes too: `ncf.models.gmf`, `ncf.paper_results.reported`.
_MODULES = ("models", "metrics", "paper_results", "data", "training", "runs")

__all__ = ["__version__", *_EXPORTS, *_MODULES]


def __getattr__(name: str):
    """Import a public name's module on first use, and keep the name here."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
