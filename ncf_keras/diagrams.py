"""Architecture diagrams of Keras functional models, drawn with matplotlib only.

`draw_model(model)` lays out the layer graph of a built functional model: one
box per layer (name, kind, output shape), arrows from each layer's inputs to
the layer, rows by depth (the longest path from an input), inputs at the top.
No graphviz or pydot needed, unlike `keras.utils.plot_model`.

The graph is read from `model.get_config()`, the public description of a
functional model that `.keras` files store too.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ncf_keras.errors import DataError

BOX_WIDTH = 1.0  # in data units; one column is BOX_WIDTH + GAP wide
BOX_HEIGHT = 0.62
GAP = 0.25
ROW_HEIGHT = 1.0

# Fill colour by layer class; anything else is grey.
COLOURS = {
    "InputLayer": "#dbe9f6",
    "Embedding": "#fde2c8",
    "Multiply": "#d9f0d3",
    "Concatenate": "#d9f0d3",
    "Dense": "#e8dcf0",
    "PairDense": "#e8dcf0",
}


def layer_graph(model: keras.Model) -> dict[str, list[str]]:
    """{layer name: names of the layers it takes input from}, in `model.layers` order."""
    config = model.get_config()
    if "layers" not in config:
        raise DataError(f"{model.name}: not a functional model; cannot read its layer graph")
    graph = {}
    for layer in config["layers"]:
        parents = []
        for name in _histories(layer.get("inbound_nodes", [])):
            if name not in parents:
                parents.append(name)
        graph[layer["name"]] = parents
    order = [layer.name for layer in model.layers]
    return {name: graph[name] for name in order if name in graph}


def _histories(node) -> Iterator[str]:
    """The layer names of every `keras_history` entry nested in an inbound-node config."""
    if isinstance(node, dict):
        if "keras_history" in node:
            yield node["keras_history"][0]
        for value in node.values():
            yield from _histories(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _histories(value)


def depths(graph: dict[str, list[str]]) -> dict[str, int]:
    """Depth of each layer: 0 for inputs, else 1 + the largest depth of its parents."""
    depth: dict[str, int] = {}

    def visit(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((visit(p) for p in graph.get(name, [])), default=-1)
        return depth[name]

    for name in graph:
        visit(name)
    return depth


def layout(graph: dict[str, list[str]]) -> dict[str, tuple[float, float]]:
    """(x, y) centre of each layer's box: rows by depth, going down.

    Inputs are spaced evenly. A deeper layer sits under the mean x of its
    parents; boxes of a row keep the order of `graph` and are pushed apart
    where they would overlap, then the row is re-centred on where its boxes
    wanted to be.
    """
    depth = depths(graph)
    rows: dict[int, list[str]] = {}
    for name in graph:
        rows.setdefault(depth[name], []).append(name)
    step = BOX_WIDTH + GAP
    x: dict[str, float] = {}
    for d in sorted(rows):
        names = rows[d]
        if d == 0:
            want = [(j - (len(names) - 1) / 2) * step for j in range(len(names))]
        else:
            want = [sum(x[p] for p in graph[n]) / len(graph[n]) for n in names]
        placed = list(want)
        for j in range(1, len(placed)):
            placed[j] = max(placed[j], placed[j - 1] + step)
        shift = sum(w - p for w, p in zip(want, placed, strict=True)) / len(names)
        for name, value in zip(names, placed, strict=True):
            x[name] = value + shift
    return {name: (x[name], -depth[name] * ROW_HEIGHT) for name in graph}


def describe(layer: keras.layers.Layer) -> str:
    """A short kind for a box: "Embedding(6040, 8)", "Dense 32, relu", "Input int32"."""
    kind = type(layer).__name__
    if kind == "InputLayer":
        return f"Input {layer.output.dtype}"
    if kind == "Embedding":
        return f"Embedding({layer.input_dim}, {layer.output_dim})"
    if kind in ("Dense", "PairDense"):  # PairDense: the embeddings and the MLP's first layer
        return f"{kind} {layer.units}, {keras.activations.serialize(layer.activation)}"
    return kind


def output_shape(layer: keras.layers.Layer) -> str:
    """The layer's output shape as text, batch dimension as None."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):  # a layer called more than once
        return "shape varies"
    return str(tuple(shape))


def draw_model(model: keras.Model, title: str | None = None) -> plt.Figure:
    """Draw the layer graph of a built functional Keras model.

    Each layer is a box with its name, its kind (e.g. "Dense 32, relu") and its
    output shape; arrows go from a layer's inputs to the layer; inputs are at
    the top and the output at the bottom.

    Args:
        model: a functional `keras.Model` (built by calling layers on `keras.Input`s).
        title: the figure title (default: the model's name).

    Returns: the matplotlib Figure.
    """
    graph = layer_graph(model)
    pos = layout(graph)
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    left, right = min(xs) - BOX_WIDTH / 2 - 0.1, max(xs) + BOX_WIDTH / 2 + 0.1
    bottom, top = min(ys) - BOX_HEIGHT / 2 - 0.1, max(ys) + BOX_HEIGHT / 2 + 0.1
    inches = 2.1  # per data unit
    fig, ax = plt.subplots(
        figsize=(max(3.0, (right - left) * inches), (top - bottom) * inches * 0.62 + 0.5)
    )
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.axis("off")
    ax.set_title(title if title is not None else model.name, fontsize=11)

    for name, parents in graph.items():
        x, y = pos[name]
        for parent in parents:
            px, py = pos[parent]
            ax.add_patch(
                FancyArrowPatch(
                    (px, py - BOX_HEIGHT / 2),
                    (x, y + BOX_HEIGHT / 2),
                    arrowstyle="-|>",
                    mutation_scale=10,
                    linewidth=0.9,
                    color="#555555",
                    shrinkA=0,
                    shrinkB=1,
                    zorder=1,
                )
            )
    for name in graph:
        layer = model.get_layer(name)
        x, y = pos[name]
        ax.add_patch(
            FancyBboxPatch(
                (x - BOX_WIDTH / 2, y - BOX_HEIGHT / 2),
                BOX_WIDTH,
                BOX_HEIGHT,
                boxstyle="round,pad=0,rounding_size=0.06",
                facecolor=COLOURS.get(type(layer).__name__, "#eeeeee"),
                edgecolor="#444444",
                linewidth=0.8,
                zorder=2,
            )
        )
        ax.text(x, y + 0.15, name, ha="center", va="center", fontsize=8, weight="bold", zorder=3)
        ax.text(x, y - 0.02, describe(layer), ha="center", va="center", fontsize=7.5, zorder=3)
        ax.text(
            x,
            y - 0.18,
            output_shape(layer),
            ha="center",
            va="center",
            fontsize=7.5,
            family="monospace",
            color="#333333",
            zorder=3,
        )
    fig.tight_layout()
    return fig
