"""Where one NeuMF-8 epoch on `ml-1m-ncf` spends its time, part by part, with a roofline beside it.

Each part is timed alone, in one process, after a warm-up call (so that no
tracing or compilation is counted), as the median of `--repeats` calls:

* **sampling**: one epoch's training rows (`training_instances`), as
  `TrainingSamples` draws them at the start of an epoch;
* **fit**: one epoch of `model.fit` on a `TrainingSamples`, its draw excluded,
  at the batch size `train` chooses for the data (`training_defaults`);
* **fit on arrays**: the same rows as in-memory arrays, so that fit minus this
  is the cost of serving batches from the `PyDataset`;
* **sampled eval**: `sampled_ranks` for all 6,040 users;
* JAX only, every step of the epoch in one compiled `lax.scan`, which leaves
  out Keras's per-call work and the host: the **forward** pass and loss,
  **forward + backward**, the same with the embeddings' gradients left out,
  and the whole **step** with Adam's update; each part's cost is its
  difference from the one before. One call of the whole step is then traced
  with JAX's profiler, which times every XLA operation: `scan_ops` gives the
  milliseconds per layer and pass (forward, backward, Adam's update) and the
  costliest operations, with the library that ran each (`op_breakdown`).

The roofline counts the model's multiply-adds per row from its layers and the
bytes of embedding rows each row reads, so that the measured seconds can be
set against the arithmetic. Run it once per backend:

    KERAS_BACKEND=jax python benchmarks/epoch_profile.py --data-dir "$NCF_DATA_DIR"
    KERAS_BACKEND=tensorflow python benchmarks/epoch_profile.py --data-dir "$NCF_DATA_DIR"

It prints one JSON object; benchmarks/README.md (*Where an epoch's time goes*)
holds the numbers and what they mean.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

import common
from common import Result, median_time

SEED = 0
NEGATIVES = 4


def roofline(model, rows: int) -> Result:
    """Multiply-adds and embedding bytes per training row, and per epoch of `rows` rows.

    Forward multiply-adds are those of the Dense layers (kernel sizes) plus the
    GMF product; backward costs about twice the forward. Each row gathers one
    user and one item row of every embedding table (float32) and, in the
    backward pass, scatters as many.
    """
    import keras

    from ncf_keras.layers import PairDense

    dense = sum(  # PairDense counted rows first, as the paper's layer: its tables-first way is less
        layer.kernel.shape[0] * layer.kernel.shape[1]
        for layer in model.layers
        if isinstance(layer, (keras.layers.Dense, PairDense))
    )
    tables = [layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)]
    tables += [
        table
        for layer in model.layers
        if isinstance(layer, PairDense)
        for table in (layer.user_embedding, layer.item_embedding)
    ]
    embedded = sum(table.embeddings.shape[1] for table in tables)
    gmf = max((t.embeddings.shape[1] for t in tables if "gmf" in t.name), default=0)
    forward_macs = dense + gmf
    return {
        "forward_macs_per_row": forward_macs,
        "train_flops_per_row": 2 * 3 * forward_macs,  # 2 FLOPs a multiply-add; backward ~2x
        "embedding_bytes_per_row": 2 * 4 * embedded,  # gathered, then as many scattered
        "train_gflop_per_epoch": 6 * forward_macs * rows / 1e9,
    }


def scanned_parts(model, samples, batch_size: int, repeats: int) -> Result:
    """Seconds of one epoch's steps in one `jax.jit`-compiled `lax.scan`, part by part (JAX)."""
    import jax
    import jax.numpy as jnp
    import keras

    steps = len(samples.labels) // batch_size
    cut = steps * batch_size
    users = jnp.asarray(samples.users[:cut].reshape(steps, batch_size).astype("int32"))
    items = jnp.asarray(samples.items[:cut].reshape(steps, batch_size).astype("int32"))
    labels = jnp.asarray(samples.labels[:cut].reshape(steps, batch_size, 1).astype("float32"))
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    optimizer_state = [v.value for v in model.optimizer.variables]
    tables = [k for k, v in enumerate(model.trainable_variables) if "embedding" in v.path]
    log_loss = keras.losses.BinaryCrossentropy()

    def loss(weights, batch):
        predicted, _ = model.stateless_call(weights, frozen, batch[0], training=True)
        return log_loss(batch[1], predicted)

    def dense_only(weights, batch):
        held = [jax.lax.stop_gradient(w) if k in tables else w for k, w in enumerate(weights)]
        return loss(held, batch)

    def step(part):
        def one(carry, xs):
            weights, state = carry
            batch = ({"user": xs[0], "item": xs[1]}, xs[2])
            if part == "forward":
                return carry, loss(weights, batch)
            grads = jax.grad(dense_only if part == "backward_dense" else loss)(weights, batch)
            if part != "step":
                return carry, sum(jnp.sum(g) for g in grads)
            weights, state = model.optimizer.stateless_apply(state, grads, weights)
            return (weights, state), 0.0

        return jax.jit(lambda w, s: jax.lax.scan(one, (w, s), (users, items, labels)))

    times = {}
    for part in ("forward", "backward_dense", "backward", "step"):
        run = step(part)
        jax.block_until_ready(run(trainable, optimizer_state))  # compiles
        times[f"scan_{part}_s"], _, _ = median_time(
            lambda run=run: jax.block_until_ready(run(trainable, optimizer_state)), repeats
        )
    compiled = step("step").lower(trainable, optimizer_state).compile()
    ops = op_breakdown(compiled, trainable, optimizer_state)
    return {"scan_steps": steps, **times, "scan_ops": ops}


