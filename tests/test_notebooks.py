"""The committed notebooks: real outputs, quiet epoch lines, no per-cell timestamps.

Re-execute a notebook with nbclient's timing records off, so that it stays this way:

    jupyter nbconvert --to notebook --execute --inplace \\
        --ExecutePreprocessor.record_timing=False --ExecutePreprocessor.timeout=-1 \\
        notebooks/01_gmf.ipynb
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
# The notebooks that show Keras's epoch lines; 04 trains quietly and prints a summary.
SHOW_EPOCHS = {"01_gmf.ipynb", "02_mlp.ipynb", "03_neumf.ipynb"}


def code_cells(path: Path) -> list[dict]:
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def output_text(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts += output.get("text", [])
        parts += output.get("data", {}).get("text/plain", [])
    return "".join(parts)


def test_there_are_notebooks():
    assert [path.name for path in NOTEBOOKS][:4] == [
        "01_gmf.ipynb",
        "02_mlp.ipynb",
        "03_neumf.ipynb",
        "04_beyond_the_paper.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_notebook_has_outputs_and_no_timestamps(path):
    cells = code_cells(path)
    assert sum(bool(cell.get("outputs")) for cell in cells) >= len(cells) // 2, "not executed"
    stamped = [n for n, cell in enumerate(cells) if "execution" in cell.get("metadata", {})]
    assert not stamped, f"code cells {stamped} carry nbclient timestamps: re-run without them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_epoch_lines_show_loss_and_ranking_metrics_only(path):
    """Keras's epoch lines carry loss, HR@10 and NDCG@10; timings stay out of the lesson."""
    text = "\n".join(output_text(cell) for cell in code_cells(path))
    epoch_lines = [line for line in text.splitlines() if " - loss: " in line]
    assert epoch_lines or path.name not in SHOW_EPOCHS, "no Keras epoch line in the outputs"
    for line in epoch_lines:
        assert "hr@10" in line and "ndcg@10" in line, line
        assert "seconds" not in line, line
