"""The numbers He et al. (WWW 2017) report on their ML-1M split, HR@10 and NDCG@10.

From the paper's Table 2 (NeuMF with and without pre-training) and Tables 3
and 4 (MLP with 3 hidden layers), at predictive factors 8 and 64.
The paper gives GMF only in a figure, so there is no exact GMF number here.
"""

from __future__ import annotations

# (model, predictive factors) -> (HR@10, NDCG@10)
RESULTS: dict[tuple[str, int], tuple[float, float]] = {
    ("neumf-pretrained", 8): (0.684, 0.403),
    ("neumf-pretrained", 64): (0.730, 0.447),
    ("neumf", 8): (0.688, 0.410),
    ("neumf", 64): (0.705, 0.426),
    ("mlp", 8): (0.671, 0.399),
    ("mlp", 64): (0.702, 0.426),
}
ITEMPOP_HR10 = 0.45  # popularity ranking, about 0.45 in the paper's Figure 4

LABELS = {"gmf": "GMF", "mlp": "MLP", "neumf": "NeuMF", "neumf-pretrained": "NeuMF (pre-trained)"}


def reported(model: str, factors: int) -> tuple[float, float] | None:
    """(HR@10, NDCG@10) the paper reports for this model and factor count, or None."""
    return RESULTS.get((model, factors))
