"""The README's benchmark tables: benchmarks/tables.py from quality.py's records, and
the fields speed.py writes for it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def load_script(name: str):
    """benchmarks/NAME.py as a module."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tables():
    return load_script("tables")


@pytest.fixture(scope="module")
def speed():
    return load_script("speed")


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


def time_to_quality_run(batch: int, negatives: int, seed: int, hrs: list[float], reached: bool):
    """One arm of speed.py's time-to-quality section; 10 wall seconds per epoch."""
    history = [{"epoch": e, "hr@10": hr, "wall_s": 10.0 * e} for e, hr in enumerate(hrs, 1)]
    return {
        "backend": "tensorflow",
        "batch_size": batch,
        "negatives": negatives,
        "seed": seed,
        "reached": reached,
        "epochs": len(hrs) if reached else None,
        "wall_s": history[-1]["wall_s"] if reached else None,
        "history": history,
    }


def test_time_to_quality_rows_name_each_arm_and_never_round_up_to_the_target(speed):
    runs = [
        time_to_quality_run(1024, 4, 0, [0.60, 0.67997], reached=False),
        time_to_quality_run(256, 4, 1, [0.60, 0.65, 0.6806], reached=True),
        {"backend": "tensorflow", "batch_size": 1024, "negatives": 8, "seed": 2, "error": "x"},
    ]
    section = {
        "runs": runs,
        "skipped": [],
        "settings": {"max_epochs": 2, "seeds": [0, 1, 2], "target_hr@10": 0.68},
        "environment": {
            "command": "python benchmarks/speed.py --time-to-quality",
            "load_average_at_start": 0.5,
        },
    }
    fields = speed.readme_fields({"time_to_quality": section})
    rows = [list(row.values()) for row in fields["time_to_quality_rows"]]
    assert rows == [
        ["tensorflow", "1024", "4", "0", "not reached in 2", "> 20.00", "0.6799", "10.00"],
        ["tensorflow", "256", "4", "1", "3", "30.00", "0.6806", "10.00"],
        ["tensorflow", "1024", "8", "2", "FAILED", "", "", ""],
    ]
    assert list(fields["time_to_quality_rows"][0]) == speed.QUALITY_COLUMNS
    assert fields["commands"] == ["python benchmarks/speed.py --time-to-quality"]
    assert "seeds 0, 1, 2" in fields["notes"][0]
