"""Turn the benchmark JSON files into the README's tables.

    python benchmarks/tables.py            # rewrite the README section in place
    python benchmarks/tables.py --print    # print it instead

Reads `benchmarks/results/quality.json` (from quality.py) and
`benchmarks/results/speed.json` (from speed.py), whichever exist, and replaces
the README between the `<!-- results ... -->` and `<!-- end results -->` markers.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ncf_keras import paper

HERE = Path(__file__).parent
README = HERE.parent / "README.md"
MARKERS = re.compile(r"(<!-- results:.*?-->\n).*?(<!-- end results -->)", re.S)
ORDER = ["itempop", "mf", "gmf", "mlp", "neumf", "neumf-pretrained"]
NAMES = {"itempop": "ItemPop", "mf": "MF (dot product, biases)", **paper.LABELS}


def mean_std(values: list[float]) -> str:
    """'0.692 ± 0.004' over seeds; just the value for one seed."""
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


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: the header, its separator line, then one line per row."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])


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


def quality_table(results: dict) -> str:
    """Markdown: one row per (factors, model), mean ± std over seeds."""
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for run in by_seed(results["runs"]):
        groups[(run["factors"], run["model"])].append(run)
    header = [
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
    rows = []
    for factors, model in sorted(groups, key=lambda g: (g[0], ORDER.index(g[1]))):
        runs = groups[(factors, model)]
        reported = paper.reported(model, factors)
        trained = model != "itempop"
        rows.append(
            [
                str(factors),
                label(model, runs),
                str(len(runs)) if trained else "-",
                over_seeds(runs, "test", "hr@10"),
                over_seeds(runs, "test", "ndcg@10"),
                f"{reported[0]:.3f} / {reported[1]:.3f}" if reported else "-",
                over_seeds(runs, "full", "hr@10"),
                over_seeds(runs, "full", "ndcg@10"),
                over_seeds(runs, "validation", "hr@10") if trained else "-",
                epochs(runs) if trained else "-",
                over_seeds(runs, "best_test_epoch", "hr@10") if trained else "-",
                over_seeds(runs, "final", "hr@10") if trained else "-",
                " / ".join(sorted({recipe(run) for run in runs})) + chosen_alphas(runs)
                if trained
                else "-",
            ]
        )
    return markdown(header, rows)


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
    return markdown(header, rows)


def records_table(records: list[dict]) -> str:
    """Markdown: rows that speed.py wrote as dicts, column by key, as they are."""
    columns = list(records[0])
    return markdown(columns, [[str(row[c]) for c in columns] for row in records])


def footnote(table: str) -> list[str]:
    """The † note and a blank line, where `table` marks a row with †."""
    return [OLD_VALIDATION, ""] if "†" in table else []


def section() -> str:
    """The README's results section, from whichever result files exist."""
    parts = []
    quality = HERE / "results" / "quality.json"
    if quality.is_file():
        results = json.loads(quality.read_text())
        trained = [run for run in results["runs"] if "settings" in run]
        table = quality_table(results)
        parts += [
            "### Quality on the paper's split (`ml-1m-ncf`)",
            "",
            table,
            "",
            *footnote(table),
            f"Settings: batch {distinct(trained, 'batch_size')}, early stopping on "
            "HR@10 of a validation item held out from each user's training data (ranked, "
            "like the test item, against 99 items the user never touched); the "
            "table reports the test metrics at the epoch validation chose, the validation "
            "HR@10 that chose it, and the best test epoch and the last epoch run beside them "
            "for honesty. Sampled metrics rank "
            "the test item among its 99 negatives; full-ranking ones among every item "
            "outside the user's training data. The last column gives each row's optimizer, "
            "learning rate, negatives per positive, L2 (per example, on the looked-up "
            "embeddings), epoch limit and patience; pre-trained NeuMF is fused with "
            "weight alpha (eq. 13) and fine-tuned from its GMF and MLP "
            f"rows. Machine: {results['machine']}. Generated by:",
            "",
            "```bash",
            *results.get("commands", ["python benchmarks/quality.py --data-dir DATA"]),
            "```",
            "",
        ]
    tuning = {
        path.name: json.loads(path.read_text())
        for path in sorted((HERE / "results").glob("quality-*.json"))
    }
    if tuning:
        table = tuning_table(tuning)
        parts += [
            "### Tuning runs",
            "",
            "Runs of `quality.py` with other settings, kept to show what was tried "
            "(`benchmarks/results/quality-*.json`; the same protocol as above):",
            "",
            table,
            "",
            *footnote(table),
            "```bash",
            *[command for results in tuning.values() for command in results["commands"]],
            "```",
            "",
        ]
    speed = HERE / "results" / "speed.json"
    if speed.is_file():
        results = json.loads(speed.read_text())
        parts += [
            "### Speed (`ml-1m-ncf`, factor 8)",
            "",
            records_table(results["rows"]),
            "",
            *results.get("notes", []),
            "",
        ]
        if results.get("time_to_quality_rows"):
            parts += [
                "Time to quality:",
                "",
                records_table(results["time_to_quality_rows"]),
                "",
            ]
        parts += [
            "```bash",
            *results.get("commands", ["python benchmarks/speed.py --data-dir DATA"]),
            "```",
            "",
        ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print", action="store_true", help="print instead of editing README")
    args = parser.parse_args()
    text = section()
    if args.print:
        print(text)
        return
    readme = README.read_text()
    if not MARKERS.search(readme):
        raise SystemExit(f"{README}: results markers not found")
    tmp = README.with_name(f".{README.name}.tmp")  # then a rename: never half a README
    tmp.write_text(MARKERS.sub(lambda m: m[1] + text + m[2], readme))
    tmp.replace(README)
    print(f"updated {README}")


if __name__ == "__main__":
    main()
