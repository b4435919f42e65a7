"""Every private Keras attribute the package reads, one function each, behind a version check.

Lazy Adam (`ncf_keras.training.lazy_adam`) writes its own train step, and needs
three things Keras has no public API for: Adam's moment variables for a given
variable, the JAX trainer's metric update, and the TensorFlow trainer's loss
tracker. Each is read here, and only here, by one function that names the Keras
version it was checked against. `check_keras_version` refuses any other
version with one line, before a step is traced. `scanned_steps` replaces the
JAX trainer's train function, whose calling convention is Keras's own: it does
so only where `is_tested_keras`, and leaves Keras's function in place elsewhere.
"""

from __future__ import annotations

import keras

from ncf_keras.errors import DataError

TESTED_KERAS = ((3, 15), (3, 16))  # tested with 3.15: >= 3.15, < 3.16


def is_tested_keras(version: str | None = None) -> bool:
    """Whether `version` (default: Keras's own) is one these functions were checked against."""
    version = keras.__version__ if version is None else version
    try:
        release = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    low, high = TESTED_KERAS
    return low <= release < high


def check_keras_version(version: str | None = None) -> None:
    """Raise DataError unless `version` (default: Keras's own) is one these functions were
    checked against."""
    version = keras.__version__ if version is None else version
    if not is_tested_keras(version):
        low, high = TESTED_KERAS
        raise DataError(
            f"lazy-adam reads Keras internals tested with Keras {low[0]}.{low[1]} only, "
            f"and this is Keras {version}: pip install 'keras>={low[0]}.{low[1]},"
            f"<{high[0]}.{high[1]}', or use --optimizer adam"
        )


def adam_moments(
    optimizer: keras.optimizers.Adam, variable: keras.Variable
) -> tuple[keras.Variable, keras.Variable]:
    """Adam's first and second moment variables for `variable` (checked with Keras 3.15:
    `_get_variable_index`, `_momentums`, `_velocities`)."""
    slot = optimizer._get_variable_index(variable)
    return optimizer._momentums[slot], optimizer._velocities[slot]


def jax_update_metrics(model: keras.Model, metrics_values, loss, x, y, y_pred, sample_weight):
    """The JAX trainer's (logs, metrics_values) after a step (checked with Keras 3.15:
    `_update_metrics_variables`, which also counts the loss)."""
    return model._update_metrics_variables(metrics_values, loss, x, y, y_pred, sample_weight)


def loss_tracker(model: keras.Model) -> keras.metrics.Mean:
    """The mean that `fit` logs as "loss" (checked with Keras 3.15: `_loss_tracker`)."""
    return model._loss_tracker
