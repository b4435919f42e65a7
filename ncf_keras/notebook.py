"""Helpers the notebooks use to check and show their work; the lessons are in the notebooks.

* `check_same_model`: a model built by hand in a notebook is the package's, weight for weight.
* `show_user`: where one user's held-out item lands, beside the top-10 list.
* `load_or_train`: the run an earlier notebook saved, where it matches, else a new one.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ncf_keras.data.dataset import Dataset
from ncf_keras.defaults import LEARNING_RATE
from ncf_keras.errors import DataError
from ncf_keras.models import named_weights
from ncf_keras.recommendations import recommend
from ncf_keras.runs.folder import load_run_model, read_run
from ncf_keras.runs.train_run import train_run

# The settings a run's config records under the same name as train_run's argument.
_COMPARED = ("factors", "layers", "l2", "epochs", "batch_size", "negatives", "optimizer", "seed")
_WITHOUT_TOWER = ("gmf", "mf")  # models whose run need not record the MLP `layers`


def check_same_model(
    built: keras.Model, packaged: keras.Model, num_users: int, num_items: int, seed: int = 0
) -> list[str]:
    """Check that a model built by hand in a notebook is `packaged`, a builder's model.

    Both must have the same weights, each named by its layer and its own name
    ("mlp_user_embedding/embeddings", "mlp_layer1/kernel", ...), with the same
    shapes: the package's MLP holds its embeddings inside its first layer
    (`PairDense`), a hand-built one beside it. `built`'s weights are then copied
    into `packaged`, and both must give the same scores on 1,000 random (user,
    item) pairs, to 1e-5 (`PairDense` may sum in another order). Returns
    `built`'s layer names; raises AssertionError where the models differ.
    """

    def shapes(weights: dict[str, keras.Variable]) -> dict[str, tuple]:
        return {name: tuple(weight.shape) for name, weight in weights.items()}

    mine, theirs = named_weights(built), named_weights(packaged)
    if shapes(mine) != shapes(theirs):
        raise AssertionError(f"weights and shapes differ: {shapes(mine)} != {shapes(theirs)}")
    for name, variable in mine.items():
        theirs[name].assign(keras.ops.convert_to_numpy(variable))
    rng = np.random.default_rng(seed)
    pairs = {
        "user": rng.integers(num_users, size=1000, dtype=np.int32),
        "item": rng.integers(num_items, size=1000, dtype=np.int32),
    }
    np.testing.assert_allclose(
        packaged.predict(pairs, verbose=0), built.predict(pairs, verbose=0), rtol=1e-5
    )
    return [layer.name for layer in built.layers]


def show_user(model: keras.Model, dataset: Dataset, user: int, ranks: np.ndarray) -> pd.DataFrame:
    """Print where the user's held-out item lands; return the top 10 beside 10 training items.

    `ranks`: shape (num_users,), each user's 0-based sampled rank
    (`metrics.sampled_ranks`), for the hit-or-miss line.
    """
    ranked = recommend(model, dataset, user, top=dataset.num_items)  # every unseen item
    test_item = dataset.test_items[user]
    position = int(np.flatnonzero(ranked == test_item)[0]) + 1
    print(f"user {dataset.user_labels[user]}: {len(dataset.history(user))} training items")
    print(f"held-out item: {dataset.title(test_item)}")
    print(f"  position {position} of {len(ranked):,} unseen items by the model's score")
    outcome = "a hit" if ranks[user] < 10 else "a miss"
    print(f"  rank {ranks[user] + 1} of 100 in the sampled test: {outcome}")
    columns = {
        "top-10 recommendations": ranked[:10],
        "10 of the training items": dataset.history(user)[:10],
    }
    return pd.DataFrame(  # a column with fewer than 10 items ends in NaN
        {
            name: pd.Series([dataset.title(i) for i in items], index=range(1, len(items) + 1))
            for name, items in columns.items()
        }
    )


def load_or_train(name: str, dataset: Dataset, run: Path, **training) -> tuple[dict, keras.Model]:
    """The run folder `run` if it holds `name` trained on `dataset` with `training`, else a new one.

    Notebooks reuse the runs that earlier notebooks saved, but only a complete
    run (`runs.read_run`) of the same data (its fingerprint, not just its name)
    and the same settings (`layers` only for models with an MLP tower).
    Otherwise `runs.train_run(name, dataset, run,
    **training)` trains it anew; pass `overwrite=True` to replace a stale run.

    Args:
        name: "gmf", "mlp", "neumf" or "mf", trained from scratch.
        dataset: the data to train on.
        run: the run folder.
        training: `train_run`'s keyword arguments.

    Returns: (its metrics.json content, the model of its best epoch).
    """
    wanted = {
        "model": name,
        "learning_rate": training.get("learning_rate", LEARNING_RATE),
        "pretrained": False,
    }
    compared = [key for key in _COMPARED if not (key == "layers" and name in _WITHOUT_TOWER)]
    wanted |= {key: training[key] for key in compared if key in training}
    wanted.setdefault("optimizer", "adam")
    try:
        saved = read_run(run)  # refuses a missing, incomplete or mixed-up run folder
    except DataError:
        saved = None
    if (
        saved is not None
        and saved["data"] == dataset.fingerprint()
        and all(saved["config"].get(key) == _plain(value) for key, value in wanted.items())
    ):
        print(f"{run.name}: using the run saved in {run}")
        return saved, load_run_model(run, dataset)
    print(f"{run.name}: no saved run with these settings; training it here")
    trained = train_run(name, dataset, run, **training)
    return trained, load_run_model(run, dataset)


def _plain(value):
    """`value` as metrics.json holds it: tuples become lists."""
    return list(value) if isinstance(value, tuple) else value
