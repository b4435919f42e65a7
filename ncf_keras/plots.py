"""HR@10 per epoch, with the paper's reported values as reference lines.

`plot_hit_rate` draws curves given by hand; `plot_runs` draws run folders' metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from ncf_keras import paper


def plot_hit_rate(
    curves: Mapping[str, Sequence[float]],
    path: str | Path | None = None,
    references: Mapping[str, float] | None = None,
    title: str = "HR@10 per epoch",
) -> plt.Figure:
    """Plot HR@10 against epoch, one line per run, and save it as PNG.

    Args:
        curves: label -> HR@10 after epochs 1, 2, ...
        path: where to write the PNG (written to a temporary file, then renamed).
        references: label -> the HR@10 the paper reports, drawn as a dashed
            horizontal line labelled "paper", in the colour of the curve with
            the same label (grey otherwise).
        title: the figure title.

    Returns: the matplotlib Figure.
    """
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colours = {}
    for label, values in curves.items():
        (line,) = ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        colours[label] = line.get_color()
    for label, value in (references or {}).items():
        ax.axhline(
            value,
            linestyle="--",
            linewidth=1,
            color=colours.get(label, "grey"),
            label=f"{label}: paper {value:.3f}",
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("HR@10")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.png")
        fig.savefig(tmp, dpi=120)
        tmp.replace(path)
    return fig


def run_label(metrics: dict) -> str:
    """The run's label: "neumf-pretrained" for a pre-trained NeuMF run, else the model name."""
    return metrics["model"] + ("-pretrained" if metrics["config"].get("pretrained") else "")


def plot_runs(runs: list[dict], path: Path) -> None:
    """HR@10 curves of runs into one PNG, with the paper's values for the NCF split."""
    curves, references = {}, {}
    for metrics in runs:
        key = run_label(metrics)
        label = paper.LABELS.get(key, key)
        curves[label] = [row["hr@10"] for row in metrics["history"]]
        reported = paper.reported(key, metrics["config"]["factors"])
        if metrics["dataset"] == "ml-1m-ncf" and reported is not None:
            references[label] = reported[0]
    title = f"HR@10 per epoch on {runs[0]['dataset']}"
    plt.close(plot_hit_rate(curves, path, references, title))
