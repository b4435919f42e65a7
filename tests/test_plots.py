"""plots.plot_runs, plots.plot_hit_rate and plots.run_labels on hand-built metrics.json
contents (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from ncf_keras import paper_results
from ncf_keras.plots import plot_hit_rate, plot_runs, run_label, run_labels


def metrics(
    model: str = "gmf",
    dataset: str = "synthetic",
    *,
    epochs: int = 3,
    pretrained: bool = False,
    start: float | None = None,
    **config: object,
) -> dict:
    """A run's metrics.json content as `runs.write_run` writes it, with made-up HR@10.

    Args:
        model, dataset, epochs, pretrained, config: the run's settings.
        start: the HR@10 before the first epoch, recorded as "start" (default: none,
            as in runs written before "start" was recorded).
    """
    config = {
        "model": model,
        "dataset": dataset,
        "epochs": epochs,
        "factors": 8,
        "layers": [64, 32, 16, 8],
        "negatives": 4,
        "batch_size": 256,
        "optimizer": "adam",
        "learning_rate": 0.001,
        "l2": 0.0,
        "seed": 0,
        "pretrained": pretrained,
        "alpha": 0.5 if pretrained else None,
        **config,
    }
    history = [
        {"epoch": e, "loss": 0.5 / e, "hr@10": 0.3 + 0.1 * e, "ndcg@10": 0.2 + 0.05 * e}
        for e in range(1, epochs + 1)
    ]
    run = {"model": model, "dataset": dataset, "config": config, "history": history}
    if start is not None:
        run["start"] = {"hr@10": start, "ndcg@10": start / 2}
    return run


def legend(fig: Figure) -> list[str]:
    """The labels in the figure's legend: curves first, then the paper's lines."""
    (shown,) = fig.legends
    return [text.get_text() for text in shown.get_texts()]


def test_a_single_run_keeps_its_plain_label(tmp_path: Path) -> None:
    fig = plot_runs([metrics("neumf", pretrained=True)], tmp_path / "hit_rate.png")
    assert legend(fig) == ["NeuMF (pre-trained)"]
    assert (tmp_path / "hit_rate.png").stat().st_size > 0


def test_run_label_keeps_its_meaning() -> None:
    assert run_label(metrics("neumf", pretrained=True)) == "neumf-pretrained"
    assert run_label(metrics("neumf")) == "neumf"
    assert run_label(metrics("gmf")) == "gmf"


def test_two_seeds_of_one_model_get_two_curves() -> None:
    runs = [metrics(seed=0), metrics(seed=1)]
    assert run_labels(runs) == ["GMF, seed 0", "GMF, seed 1"]
    fig = plot_runs(runs, None)
    assert legend(fig) == ["GMF, seed 0", "GMF, seed 1"]
    assert len(fig.axes[0].get_lines()) == 2


def test_two_factor_counts_of_one_model_are_told_apart() -> None:
    runs = [metrics(factors=8), metrics(factors=16)]
    assert run_labels(runs) == ["GMF, factors 8", "GMF, factors 16"]


def test_two_learning_rates_are_told_apart_as_lr() -> None:
    """The config's "learning_rate" (read_run gives it for older runs too) shows as "lr"."""
    runs = [metrics(learning_rate=0.001), metrics(learning_rate=0.003)]
    assert run_labels(runs) == ["GMF, lr 0.001", "GMF, lr 0.003"]


def test_only_runs_of_the_same_model_add_settings() -> None:
    runs = [metrics("gmf", seed=1), metrics("gmf", seed=2), metrics("mlp", seed=3)]
    assert run_labels(runs) == ["GMF, seed 1", "GMF, seed 2", "MLP"]


def test_identical_runs_are_numbered() -> None:
    runs = [metrics(), metrics()]
    assert run_labels(runs) == ["GMF #1", "GMF #2"]
    assert legend(plot_runs(runs)) == ["GMF #1", "GMF #2"]


def test_the_title_names_every_dataset() -> None:
    runs = [metrics(dataset="ml-1m-ncf"), metrics(dataset="synthetic")]
    fig = plot_runs(runs)
    assert fig.axes[0].get_title() == "HR@10 per epoch on ml-1m-ncf and synthetic"
    assert legend(fig) == ["GMF, ml-1m-ncf", "GMF, synthetic"]


def test_epoch_ticks_are_integers() -> None:
    # over two epochs matplotlib's default ticks would be 1.0, 1.2, ..., 2.0
    ax = plot_runs([metrics(epochs=2), metrics(epochs=1, seed=1)]).axes[0]
    low, high = ax.get_xlim()
    shown = [t for t in ax.get_xticks() if low <= t <= high]
    assert shown == [1, 2]


