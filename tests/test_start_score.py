"""A pre-trained NeuMF run records its score before fine-tuning as metrics.json "start",
also when it is resumed; a run trained from scratch records none."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from ncf_keras import models
from ncf_keras.data.dataset import Dataset
from ncf_keras.metrics import evaluate
from ncf_keras.runs.folder import read_run
from ncf_keras.runs.train_run import train_run
from ncf_keras.training.pretraining import load_pretrained

FACTORS = 4
LAYERS = [16, 8, 4]


class Interrupt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at the end of the first epoch, as Ctrl-C would."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


def randomized(model: keras.Model, seed: int) -> keras.Model:
    """`model` with every weight drawn from N(0, 0.5): a "pre-trained" part that ranks far
    from chance, and whose ranking one epoch of fine-tuning changes."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    return model


@pytest.fixture
def parts(small_synthetic: Dataset) -> tuple[keras.Model, keras.Model]:
    """A GMF and an MLP to initialise NeuMF from."""
    users, items = small_synthetic.num_users, small_synthetic.num_items
    gmf = randomized(models.gmf(users, items, FACTORS), seed=1)
    return gmf, randomized(models.mlp(users, items, LAYERS), seed=2)


def fine_tune(data: Dataset, out: Path, parts: tuple[keras.Model, keras.Model], **kwargs) -> dict:
    """Two epochs of SGD at 0.5 from `parts`: enough to move HR@10 off its start."""
    settings = {"factors": FACTORS, "layers": LAYERS, "epochs": 2, "learning_rate": 0.5}
    return train_run("neumf", data, out, pretrained=parts, verbose=0, **settings, **kwargs)


def score_before_fine_tuning(data: Dataset, parts: tuple[keras.Model, keras.Model]) -> dict:
    """HR@10 and NDCG@10 of NeuMF initialised from `parts`, evaluated here."""
    neumf = models.neumf(data.num_users, data.num_items, FACTORS, LAYERS)
    return evaluate(load_pretrained(neumf, *parts), data)


def test_a_pretrained_run_records_its_score_before_fine_tuning(small_synthetic, parts, tmp_path):
    start = score_before_fine_tuning(small_synthetic, parts)
    written = fine_tune(small_synthetic, tmp_path / "run", parts)
    one_user = 1.5 / len(small_synthetic.test_items)  # XLA may break a tie otherwise
    assert written["start"] == pytest.approx(start, abs=one_user)
    assert read_run(tmp_path / "run")["start"] == written["start"]
    # the first epoch moved HR@10: "start" is not the first epoch's score
    assert abs(written["history"][0]["hr@10"] - start["hr@10"]) > one_user


def test_a_resumed_run_records_the_start_of_the_interrupted_one(small_synthetic, parts, tmp_path):
    start = score_before_fine_tuning(small_synthetic, parts)
    with pytest.raises(KeyboardInterrupt):
        fine_tune(small_synthetic, tmp_path / "run", parts, callbacks=[Interrupt()])
    resumed = fine_tune(small_synthetic, tmp_path / "run", parts, resume=True)
    one_user = 1.5 / len(small_synthetic.test_items)
    assert resumed["start"] == pytest.approx(start, abs=one_user)


def test_a_run_from_scratch_records_no_start(small_synthetic, tmp_path):
    written = train_run(
        "gmf", small_synthetic, tmp_path / "run", factors=FACTORS, epochs=1, verbose=0
    )
    assert "start" not in written
    assert "start" not in read_run(tmp_path / "run")
