"""HR@10 and training loss per epoch, with the paper's reported values as reference lines.

`plot_hit_rate` draws HR@10 curves given by hand; `plot_runs` draws run folders'
metrics: HR@10 and the training loss side by side, one curve per run, labelled by
`run_labels`. Legends go below the axes, where they cover no line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from ncf_keras import paper_results
from ncf_keras.errors import written_as


def plot_hit_rate(
    curves: Mapping[str, Sequence[float]],
    path: str | Path | None = None,
    references: Mapping[str, float] | None = None,
    title: str = "HR@10 per epoch",
    reference_colours: Mapping[str, str] | None = None,
) -> plt.Figure:
    """Plot HR@10 against epoch, one line per run, and save it as PNG.

    Args:
        curves: label -> HR@10 after epochs 1, 2, ...
        path: where to write the PNG (written to a temporary file, then renamed).
        references: label -> the HR@10 the paper reports, drawn as a dashed
            horizontal line labelled "paper", in the colour of the curve with
            the same label (grey otherwise).
        title: the figure title.
        reference_colours: reference label -> the label of the curve whose
            colour its line takes, for references named otherwise than a curve.

    Returns: the matplotlib Figure.
    """
    fig, ax = plt.subplots(figsize=(7, 4.6), layout="constrained")
    _draw_hit_rate(ax, curves, references or {}, reference_colours or {})
    ax.set_title(title)
    _legend_below(fig, ax)
    _save(fig, path)
    return fig


def _draw_hit_rate(
    ax: plt.Axes,
    curves: Mapping[str, Sequence[float]],
    references: Mapping[str, float],
    reference_colours: Mapping[str, str],
    starts: Mapping[str, float] | None = None,
) -> dict[str, str]:
    """Draw HR@10 curves and the paper's lines on `ax`; return each curve's colour.

    Args:
        ax: the axes to draw on.
        curves, references, reference_colours: as in `plot_hit_rate`.
        starts: label -> HR@10 before the first epoch, drawn at epoch 0 as the
            first point of that label's curve.
    """
    starts = starts or {}
    colours = {}
    for label, values in curves.items():
        points = list(values)
        first_epoch = 1
        if label in starts:
            points.insert(0, starts[label])
            first_epoch = 0
        epochs = range(first_epoch, first_epoch + len(points))
        (line,) = ax.plot(epochs, points, marker="o", markersize=3, label=label)
        colours[label] = line.get_color()
    for label, value in references.items():
        curve = reference_colours.get(label, label)
        ax.axhline(
            value,
            linestyle="--",
            linewidth=1,
            color=colours.get(curve, "grey"),
            label=f"{label}: paper {value:.3f}",
        )
    ax.autoscale(axis="y")  # a margin beyond the paper's lines too, not only the curves
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (0: before the first)" if starts else "epoch")
    ax.set_ylabel("HR@10")
    ax.grid(alpha=0.3)
    return colours


def _legend_below(fig: plt.Figure, ax: plt.Axes) -> None:
    """One legend for the whole figure, below its axes, of `ax`'s labelled lines.

    `loc="outside ..."` makes the figure's constrained layout leave room for it,
    so that it covers no line, however the curves run.
    """
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize=8)


def _save(fig: plt.Figure, path: str | Path | None) -> None:
    """Write `fig` as PNG to `path` (to a temporary file, then renamed); None writes nothing."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    with written_as(path, tmp):
        fig.savefig(tmp, dpi=120)
    tmp.replace(path)


def run_label(metrics: dict) -> str:
    """The run's label: "neumf-pretrained" for a pre-trained NeuMF run, else the model name.

    Args:
        metrics: a run's metrics.json content.
    """
    return metrics["model"] + ("-pretrained" if metrics["config"].get("pretrained") else "")


# The settings that tell runs of one model apart in a legend, in the order they
# are written. "dataset" is the run's dataset; the others come from its config
# (as `runs.folder.read_run` gives it: "learning_rate", also for older runs).
COMPARED_KEYS = (
    "dataset",
    "factors",
    "layers",
    "seed",
    "learning_rate",
    "batch_size",
    "negatives",
    "l2",
    "optimizer",
)

SHORT_KEYS = {"learning_rate": "lr"}  # the legend's name for a setting, where shorter


def _setting(metrics: dict, key: str) -> object:
    """One compared setting of a run; lists become tuples so that they compare and hash."""
    value = metrics["dataset"] if key == "dataset" else metrics["config"].get(key)
    return tuple(value) if isinstance(value, list) else value


