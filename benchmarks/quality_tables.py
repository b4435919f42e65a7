"""The quality tables: quality.py's records as mean ± std over seeds, beside the paper's numbers.

`quality_table` gives one row per (factors, model) of `quality.json`, in all
columns or in the compact ones of the top-level README; `tuning_table` one row
per file, model and settings of the `quality-*.json` tuning files. Rows run
with the validation hold-out from before its fix are marked †.
`quality_targets` gives the PASS or MISS of each quality target of issue 16.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from common import markdown_table
from speed_tables import hr_text, seconds

from ncf_keras import paper_results

ORDER = ["itempop", "ials", "mf", "gmf", "mlp", "neumf", "neumf-pretrained"]
NAMES = {
    "itempop": "ItemPop",
    "ials": "iALS",
    "mf": "MF (dot product, biases)",
    **paper_results.LABELS,
}
BASELINES = ("itempop", "ials")  # no neural network: no epochs, no Keras backend

# Issue 16's quality targets: (what, model, the factors it may be met at, {metric: at least}).
# Each is the mean test metric over at least MIN_SEEDS seeds, at the epoch validation chose.
QUALITY_TARGETS = [
    ("MF at factor 128 or 192", "mf", (128, 192), {"hr@10": 0.73, "ndcg@10": 0.45}),
    ("Pre-trained NeuMF-64", "neumf-pretrained", (64,), {"hr@10": 0.735, "ndcg@10": 0.45}),
    ("NeuMF-8 without pre-training", "neumf", (8,), {"hr@10": 0.688}),
]
MIN_SEEDS = 3


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


def groups(results: dict) -> dict[tuple[int, str], list[dict]]:
    """The runs of `results` by (factors, model), each list in seed order."""
    grouped: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for run in by_seed(results["runs"]):
        grouped[(run["factors"], run["model"])].append(run)
    return grouped


def backend(run: dict) -> str:
    """What computed a run: its record's "backend" (a Keras backend, or "implicit" for iALS).

    Trained runs recorded before the field existed all ran on TensorFlow.
    """
    return run.get("backend", "tensorflow")


def fit_seconds(run: dict) -> float:
    """What a run cost, in wall seconds: iALS's final fit, or training with its evaluations."""
    return run["fit_seconds"] if run["model"] == "ials" else run["seconds"]


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
    """A run's settings: 'adam 0.001, 8 negatives, L2 0.0025, ≤ 30 epochs, patience 8, batch 1024'.

    Adam's betas follow the learning rate where a run set them: 'adam 0.01 (betas 0.25, 0.5)';
    so does a schedule: 'adam 0.003 cosine'. A tower other than the paper's and
    dropout come last: ', tower 128-32-16-8, dropout 0.2', then negatives drawn
    inside the training step: ', negatives drawn on the device'.

    Pre-trained NeuMF adds its alpha: the number, or 'by validation'. iALS gives
    its sweeps and its grid: '15 ALS iterations, regularization from 1, 10, 100, 1000
    and alpha from 4, 16, 64 by validation'.
    """
    s = run["settings"]
    if run["model"] == "ials":
        regularization, alpha = (
            ", ".join(f"{v:g}" for v in s[key]) for key in ("regularization", "alpha")
        )
        return (
            f"{s['iterations']} ALS iterations, regularization from {regularization} "
            f"and alpha from {alpha} by validation"
        )
    text = f"{s['optimizer']} {s['lr']}"
    if "betas" in s:
        text += " (betas {:g}, {:g})".format(*s["betas"])
    if "schedule" in s:
        text += f" {s['schedule']}"
    text += (
        f", {s['negatives']} negatives, L2 {s['l2']}, "
        f"≤ {s['epochs']} epochs, patience {s['patience']}, batch {s['batch_size']}"
    )
    if "alpha" in s:
        text += ", alpha " + ("by validation" if s["alpha"] == "validation" else s["alpha"])
    if "layers" in s:
        text += ", tower " + "-".join(map(str, s["layers"]))
    if "dropout" in s:
        text += f", dropout {s['dropout']:g}"
    if "sample_on" in s:
        text += f", negatives drawn on the {s['sample_on']}"
    return text


def chosen(run: dict) -> str | None:
    """What validation chose for a run: iALS's '0.1 and 4', NeuMF's alpha '0.6'; else None."""
    if run["model"] == "ials":
        return f"{run['chosen']['regularization']:g} and {run['chosen']['alpha']:g}"
    if run["settings"].get("alpha") == "validation":
        return str(run["alpha"])
    return None


