"""benchmarks/epoch_profile.py: the roofline's counts of arithmetic and bytes per training row."""

from __future__ import annotations

import pytest
from test_report import load

from ncf_keras.models import build_model

ROWS = 4_970_845  # one ml-1m-ncf epoch: 994,169 positives x (1 + 4 negatives)


@pytest.mark.parametrize(
    "name, macs, embedded",
    [
        # GMF: the 8-wide product and the 8-to-1 output layer; two 8-wide tables
        ("gmf", 8 + 8, 16),
        # MLP: 64x32 + 32x16 + 16x8 kernels and the 8-to-1 output; two 32-wide tables
        ("mlp", 64 * 32 + 32 * 16 + 16 * 8 + 8, 64),
        # NeuMF: both, its output layer 16-to-1
        ("neumf", 8 + 64 * 32 + 32 * 16 + 16 * 8 + 16, 80),
    ],
)
def test_roofline_counts_each_layer_once(name, macs, embedded):
    model = build_model(name, 6_040, 3_706)
    counts = load("epoch_profile").roofline(model, ROWS)
    assert counts["forward_macs_per_row"] == macs
    assert counts["train_flops_per_row"] == 6 * macs  # 2 FLOPs a multiply-add, backward 2x
    assert counts["embedding_bytes_per_row"] == 8 * embedded  # float32, gathered and scattered
    assert counts["train_gflop_per_epoch"] == pytest.approx(6 * macs * ROWS / 1e9)


def test_neumf_8_is_81_gflop_an_epoch():
    """The figure benchmarks/README.md quotes."""
    counts = load("epoch_profile").roofline(build_model("neumf", 6_040, 3_706), ROWS)
    assert (counts["forward_macs_per_row"], round(counts["train_gflop_per_epoch"])) == (2712, 81)
