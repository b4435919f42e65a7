"""One training configuration: the settings `train` and `train_run` take, checked once.

* `TrainingConfig`: the epochs, batch, optimizer, learning rate, negatives, seed,
  patience and where negatives are drawn, under the names of the Python API; a
  run folder's metrics.json records them under the same names.
* `training_defaults`: the batch size, learning rate and optimizer that follow
  the data's size, where not given.
* `recorded_config`: a run's recorded config under today's names, for runs
  written before (which said "lr").

Keras-free, so that the command line builds and checks its configuration
before it imports a backend.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ncf_keras.checks import check_at_least, check_choice, check_number
from ncf_keras.defaults import (
    BATCH_SIZE,
    EPOCHS,
    FINE_TUNE_LEARNING_RATE,
    LARGE_BATCH_LEARNING_RATES,
    LARGE_BATCH_ROWS,
    LAZY_ADAM_BACKENDS,
    LAZY_ADAM_TABLES,
    LEARNING_RATE,
    NEGATIVES,
    OPTIMIZER_NAMES,
    RECIPES,
    SAMPLE_ON,
)

if TYPE_CHECKING:
    from ncf_keras.data.dataset import Dataset

CHOSEN_BY_SIZE = ("batch_size", "learning_rate", "optimizer")  # None: `training_defaults`


@dataclass(frozen=True)
class TrainingConfig:
    """How a model is trained; every value is checked when the config is made.

    Args:
        epochs: the most epochs to train (default 20).
        batch_size: rows per batch (default None: chosen from the data's size
            by `training_defaults`: 16,384 for an epoch of ML-1M's size and up,
            else 1,024).
        learning_rate: the optimizer's rate (default None: chosen, 0.003 for
            Adam, the MLP's 0.01 at batch 16,384; 0.001 for SGD fine-tuning
            pre-trained NeuMF).
        optimizer: "adam", "lazy-adam", "sgd", "adagrad" or "rmsprop" (default
            None: chosen, "adam" up to `LAZY_ADAM_TABLES` embedding rows).
        negatives: sampled negatives per positive, redrawn every epoch (default 4).
        seed: seeds the negatives and the shuffle, epoch by epoch (default 0).
        patience: stop after this many epochs without a better best-epoch
            metric, and restore the best epoch's weights (default None: never stop).
        sample_on: where negatives are drawn, "host" (default) or "device"
            (inside the compiled step, `ncf_keras.training.device_sampling`).

    Raises:
        ArgumentError: naming the first bad setting, e.g. "epochs must be >= 1, got 0".
    """

    epochs: int = EPOCHS
    batch_size: int | None = None
    learning_rate: float | None = None
    optimizer: str | None = None
    negatives: int = NEGATIVES
    seed: int = 0
    patience: int | None = None
    sample_on: str = "host"

    def __post_init__(self) -> None:
        check_at_least("epochs", self.epochs, 1)
        if self.batch_size is not None:
            check_at_least("batch_size", self.batch_size, 1)
        if self.learning_rate is not None:
            check_number("learning_rate", self.learning_rate, 0, strict=True)
        if self.optimizer is not None:
            check_choice("optimizer", self.optimizer, OPTIMIZER_NAMES)
        check_at_least("negatives", self.negatives, 1)
        check_at_least("seed", self.seed, 0)
        if self.patience is not None:
            check_at_least("patience", self.patience, 1)
        check_choice("sample_on", self.sample_on, SAMPLE_ON)

    def chosen_for(
        self,
        dataset: Dataset,
        backend: str,
        fine_tuning: bool = False,
        model: str | None = None,
    ) -> tuple[TrainingConfig, list[str]]:
        """This config with its None settings chosen for `dataset`'s size (`training_defaults`).

        Args:
            dataset: the data to train on: its users, items and training positives.
            backend, fine_tuning, model: as in `training_defaults`.

        Returns: (the config with every setting given, the names of those chosen
        here, in the order of `CHOSEN_BY_SIZE`).
        """
        given = {name: getattr(self, name) for name in CHOSEN_BY_SIZE}
        chosen, auto = training_defaults(
            dataset.num_users,
            dataset.num_items,
            len(dataset.train_users),
            backend,
            negatives=self.negatives,
            sample_on=self.sample_on,
            fine_tuning=fine_tuning,
            model=model,
            **given,
        )
        return dataclasses.replace(self, **chosen), auto


def with_settings(config: TrainingConfig | None, settings: dict) -> TrainingConfig:
    """`config` (default `TrainingConfig()`) with the keyword `settings` put in.

    The keyword form of `train(..., epochs=3)` and `train_run(..., epochs=3)`.
    """
    return dataclasses.replace(config or TrainingConfig(), **settings)


def recorded_config(config: dict) -> dict:
    """A run's recorded config under today's names; a run written today is unchanged.

    Runs written before `TrainingConfig` recorded the learning rate as "lr" (in
    "auto" too), and lacked "sample_on" where it was "host" and "patience"
    (never set by `train_run` then). Every reader of metrics.json and of a
    partial run's start.json goes through this.
    """
    config = dict(config)
    if "lr" in config:
        config.setdefault("learning_rate", config.pop("lr"))
    if isinstance(config.get("auto"), list):
        config["auto"] = ["learning_rate" if name == "lr" else name for name in config["auto"]]
    config.setdefault("sample_on", "host")
    config.setdefault("patience", None)
    return config


def training_defaults(
    users: int,
    items: int,
    positives: int,
    backend: str,
    *,
    negatives: int = NEGATIVES,
    sample_on: str = "host",
    fine_tuning: bool = False,
    model: str | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    optimizer: str | None = None,
) -> tuple[dict[str, int | float | str], list[str]]:
    """The batch size, learning rate and optimizer for data of this size, where not given.

    An epoch of at least `LARGE_BATCH_ROWS` training rows (ML-1M's 4.97M and
    up) takes the large-batch recipe, batch 16,384 at lr 0.003 (the MLP at
    0.01, `LARGE_BATCH_LEARNING_RATES`): Keras's Adam updates whole embedding
    tables at every step, so fewer, larger steps cost less, and on ml-1m-ncf
    it scores level with batch 1,024 over 3 seeds (benchmarks/README.md). A
    smaller epoch keeps batch 1,024 and Adam at 0.003. Above `LAZY_ADAM_TABLES`
    embedding rows: lazy Adam, where it runs (JAX or TensorFlow, negatives
    drawn on the host). Fine-tuning pre-trained NeuMF keeps the paper's SGD at
    0.001, batch 1,024.

    Args:
        users, items: the embedding tables' rows.
        positives: training positives; an epoch has positives x (1 + negatives) rows.
        backend: the Keras backend, "tensorflow", "jax" or "torch".
        negatives: sampled negatives per positive (default 4).
        sample_on: where negatives are drawn, "host" (default) or "device".
        fine_tuning: pre-trained NeuMF (default False).
        model: "gmf", "mlp", "neumf" or "mf", where its learning rate at the
            large batch differs (default None: the recipe's).
        batch_size, learning_rate, optimizer: the user's own settings (default
            None: choose); a given one is kept as it is.

    Returns: ({"batch_size", "learning_rate", "optimizer"}, the names of those
    chosen here, in that order).
    """
    given = {"batch_size": batch_size, "learning_rate": learning_rate, "optimizer": optimizer}
    tables = users + items
    large = positives * (1 + negatives) >= LARGE_BATCH_ROWS
    lazy = tables > LAZY_ADAM_TABLES and backend in LAZY_ADAM_BACKENDS and sample_on == "host"
    chosen = {
        "batch_size": RECIPES["large-batch"]["batch_size"] if large else BATCH_SIZE,
        "learning_rate": large_batch_learning_rate(model) if large else LEARNING_RATE,
        "optimizer": "lazy-adam" if lazy else "adam",
    }
    if fine_tuning:
        chosen = {"batch_size": BATCH_SIZE, "learning_rate": FINE_TUNE_LEARNING_RATE}
        chosen["optimizer"] = "sgd"
    auto = [name for name, value in given.items() if value is None]
    return {name: chosen[name] if value is None else value for name, value in given.items()}, auto


def large_batch_learning_rate(model: str | None) -> float:
    """Adam's learning rate at the large batch for `model`: the recipe's, unless it differs."""
    return LARGE_BATCH_LEARNING_RATES.get(model, RECIPES["large-batch"]["learning_rate"])