def chosen_by_validation(runs: list[dict]) -> str:
    """' (0.6, 0.7, 0.7)': what validation chose for each run, in seed order; '' if nothing."""
    texts = [text for text in map(chosen, runs) if text is not None]
    return f" ({', '.join(texts)})" if texts else ""


# The test metrics at the epoch of highest test HR@10, as the paper reports its own.
PAPER_PROTOCOL = "best test epoch HR@10 / NDCG@10 (the paper's protocol; optimistic)"
QUALITY_COLUMNS = [
    "factors",
    "model",
    "backend",
    "seeds",
    "HR@10",
    "NDCG@10",
    PAPER_PROTOCOL,
    "paper HR@10 / NDCG@10",
    "full-ranking HR@10",
    "full-ranking NDCG@10",
    "validation HR@10",
    "epoch (by validation)",
    "HR@10 at final epoch",
    "fit s",
    "settings",
]
# The top-level README: the test metrics beside the paper's, and what each row cost.
COMPACT_COLUMNS = [*QUALITY_COLUMNS[:9], "fit s"]
MISSING = "n/a"  # a run of the group was recorded without the metrics at its best test epoch
PAPER_PROTOCOL_NOTE = (
    "Best test epoch: the test metrics at each run's epoch of highest test HR@10 (mean "
    "over seeds), as the paper reports its own; choosing the epoch on the test items lets "
    "them tune the model, so this column is biased upward and shown only to compare with "
    "the paper on its own terms: quote HR@10 and NDCG@10, at the epoch validation chose."
)
MISSING_NOTE = f"{MISSING}: a run of the row was recorded without its per-epoch test metrics."


def paper_protocol(runs: list[dict]) -> str:
    """'0.681 / 0.405': mean test HR@10 / NDCG@10 over the runs at each one's best test epoch.

    MISSING if any run lacks its "best_test_epoch" record (a mean over the others would mislead).
    """
    if any("best_test_epoch" not in run for run in runs):
        return MISSING
    return " / ".join(
        f"{np.mean([run['best_test_epoch'][metric] for run in runs]):.3f}"
        for metric in ("hr@10", "ndcg@10")
    )


def paper_protocol_notes(table: str) -> list[str]:
    """The note on the best-test-epoch column, and on its n/a cells where any, then a blank line."""
    if PAPER_PROTOCOL not in table.split("\n", 1)[0]:
        return []
    missing = [MISSING_NOTE] if f"| {MISSING} |" in table else []
    return [" ".join([PAPER_PROTOCOL_NOTE, *missing]), ""]


def quality_cells(factors: int, model: str, runs: list[dict]) -> dict[str, str]:
    """Every column of QUALITY_COLUMNS for one (factors, model) group of runs.

    ItemPop has no seed, settings or cost ('-'); iALS has no epochs.
    """
    reported = paper_results.reported(model, factors)
    cells = dict.fromkeys(QUALITY_COLUMNS, "-") | {
        "factors": str(factors),
        "model": label(model, runs),
        "HR@10": over_seeds(runs, "test", "hr@10"),
        "NDCG@10": over_seeds(runs, "test", "ndcg@10"),
        "paper HR@10 / NDCG@10": f"{reported[0]:.3f} / {reported[1]:.3f}" if reported else "-",
        "full-ranking HR@10": over_seeds(runs, "full", "hr@10"),
        "full-ranking NDCG@10": over_seeds(runs, "full", "ndcg@10"),
    }
    if model == "itempop":
        return cells
    cells |= {
        "backend": " / ".join(sorted({backend(run) for run in runs})),
        "seeds": str(len(runs)),
        "validation HR@10": over_seeds(runs, "validation", "hr@10"),
        "fit s": seconds(float(np.mean([fit_seconds(run) for run in runs]))),
        "settings": " / ".join(sorted({recipe(run) for run in runs})) + chosen_by_validation(runs),
    }
    if model != "ials":
        cells |= {
            "epoch (by validation)": epochs(runs),
            PAPER_PROTOCOL: paper_protocol(runs),
            "HR@10 at final epoch": over_seeds(runs, "final", "hr@10"),
        }
    return cells


