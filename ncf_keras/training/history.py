"""A fit's history: one row per epoch, history.csv rewritten on resume, and the best epoch."""

from __future__ import annotations

import csv
from pathlib import Path

import keras


def rewrite_history_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """history.csv as `HistoryCSV` wrote it for `rows`, dropping any later epoch."""
    if not rows:
        return
    keys = ["epoch", *sorted(key for key in rows[0] if key != "epoch")]
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", newline="") as file:
        writer = csv.DictWriter(file, keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def epoch_history(fitted: keras.callbacks.History) -> list[dict[str, float]]:
    """`model.fit`'s History as one dict per epoch: {"epoch": 1-based, "loss": ..., ...}."""
    logs = fitted.history
    return [
        {"epoch": epoch + 1, **{key: float(values[e]) for key, values in logs.items()}}
        for e, epoch in enumerate(fitted.epoch)
    ]


def summarize(history: list[dict[str, float]], k: int = 10) -> dict:
    """{"best": {"epoch", "hr@k", "ndcg@k"}, "final": {"hr@k", "ndcg@k"}}.

    The best epoch has the highest validation HR@k where the history has one,
    else the highest HR@k; the first of equal bests.
    """
    monitor = f"val_hr@{k}" if f"val_hr@{k}" in history[0] else f"hr@{k}"
    best = max(history, key=lambda row: row[monitor])
    last = history[-1]
    return {
        "best": {
            "epoch": best["epoch"],
            f"hr@{k}": best[f"hr@{k}"],
            f"ndcg@{k}": best[f"ndcg@{k}"],
        },
        "final": {f"hr@{k}": last[f"hr@{k}"], f"ndcg@{k}": last[f"ndcg@{k}"]},
    }