def _describe(key: str, value: object) -> str:
    """A setting as legend text: "synthetic", "factors 16", "layers 64-32-16-8", "lr 0.001"."""
    if key == "dataset":
        return str(value)
    key = SHORT_KEYS.get(key, key)
    if isinstance(value, tuple):
        text = "-".join(str(v) for v in value)
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return f"{key} {text}"


def run_labels(runs: Sequence[dict]) -> list[str]:
    """Legend labels for runs drawn together, one per run and all different.

    A run is labelled by its model (`paper_results.LABELS`, e.g. "NeuMF (pre-trained)").
    Runs that share a model label add the `COMPARED_KEYS` whose values differ
    among them, e.g. "GMF, factors 8, seed 1" or "GMF, synthetic". Runs still
    alike after that are numbered: "GMF #1", "GMF #2". A model with one run
    keeps its plain label.

    Args:
        runs: metrics.json contents, in the order they are drawn.
    """
    models = [paper_results.LABELS.get(run_label(m), run_label(m)) for m in runs]
    labels = []
    for model, metrics in zip(models, runs, strict=True):
        group = [m for other, m in zip(models, runs, strict=True) if other == model]
        differing = [k for k in COMPARED_KEYS if len({_setting(m, k) for m in group}) > 1]
        labels.append(", ".join([model] + [_describe(k, _setting(metrics, k)) for k in differing]))
    counts = Counter(labels)
    seen: Counter[str] = Counter()
    numbered = []
    for label in labels:
        seen[label] += 1
        numbered.append(f"{label} #{seen[label]}" if counts[label] > 1 else label)
    return numbered


def _joined(names: Sequence[str]) -> str:
    """["a"] -> "a"; ["a", "b"] -> "a and b"; ["a", "b", "c"] -> "a, b and c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def plot_runs(runs: Sequence[dict], path: str | Path | None = None) -> plt.Figure:
    """HR@10 and training loss curves of runs into one PNG, with the paper's HR@10 values.

    Two panels share the epoch axis: HR@10 on the left, the training loss
    (`history[i]["loss"]`) on the right, each run in one colour in both and
    labelled by `run_labels` in one legend below them. A run that records its
    score before the first epoch (metrics.json "start", as a pre-trained NeuMF
    run does) starts its HR@10 curve there, at epoch 0. The paper's HR@10 is
    drawn once per model label and factor count, for runs on "ml-1m-ncf" only,
    in the colour of that model's first such run. The HR@10 panel's title
    names every dataset.

    Args:
        runs: metrics.json contents ("model", "dataset", "config", "history",
            and optionally "start").
        path: where to write the PNG; None writes nothing.

    Returns: the Figure, already closed in pyplot (so that notebooks do not
        show it twice), for reading its axes, legend and titles.
    """
    labels = run_labels(runs)
    curves, losses, starts = {}, {}, {}
    # (model label, factors) -> (reported HR@10, label of the first run it belongs to)
    reported: dict[tuple[str, int], tuple[float, str]] = {}
    for label, metrics in zip(labels, runs, strict=True):
        curves[label] = [row["hr@10"] for row in metrics["history"]]
        losses[label] = [row["loss"] for row in metrics["history"]]
        if "start" in metrics:  # older runs lack it
            starts[label] = metrics["start"]["hr@10"]
        key, factors = run_label(metrics), metrics["config"]["factors"]
        values = paper_results.reported(key, factors)
        if metrics["dataset"] == "ml-1m-ncf" and values is not None:
            reported.setdefault((paper_results.LABELS.get(key, key), factors), (values[0], label))
    references, reference_colours = {}, {}
    for (model, factors), (value, curve) in reported.items():
        several = sum(m == model for m, _ in reported) > 1
        name = f"{model}, factors {factors}" if several else model
        references[name] = value
        reference_colours[name] = curve

    fig, (hr_ax, loss_ax) = plt.subplots(1, 2, figsize=(12, 4.8), sharex=True, layout="constrained")
    colours = _draw_hit_rate(hr_ax, curves, references, reference_colours, starts)
    datasets = list(dict.fromkeys(m["dataset"] for m in runs))
    hr_ax.set_title(f"HR@10 per epoch on {_joined(datasets)}")
    for label, values in losses.items():
        epochs = range(1, len(values) + 1)
        loss_ax.plot(epochs, values, marker="o", markersize=3, color=colours[label], label=label)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss (log loss)")
    loss_ax.set_title("Training loss per epoch")
    loss_ax.grid(alpha=0.3)
    _legend_below(fig, hr_ax)  # the loss lines have the same labels and colours
    _save(fig, path)
    plt.close(fig)
    return fig