def test_the_paper_line_is_drawn_once_per_model_on_the_ncf_split() -> None:
    runs = [
        metrics("neumf", "ml-1m-ncf", seed=0),
        metrics("neumf", "ml-1m-ncf", seed=1),
        metrics("neumf", "synthetic", seed=2),
        metrics("mlp", "synthetic"),
    ]
    fig = plot_runs(runs)
    hr = paper_results.reported("neumf", 8)[0]
    assert legend(fig) == [
        "NeuMF, ml-1m-ncf, seed 0",
        "NeuMF, ml-1m-ncf, seed 1",
        "NeuMF, synthetic, seed 2",
        "MLP",
        f"NeuMF: paper {hr:.3f}",
    ]
    # the paper's line takes the colour of the first NeuMF run on ml-1m-ncf
    colours = {line.get_label(): line.get_color() for line in fig.axes[0].get_lines()}
    assert colours[f"NeuMF: paper {hr:.3f}"] == colours["NeuMF, ml-1m-ncf, seed 0"]


def test_no_paper_line_off_the_ncf_split() -> None:
    assert legend(plot_runs([metrics("neumf", "synthetic")])) == ["NeuMF"]


def test_one_paper_line_per_factor_count() -> None:
    runs = [metrics("mlp", "ml-1m-ncf", factors=8), metrics("mlp", "ml-1m-ncf", factors=64)]
    hr8, hr64 = paper_results.reported("mlp", 8)[0], paper_results.reported("mlp", 64)[0]
    assert legend(plot_runs(runs)) == [
        "MLP, factors 8",
        "MLP, factors 64",
        f"MLP, factors 8: paper {hr8:.3f}",
        f"MLP, factors 64: paper {hr64:.3f}",
    ]


def test_the_loss_panel_shows_each_runs_training_loss_in_its_colour() -> None:
    runs = [metrics("gmf"), metrics("mlp", epochs=2)]
    hr_ax, loss_ax = plot_runs(runs).axes
    assert loss_ax.get_title() == "Training loss per epoch"
    losses = {line.get_label(): line for line in loss_ax.get_lines()}
    assert list(losses) == ["GMF", "MLP"]
    for run, line in zip(runs, losses.values(), strict=True):
        assert list(line.get_xdata()) == [row["epoch"] for row in run["history"]]
        assert list(line.get_ydata()) == [row["loss"] for row in run["history"]]
    colours = {line.get_label(): line.get_color() for line in hr_ax.get_lines()}
    assert {label: line.get_color() for label, line in losses.items()} == colours


def test_a_recorded_start_is_the_curves_epoch_0() -> None:
    runs = [metrics("gmf"), metrics("neumf", pretrained=True, start=0.55)]
    gmf, neumf = plot_runs(runs).axes[0].get_lines()
    assert list(gmf.get_xdata()) == [1, 2, 3]  # no "start": the curve begins after epoch 1
    assert list(neumf.get_xdata()) == [0, 1, 2, 3]
    assert list(neumf.get_ydata()) == [0.55] + [row["hr@10"] for row in runs[1]["history"]]


def overlaps(fig: Figure) -> list[str]:
    """The titles of the axes whose drawing area a legend overlaps, the figure's or an axes'."""
    fig.draw_without_rendering()  # lays the figure out, as saving it would
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends
    return [
        ax.get_title()
        for ax in fig.axes
        for shown in legends
        if ax.get_window_extent().overlaps(shown.get_window_extent())
    ]


@pytest.mark.parametrize("count", [1, 4])
def test_the_legend_covers_no_line(count: int) -> None:
    models = ["gmf", "mlp", "neumf", "neumf"][:count]
    runs = [
        metrics(m, "ml-1m-ncf", epochs=20, pretrained=i == 3, start=0.6 if i == 3 else None)
        for i, m in enumerate(models)
    ]
    assert overlaps(plot_runs(runs)) == []
    curves = {"GMF": [0.45 + 0.01 * e for e in range(20)]}
    assert overlaps(plot_hit_rate(curves, references={"GMF": 0.64})) == []


def test_the_paper_line_lies_inside_the_axes() -> None:
    # A curve that ends just below the paper's value: without a new autoscale the
    # axes would end at that value and hide the dashed line in their frame.
    curve = [0.5 + 0.144 * e / 19 for e in range(20)]
    ax = plot_hit_rate({"GMF": curve}, references={"GMF": 0.65}).axes[0]
    low, high = ax.get_ylim()
    assert high > 0.65 + 0.02 * (high - low)
