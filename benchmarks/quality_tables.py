"""The quality tables: quality.py's records as mean ± std over seeds, beside the paper's numbers.

`quality_table` gives one row per (factors, model) of `quality.json`, in all
columns or in the compact ones of the top-level README; `tuning_table` one row
per file, model and settings of the `quality-*.json` tuning files. Rows run
with the validation hold-out from before its fix are marked †.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from common import markdown_table

from ncf_keras import paper

ORDER = ["itempop", "mf", "gmf", "mlp", "neumf", "neumf-pretrained"]
NAMES = {"itempop": "ItemPop", "mf": "MF (dot product, biases)", **paper.LABELS}


def mean_std(values: list[float]) -> str:
    """'0.692 ± 0.004' over seeds (sample std); just the value for one seed."""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def over_seeds(runs: list[dict], part: str, metric: str) -> str:
    """`metric` of record `part` ("test", "full", ...) over the runs, as mean ± std."""
    return mean_std([run[part][metric] for run in runs])


def epochs(runs: list[dict]) -> str:
    """The epochs validation chose, one per run: '12, 14, 9'."""
    return ", ".join(str(run["test"]["epoch"]) for run in runs)


def by_seed(runs: list[dict]) -> list[dict]:
    """The runs in seed order (ItemPop's seed, None, first), so per-seed columns line up."""
    return sorted(runs, key=lambda run: -1 if run["seed"] is None else run["seed"])


def distinct(runs: list[dict], key: str) -> str:
    """The runs' distinct values of setting `key`, joined by ' / ': '1024' or '256 / 1024'."""
    return " / ".join(sorted({str(run["settings"][key]) for run in runs}))


OLD_VALIDATION = (
    "† Run with the earlier validation hold-out, before 2026-11-27. Its 99 negatives "
    "came from outside the training data only, so for 2.5 to 2.8% of users (by seed) they "
    "held the user's test item, and its random draw was the stream of epoch 2's "
    "training negatives. The hold-out now has its own stream, so rerun rows differ "
    "in their held-out items as well, not only in their negatives."
)


def label(model: str, runs: list[dict]) -> str:
    """The model's name, marked † when a run predates the validation negatives' fix."""
    old = any("validation_negatives" not in run["settings"] for run in runs if "settings" in run)
    return NAMES[model] + (" †" if old else "")


def footnote(table: str) -> list[str]:
    """The † note and a blank line, where `table` marks a row with †."""
    return [OLD_VALIDATION, ""] if "†" in table else []


def recipe(run: dict) -> str:
    """A run's settings: 'adam 0.001, 8 negatives, L2 0.0025, ≤ 30 epochs, patience 8'.

    Pre-trained NeuMF adds its alpha: the number, or 'by validation'.
    """
    s = run["settings"]
    text = (
        f"{s['optimizer']} {s['lr']}, {s['negatives']} negatives, L2 {s['l2']}, "
        f"≤ {s['epochs']} epochs, patience {s['patience']}"
    )
    if "alpha" in s:
        text += ", alpha " + ("by validation" if s["alpha"] == "validation" else s["alpha"])
    return text


def chosen_alphas(runs: list[dict]) -> str:
    """' (0.6, 0.7, 0.7)': the alphas validation chose, in seed order; '' if none."""
    chosen = [str(run["alpha"]) for run in runs if run["settings"].get("alpha") == "validation"]
    return f" ({', '.join(chosen)})" if chosen else ""


QUALITY_COLUMNS = [
    "factors",
    "model",
    "seeds",
    "HR@10",
    "NDCG@10",
    "paper HR@10 / NDCG@10",
    "full-ranking HR@10",
    "full-ranking NDCG@10",
    "validation HR@10",
    "epoch (by validation)",
    "HR@10 at best test epoch",
    "HR@10 at final epoch",
    "settings",
]
COMPACT_COLUMNS = QUALITY_COLUMNS[:7]  # the top-level README: up to full-ranking HR@10


def quality_cells(factors: int, model: str, runs: list[dict]) -> dict[str, str]:
    """Every column of QUALITY_COLUMNS for one (factors, model) group of runs."""
    reported = paper.reported(model, factors)
    trained = model != "itempop"
    return {
        "factors": str(factors),
        "model": label(model, runs),
        "seeds": str(len(runs)) if trained else "-",
        "HR@10": over_seeds(runs, "test", "hr@10"),
        "NDCG@10": over_seeds(runs, "test", "ndcg@10"),
        "paper HR@10 / NDCG@10": f"{reported[0]:.3f} / {reported[1]:.3f}" if reported else "-",
        "full-ranking HR@10": over_seeds(runs, "full", "hr@10"),
        "full-ranking NDCG@10": over_seeds(runs, "full", "ndcg@10"),
        "validation HR@10": over_seeds(runs, "validation", "hr@10") if trained else "-",
        "epoch (by validation)": epochs(runs) if trained else "-",
        "HR@10 at best test epoch": over_seeds(runs, "best_test_epoch", "hr@10")
        if trained
        else "-",
        "HR@10 at final epoch": over_seeds(runs, "final", "hr@10") if trained else "-",
        "settings": " / ".join(sorted({recipe(run) for run in runs})) + chosen_alphas(runs)
        if trained
        else "-",
    }


def quality_table(results: dict, columns: list[str] = QUALITY_COLUMNS) -> str:
    """Markdown: one row per (factors, model), mean ± std over seeds, in `columns`."""
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for run in by_seed(results["runs"]):
        groups[(run["factors"], run["model"])].append(run)
    rows = []
    for factors, model in sorted(groups, key=lambda g: (g[0], ORDER.index(g[1]))):
        cells = quality_cells(factors, model, groups[(factors, model)])
        rows.append([cells[column] for column in columns])
    return markdown_table(columns, rows)


def tuning_table(files: dict[str, dict]) -> str:
    """Markdown: the trained runs in `files` (name: results), one row per model and settings."""
    header = [
        "file",
        "factors",
        "model",
        "seeds",
        "settings",
        "validation HR@10",
        "HR@10",
        "NDCG@10",
        "epoch (by validation)",
        "HR@10 at best test epoch",
    ]
    rows = []
    for name, results in files.items():
        groups: dict[tuple[int, str, str, int], list[dict]] = defaultdict(list)
        for run in by_seed(results["runs"]):
            if "settings" in run:
                key = (run["factors"], run["model"], recipe(run), run["settings"]["batch_size"])
                groups[key].append(run)
        for key in sorted(groups, key=lambda g: (g[0], ORDER.index(g[1]), g[2:])):
            factors, model, settings, batch = key
            runs = groups[key]
            rows.append(
                [
                    f"`{name}`",
                    str(factors),
                    label(model, runs),
                    ", ".join(str(run["seed"]) for run in runs),
                    f"{settings}{chosen_alphas(runs)}, batch {batch}",
                    over_seeds(runs, "validation", "hr@10"),
                    over_seeds(runs, "test", "hr@10"),
                    over_seeds(runs, "test", "ndcg@10"),
                    epochs(runs),
                    over_seeds(runs, "best_test_epoch", "hr@10"),
                ]
            )
    return markdown_table(header, rows)
