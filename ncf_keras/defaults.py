"""The package's named choices and default values.

Keras-free, so that the command line can list its choices without importing a
backend.
"""

from __future__ import annotations

MODEL_NAMES = ("gmf", "mlp", "neumf", "mf")
OPTIMIZER_NAMES = ("adam", "lazy-adam", "sgd", "adagrad", "rmsprop")
SAMPLE_ON = ("host", "device")  # where training negatives are drawn: `TrainingConfig.sample_on`
LAZY_ADAM_BACKENDS = (
    "jax",
    "tensorflow",
)  # the backends `ncf_keras.training.lazy_adam` has a step for

EPOCHS = 20
FACTORS = 8  # predictive factors: the GMF and MF embedding size
LAYERS = (64, 32, 16, 8)  # the MLP: both embeddings side by side, then the ReLU layers
NEGATIVES = 4  # sampled negatives per positive, as in the paper
BATCH_SIZE = 1024  # for epochs of fewer than LARGE_BATCH_ROWS rows; see below
LEARNING_RATE = 3e-3  # Adam, for batches of 1024 and 16,384 (the paper: 1e-3 for 256)
ADAM_BETAS = (0.9, 0.999)  # Keras's defaults
FINE_TUNE_LEARNING_RATE = 1e-3  # SGD, for pre-trained NeuMF, as in the paper
ALPHA = 0.5  # the weight of GMF in pre-trained NeuMF's output layer, eq. (13)
# Named settings for `train --recipe NAME` and `train_run(..., **RECIPES[NAME])`.
# large-batch: 16 times fewer steps per epoch, for big data and accelerators; on
# ml-1m-ncf, level with the default recipe's HR@10 in the same epochs over 3 seeds,
# where batch 32,768 and 65,536 scored lower on validation (benchmarks/README.md).
RECIPES = {"large-batch": {"batch_size": 16_384, "learning_rate": 0.003}}
# Where `training_defaults` chooses the large batch, a model whose HR@10 needs another
# learning rate there gets it: the MLP alone scored 0.010 below batch 1,024 at 0.003 and
# level at 0.01 (ml-1m-ncf, 3 seeds; benchmarks/README.md, *Where an epoch's time goes*).
LARGE_BATCH_LEARNING_RATES = {"mlp": 0.01}
# `training.config.training_defaults` (measured in benchmarks/README.md, *Defaults that
# scale* and *Where an epoch's time goes*): an epoch of at least this many training rows
# (100 steps of the large batch) takes the large-batch recipe, whose 16 times fewer steps
# spare Keras's Adam most of its whole-table updates and the per-step overheads (ML-1M's
# 4.97M rows: 303 steps instead of 4,855); a smaller epoch keeps batch 1,024.
LARGE_BATCH_ROWS = 100 * RECIPES["large-batch"]["batch_size"]
# Above this many embedding rows (users + items; ML-1M has 9,746, ML-20M 165,237), where
# Adam's whole-table step costs more than lazy Adam's even at batch 16,384: lazy Adam (on
# the backends it runs on).
LAZY_ADAM_TABLES = 400_000


def paper_tower(factors: int) -> list[int]:
    """The paper's MLP for `factors` predictive factors: [8f, 4f, 2f, f]."""
    return [8 * factors, 4 * factors, 2 * factors, factors]
