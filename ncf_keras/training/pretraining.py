"""NeuMF pre-training (He et al. 2017, section 3.4.1): start from trained GMF and MLP.

NeuMF's GMF and MLP parts have the same weights as the GMF and MLP models, so
their trained weights can be copied in by name ("mlp_layer1/kernel", ...; a
model saved before the MLP's first layer held its embeddings loads too). The output layer fuses
the two: h = [alpha * h_GMF, (1 - alpha) * h_MLP], eq. (13). `choose_alpha`
picks alpha on a validation hold-out instead of the paper's fixed 0.5.
"""

from __future__ import annotations

import keras
import numpy as np

from ncf_keras.checks import check_fraction
from ncf_keras.data.dataset import Dataset
from ncf_keras.defaults import ALPHA
from ncf_keras.errors import DataError
from ncf_keras.metrics import evaluate
from ncf_keras.models import named_weights


def load_pretrained(
    neumf_model: keras.Model, gmf_model: keras.Model, mlp_model: keras.Model, alpha: float = ALPHA
) -> keras.Model:
    """Initialise NeuMF from trained GMF and MLP models, as in section 3.4.1.

    Embeddings and MLP layers are copied by weight name (`named_weights`). The
    output layer becomes h = [alpha * h_GMF, (1 - alpha) * h_MLP], with bias
    alpha * b_GMF + (1 - alpha) * b_MLP. Raises DataError when a shape does not match.
    Returns `neumf_model`, modified in place.
    """
    check_fraction("alpha", alpha)
    targets = named_weights(neumf_model)
    for source in (gmf_model, mlp_model):
        for layer, weights in _by_layer(named_weights(source)).items():
            if layer == "prediction":
                continue
            if any(name not in targets for name in weights):
                raise DataError(
                    f"pre-trained {source.name} model has layer {layer!r}, which NeuMF "
                    "lacks: build NeuMF with the same layers"
                )
            _check_shapes([targets[name] for name in weights], weights, layer, source.name)
            for name, weight in weights.items():
                targets[name].assign(keras.ops.convert_to_numpy(weight))
    h_gmf, b_gmf = gmf_model.get_layer("prediction").get_weights()
    h_mlp, b_mlp = mlp_model.get_layer("prediction").get_weights()
    output = neumf_model.get_layer("prediction")
    kernel = np.concatenate([alpha * h_gmf, (1 - alpha) * h_mlp])
    if kernel.shape != tuple(output.kernel.shape):
        raise DataError(
            f"pre-trained prediction layers give a {kernel.shape} kernel; "
            f"NeuMF needs {tuple(output.kernel.shape)}"
        )
    output.set_weights([kernel, alpha * b_gmf + (1 - alpha) * b_mlp])
    return neumf_model


def _by_layer(weights: dict[str, keras.Variable]) -> dict[str, dict[str, keras.Variable]]:
    """`named_weights` grouped by their layer's name, the part before the "/"."""
    grouped: dict[str, dict[str, keras.Variable]] = {}
    for name, weight in weights.items():
        grouped.setdefault(name.split("/")[0], {})[name] = weight
    return grouped


def _check_shapes(targets: list, weights: dict, layer: str, source: str) -> None:
    want = [tuple(w.shape) for w in targets]
    got = [tuple(w.shape) for w in weights.values()]
    if want != got:
        raise DataError(
            f"pre-trained {source} layer {layer!r} has weights of shape {got}; "
            f"NeuMF expects {want} (check factors, layers and the dataset)"
        )


def choose_alpha(
    neumf_model: keras.Model, gmf_model: keras.Model, mlp_model: keras.Model, validation: Dataset
) -> float:
    """The alpha of eq. (13), 0.0 to 1.0 in steps of 0.1, with the best validation HR@10.

    Each alpha is scored with the fused model as loaded, before any fine-tuning;
    ties go to the smaller alpha. Leaves `neumf_model` loaded with the last alpha tried.
    """
    scores = {}
    for alpha in np.round(np.linspace(0.0, 1.0, 11), 1):
        load_pretrained(neumf_model, gmf_model, mlp_model, alpha=float(alpha))
        scores[float(alpha)] = evaluate(neumf_model, validation)["hr@10"]
    return max(scores, key=scores.get)
