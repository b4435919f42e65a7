"""benchmarks/tables.py: the README's quality tables from quality.py's records."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "tables.py"


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(seed: int, hr: float, alpha: float | None = None, new: bool = True) -> dict:
    """A trained run as quality.py stores it (pre-trained NeuMF when alpha is given)."""
    settings = {"optimizer": "adam", "lr": 0.003, "l2": 0.0, "batch_size": 1024}
    settings |= {"negatives": 8, "epochs": 40, "patience": 8}
    if alpha is not None:
        settings |= {"optimizer": "sgd", "lr": 0.001, "alpha": "validation"}
    if new:
        settings["validation_negatives"] = "never touched"
    metrics = {"hr@10": hr, "ndcg@10": hr / 2}
    return {
        "model": "neumf-pretrained" if alpha is not None else "mlp",
        "factors": 8,
        "seed": seed,
        "settings": settings,
        **({"alpha": alpha} if alpha is not None else {}),
        "validation": metrics,
        "test": {"epoch": seed + 3, **metrics},
        "best_test_epoch": {"epoch": seed + 3, **metrics},
        "final": {"epoch": 40, **metrics},
        "full": metrics,
    }


def test_quality_table_rows_are_mean_and_std_over_seeds_in_seed_order(tables):
    runs = [record(1, 0.70), record(0, 0.68)]
    table = tables.quality_table({"runs": runs})
    header, separator, row = table.splitlines()
    assert separator.count("---|") == header.count("|") - 1
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:6] == ["8", "MLP", "2", "0.690 ± 0.014", "0.345 ± 0.007", "0.671 / 0.399"]
    assert cells[9] == "3, 4"  # the epochs validation chose, seed 0 first
    assert "†" not in table


def test_runs_from_before_the_validation_fix_are_marked(tables):
    table = tables.quality_table({"runs": [record(0, 0.68), record(1, 0.70, new=False)]})
    assert "| MLP † |" in table
    assert tables.footnote(table) == [tables.OLD_VALIDATION, ""]
    assert tables.footnote(tables.quality_table({"runs": [record(0, 0.68)]})) == []


def test_alphas_chosen_on_validation_are_listed_per_seed(tables):
    runs = [record(0, 0.72, alpha=0.6), record(1, 0.73, alpha=0.7)]
    table = tables.quality_table({"runs": runs})
    assert "patience 8, alpha by validation (0.6, 0.7) |" in table
