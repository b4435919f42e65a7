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


# Lines of the compiled NeuMF-8 step's HLO (JAX 0.10.2), as `op_breakdown` reads them.
HLO_LINES = {
    "ynn_fusion.9": (
        "  %ynn_fusion.9 = f32[16384,32]{1,0} fusion(%select_concatenate_fusion, %copy.46), "
        'kind=kCustom, calls=%fused_computation.9, metadata={op_name="jit(<lambda>)/while/body/'
        'closed_call/jvp(mlp_layer1)/dot_general" stack_frame_id=197}, backend_config='
        '{"fusion_config":{"kind":"__ynn_fusion"},"outer_dimension_partitions":[]}'
    ),
    "dot.27": (
        "  %dot.27 = f32[64,32]{1,0} dot(%select_concatenate_fusion, %compare_select_fusion), "
        'lhs_contracting_dims={0}, rhs_contracting_dims={0}, metadata={op_name="jit(<lambda>)/'
        'while/body/closed_call/transpose(jvp(mlp_layer1))/transpose" stack_frame_id=197}'
    ),
    "wrapped_scatter": (
        "  %wrapped_scatter = f32[6040,32]{1,0} fusion(%wrapped_broadcast.1, %select_bitcast_"
        'fusion.1), kind=kLoop, calls=%wrapped_scatter_computation, metadata={op_name="jit('
        "<lambda>)/while/body/closed_call/transpose(jvp(mlp_user_embedding))/jit(_take)/"
        'scatter-add" stack_frame_id=190}'
    ),
    "multiply_add_fusion.23": (
        "  %multiply_add_fusion.23 = f32[6040,32]{1,0} fusion(%get-tuple-element.764, "
        '%wrapped_scatter), kind=kLoop, metadata={op_name="jit(<lambda>)/while/body/'
        'closed_call/adam/add"}'
    ),
}


@pytest.mark.parametrize(
    "op, shape, library, part",
    [
        ("ynn_fusion.9", "f32[16384,32]", "ynnpack", "mlp_layer1 forward"),
        ("dot.27", "f32[64,32]", "eigen", "mlp_layer1 backward"),
        ("wrapped_scatter", "f32[6040,32]", "xla", "mlp_user_embedding backward"),
        ("multiply_add_fusion.23", "f32[6040,32]", "xla", "Adam's update"),
    ],
)
def test_each_xla_operation_is_put_to_its_layer_pass_and_library(op, shape, library, part):
    described = {"shape": shape, "library": library, "part": part}
    assert load("epoch_profile").describe_op(HLO_LINES[op]) == (op, described)


def test_lines_without_an_instruction_or_a_layer():
    profile = load("epoch_profile")
    assert profile.describe_op("ENTRY %main.1 (param: f32[2]) -> f32[2] {") is None
    assert profile.part_of("jit(<lambda>)/while/body/add") == "other"