OP_LINE = re.compile(r'^\s+(?:ROOT )?%(\S+) = (\S+) (\S+)\(.*metadata=\{op_name="([^"]*)"')


def op_breakdown(compiled, *args, top: int = 12) -> Result:
    """Milliseconds of each XLA operation in one call of `compiled`, by part of the model.

    JAX's profiler records every operation the XLA CPU runtime runs; each is
    named by its HLO instruction, whose metadata names the Keras layer it comes
    from and whether it is the forward pass (`jvp(layer)`) or the backward
    (`transpose(jvp(layer))`), or Adam's update (`adam/`). The library that ran
    it is YNNPACK for a `__ynn_fusion`, Eigen for a plain `dot`, else code XLA
    generated. Returns the total, the milliseconds per part, and the `top`
    operations with their output shape.
    """
    import gzip
    import tempfile

    import jax

    options = jax.profiler.ProfileOptions()
    options.python_tracer_level = 0
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, profiler_options=options):
            jax.block_until_ready(compiled(*args))
        (trace,) = Path(folder).rglob("*.trace.json.gz")
        events = json.loads(gzip.decompress(trace.read_bytes()))["traceEvents"]
    spent = collections.Counter()
    for event in events:
        op = event.get("args", {}).get("hlo_op")
        if event.get("ph") == "X" and op:
            spent[op] += event["dur"] / 1000
    ops = dict(filter(None, map(describe_op, compiled.as_text().splitlines())))
    by_part = collections.Counter()
    for op, ms in spent.items():
        by_part[ops.get(op, {}).get("part", "other")] += ms
    return {
        "total_ms": sum(spent.values()),
        "by_part_ms": dict(by_part.most_common()),
        "top": [{"op": op, "ms": ms, **ops.get(op, {})} for op, ms in spent.most_common(top)],
    }


def describe_op(line: str) -> tuple[str, Result] | None:
    """(name, its output shape, library and part) of the HLO instruction on `line`, or None
    for a line that defines no instruction with metadata."""
    found = OP_LINE.match(line)
    if found is None:
        return None
    name, shape, opcode, op_name = found.groups()
    library = "ynnpack" if "__ynn_fusion" in line else "eigen" if opcode == "dot" else "xla"
    return name, {"shape": shape.split("{")[0], "library": library, "part": part_of(op_name)}


def part_of(op_name: str) -> str:
    """The part of a training step an XLA instruction's `op_name` metadata belongs to:
    "Adam's update", or the innermost Keras layer with "forward" or "backward"."""
    if "/adam/" in op_name:
        return "Adam's update"
    layers = re.findall(r"jvp\(([^()]+)\)", op_name)
    if not layers:
        return "other"
    return f"{layers[-1]} {'backward' if 'transpose(' in op_name else 'forward'}"


def profile(data_dir: str | None, repeats: int) -> Result:
    """Every part of one NeuMF-8 epoch, timed alone, with the roofline."""
    from ncf_keras.keras_startup import import_keras_quietly

    import_keras_quietly()
    import keras

    from ncf_keras.data.sources import load_dataset
    from ncf_keras.metrics import sampled_ranks
    from ncf_keras.training.batches import TrainingSamples

    dataset = load_dataset(common.DATASET, data_dir)
    sample_s, _ = common.epoch_draw_seconds(dataset, NEGATIVES, SEED, repeats)
    model, fitted, chosen = common.model_at_defaults("neumf", dataset, 8, NEGATIVES, SEED)
    batch_size = chosen["batch_size"]
    samples = TrainingSamples(dataset, NEGATIVES, batch_size, SEED, prefetch=False)
    _, fit_s, _, _ = common.fit_epoch_seconds(fitted, samples, repeats)  # as `train` fits it
    x = {"user": samples.users, "item": samples.items.astype("int32")}
    y = samples.labels.astype("float32")
    arrays = {"batch_size": batch_size, "epochs": 1, "verbose": 0, "shuffle": False}
    fitted.fit(x, y, **arrays)  # warm-up: its own data adapter
    arrays_s, _, _ = median_time(lambda: fitted.fit(x, y, **arrays), repeats)
    sampled_ranks(model, dataset)
    eval_s, _, _ = median_time(lambda: sampled_ranks(model, dataset), repeats)
    result = {
        "backend": keras.backend.backend(),
        "dataset": common.dataset_summary(dataset, data_dir, NEGATIVES),
        **chosen,
        "steps": len(samples),
        "sample_s": sample_s,
        "fit_s": fit_s,
        "fit_on_arrays_s": arrays_s,
        "sampled_eval_s": eval_s,
        "roofline": roofline(model, len(samples.labels)),
        "environment": common.environment(),
    }
    if keras.backend.backend() == "jax" and chosen["optimizer"] == "adam":
        result |= scanned_parts(model, samples, batch_size, repeats)
    return result


def main() -> None:
    """Profile on the backend KERAS_BACKEND names; print (and with --json, write) the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="data folder (default: $NCF_DATA_DIR, else data/)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per part (default 3)")
    parser.add_argument("--json", type=Path, help="also write the result to this JSON file")
    args = parser.parse_args()
    result = profile(args.data_dir, args.repeats)
    print(json.dumps(result, indent=1))
    if args.json:
        common.write_results(args.json, result)


if __name__ == "__main__":
    main()