def quality_table(results: dict, columns: list[str] = QUALITY_COLUMNS) -> str:
    """Markdown: one row per (factors, model), mean ± std over seeds, in `columns`.

    The backend column is left out where every row has the same one.
    """
    grouped = groups(results)
    cells = [
        quality_cells(factors, model, grouped[(factors, model)])
        for factors, model in sorted(grouped, key=lambda g: (g[0], ORDER.index(g[1])))
    ]
    if len({row["backend"] for row in cells} - {"-"}) < 2:
        columns = [column for column in columns if column != "backend"]
    return markdown_table(columns, [[row[column] for column in columns] for row in cells])


def costs_note(results: dict, table: str) -> str:
    """What `table`'s fit s column means (and its backend column, if it has one)."""
    searches = [
        f"{seconds(float(np.mean([run['seconds'] for run in runs])))} s at factor {factors}"
        for (factors, model), runs in sorted(groups(results).items())
        if model == "ials"
    ]
    search = f" (with its grid search: {', '.join(searches)})" if searches else ""
    note = (
        "fit s: mean wall seconds per run, on a shared CPU: training with its per-epoch "
        "evaluations (pre-trained NeuMF: its fine-tuning only), or iALS's final "
        f"fit{search}."
    )
    if "| backend |" in table.split("\n", 1)[0]:
        note = (
            "backend: the Keras backend that trained the row (TensorFlow for runs recorded "
            "before it was stored); `implicit` is the package that fits iALS, on the CPU. "
            f"{note} Seconds compare only within one backend."
        )
    return note


def quality_targets(results: dict) -> list[dict]:
    """PASS or MISS of every target of QUALITY_TARGETS, with the means it was judged on.

    A target counts as met if any of its factors meets every limit over at
    least MIN_SEEDS seeds. Each check: "target", "limits" ({metric: at least}),
    "measured" (one dict per factor run: "factors", "seeds" and each metric's
    mean) and "pass".
    """
    grouped = groups(results)
    checks = []
    for what, model, factor_choices, limits in QUALITY_TARGETS:
        measured = [
            {"factors": factors, "seeds": len(runs)}
            | {metric: float(np.mean([run["test"][metric] for run in runs])) for metric in limits}
            for factors in factor_choices
            if (runs := grouped.get((factors, model)))
        ]
        met = [
            m["seeds"] >= MIN_SEEDS
            and all(m[metric] >= at_least for metric, at_least in limits.items())
            for m in measured
        ]
        checks.append({"target": what, "limits": limits, "measured": measured, "pass": any(met)})
    return checks


def targets_notes(checks: list[dict]) -> list[str]:
    """One bullet per target: its limits, its verdict, and the means per factor it was run at.

    The verdict: PASS, MISS, "too few seeds" (no factor with MIN_SEEDS), or "not run".
    """
    notes = []
    for check in checks:
        limits = " and ".join(
            f"{metric.upper()} ≥ {at_least:g}" for metric, at_least in check["limits"].items()
        )
        measured = "; ".join(
            f"factor {m['factors']}, {m['seeds']} seed{'s' if m['seeds'] > 1 else ''}: "
            + ", ".join(f"{metric.upper()} {hr_text(m[metric])}" for metric in check["limits"])
            for m in check["measured"]
        )
        if not measured:
            verdict = "not run"
        elif check["pass"]:
            verdict = f"PASS ({measured})"
        elif all(m["seeds"] < MIN_SEEDS for m in check["measured"]):
            verdict = f"too few seeds ({measured})"
        else:
            verdict = f"MISS ({measured})"
        notes.append(f"- {check['target']}, {limits}: {verdict}.")
    return notes


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
        by_settings: dict[tuple[int, str, str], list[dict]] = defaultdict(list)
        for run in by_seed(results["runs"]):
            if "settings" in run:
                by_settings[(run["factors"], run["model"], recipe(run))].append(run)
        for key in sorted(by_settings, key=lambda g: (g[0], ORDER.index(g[1]), g[2])):
            factors, model, settings = key
            runs = by_settings[key]
            trained = model != "ials"
            rows.append(
                [
                    f"`{name}`",
                    str(factors),
                    label(model, runs),
                    ", ".join(str(run["seed"]) for run in runs),
                    settings + chosen_by_validation(runs),
                    over_seeds(runs, "validation", "hr@10"),
                    over_seeds(runs, "test", "hr@10"),
                    over_seeds(runs, "test", "ndcg@10"),
                    epochs(runs) if trained else "-",
                    over_seeds(runs, "best_test_epoch", "hr@10") if trained else "-",
                ]
            )
    return markdown_table(header, rows)
