"""How the cost of an epoch grows with the data: NeuMF-8 on ML-20M-like synthetic logs.

For each size (interactions; users and items scale with them at ML-20M's
density, 138,493 users and 26,744 items at 20M) and each Keras backend, one
worker process measures:

* **load**: generating the log and splitting it (`--dataset synthetic:...`:
  `synthetic_logs.interaction_log`, `leave_one_out`, 99 test negatives per user);
* **sampling**: drawing one epoch's training rows (4 negatives per positive);
* **fit**: training rows per second over `--fit-steps` steps of `model.fit`
  after a warm-up call, and the epoch's fit seconds at that rate. When the
  steps do not cover the epoch this is an extrapolation, and the table marks it;
* **sampled evaluation**: every user's test item against its 99 negatives;
* **full ranking**: the test item against every unseen item, for a fixed sample
  of `--full-users` users, in seconds per 1,000 users (both evaluations are
  timed on their second call, after `predict` has compiled);
* **peak RSS** of the worker.

An epoch is sampling + fit + sampled evaluation. A log-log fit of epoch seconds
against interactions gives the slope printed with the table and drawn into
`figures/scale.png`: 1 is linear cost, as it should be.

    python benchmarks/scale.py --sizes 1M,5M,20M --optimizers adam,lazy-adam \
        --batch-sizes 1024,65536 --backend both \
        --json benchmarks/results/scale.json --figure figures/scale.png

A JSON file made with the same `--fit-steps` and `--full-users` keeps its runs:
a later invocation measures only the setups and sizes it lacks.

`--long-tail SPEC` measures instead a long-tailed log's load and whole
one-epoch `train` runs, one per `--train-flags` set (`scale_long_tail.py`):

    python benchmarks/scale.py --backend tensorflow \
        --long-tail synthetic:users=3000000,items=200000,interactions=6000000,min_per_user=2 \
        --train-flags lazy-adam+large-batch,lazy-adam,large-batch \
        --json benchmarks/results/scale-long-tail.json

`python benchmarks/report.py` puts the table into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from itertools import product
from pathlib import Path

import common
import scale_long_tail
from common import Result, peak_rss_mib, timed

ML_20M = {"users": 138_493, "items": 26_744, "interactions": 20_000_263}
SEED = 0
NEGATIVES = 4
FACTORS = 8  # NeuMF-8: GMF 8, MLP 64-32-16-8
BATCH_SIZES = [1_024, 16_384]
OPTIMIZERS = ["adam"]
LEARNING_RATE = 0.01


def parse_size(text: str) -> int:
    """'1M' -> 1_000_000, '500k' -> 500_000, '2000' -> 2000."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    number = text[:-1] if scale > 1 else text
    try:
        return int(float(number) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 1M or 500k, got {text!r}"
        ) from None


def spec(interactions: int) -> str:
    """The `--dataset` form of an ML-20M-like log with `interactions` rows."""
    share = interactions / ML_20M["interactions"]
    users = max(100, round(ML_20M["users"] * share))
    items = max(1_000, round(ML_20M["items"] * share))
    return f"synthetic:users={users},items={items},interactions={interactions}"


def measure(
    interactions: int, fit_steps: int, full_users: int, optimizer: str, batch_size: int
) -> Result:
    """One size and setup on the backend that KERAS_BACKEND names; runs in a worker process."""
    import keras
    import numpy as np

    from ncf_keras.data.sampling import random_stream, training_instances
    from ncf_keras.data.sources import load_dataset
    from ncf_keras.metrics import full_ranks, sampled_ranks
    from ncf_keras.models import build_model
    from ncf_keras.training.batches import TrainingSamples
    from ncf_keras.training.fit import STEPS_PER_EXECUTION, compile_model

    load_s, dataset = timed(lambda: load_dataset(spec(interactions), seed=SEED))
    sample_s, _ = timed(
        lambda: training_instances(
            dataset.train_users,
            dataset.train_items,
            dataset.unseen_in_train,
            NEGATIVES,
            random_stream(SEED, "epoch", 1),
        )
    )
    keras.utils.set_random_seed(SEED)
    model = build_model("neumf", dataset.num_users, dataset.num_items, FACTORS)
    model = compile_model(model, optimizer, learning_rate=LEARNING_RATE)  # lazy-adam: its view
    samples = TrainingSamples(dataset, NEGATIVES, batch_size, SEED, prefetch=False)
    steps = min(fit_steps, len(samples))
    warmup = min(steps, 2 * STEPS_PER_EXECUTION)  # traces and compiles the step
    model.fit(samples, epochs=1, steps_per_epoch=warmup, verbose=0, shuffle=False)
    fit_s, _ = timed(
        lambda: model.fit(samples, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    )
    rows_per_s = steps * batch_size / fit_s
    sampled_ranks(model, dataset)  # the first call traces and compiles predict
    sampled_s, _ = timed(lambda: sampled_ranks(model, dataset))
    users = np.random.default_rng(SEED).choice(
        dataset.num_users, min(full_users, dataset.num_users), replace=False
    )
    full_ranks(model, dataset, users=users[:1])
    full_s, _ = timed(lambda: full_ranks(model, dataset, users=users))
    rows = len(samples.labels)
    epoch_fit_s = rows / rows_per_s
    return {
        "backend": keras.backend.backend(),
        "optimizer": optimizer,
        "batch_size": batch_size,
        "devices": device_count(),
        "interactions": interactions,
        "users": dataset.num_users,
        "items": dataset.num_items,
        "positives": len(dataset.train_users),
        "rows": rows,
        "load_s": load_s,
        "sample_s": sample_s,
        "fit_steps": steps,
        "epoch_steps": len(samples),
        "rows_per_s": rows_per_s,
        "fit_s": epoch_fit_s,
        "sampled_eval_s": sampled_s,
        "full_eval_s_per_1000_users": full_s * 1000 / len(users),
        "epoch_s": sample_s + epoch_fit_s + sampled_s,
        "peak_rss_mib": peak_rss_mib(),
    }


def device_count() -> int:
    """Devices a data-parallel run would use: all local devices on JAX, else 1."""
    import keras

    if keras.backend.backend() != "jax":
        return 1
    return len(keras.distribution.list_devices())


def run_scale(args: argparse.Namespace, kept: list[Result]) -> Result:
    """Every (backend, optimizer, batch size, size) measurement not in `kept` (whose
    runs are kept), each in its own process."""
    results: Result = {"runs": list(kept), "skipped": []}
    done = {(r["backend"], r["optimizer"], r["batch_size"], r["interactions"]) for r in kept}
    for backend in common.backends(args.backend):
        if not common.backend_available(backend):
            results["skipped"].append({"backend": backend, "reason": "not installed"})
            continue
        for optimizer, batch_size in product(args.optimizers, args.batch_sizes):
            setup = {"optimizer": optimizer, "batch_size": batch_size}
            for size in args.sizes:
                if (backend, optimizer, batch_size, size) in done:
                    continue
                argv = common.worker_args(
                    None,
                    interactions=size,
                    fit_steps=args.fit_steps,
                    full_users=args.full_users,
                    **setup,
                )
                label = f"{backend} {optimizer} batch {batch_size:,} {size:,}"
                result = common.run_worker(Path(__file__), backend, argv, label)
                results["runs"].append(
                    {"backend": backend, **setup, "interactions": size, **result}
                )
    return results


def kept_runs(path: Path | None, settings: Result) -> tuple[list[Result], list[str]]:
    """The measured runs of the JSON file at `path`, and the commands that measured
    them, when it was made with `settings`: another invocation adds setups and
    sizes to the file instead of starting afresh."""
    if path is None or not path.is_file():
        return [], []
    before = json.loads(path.read_text())
    if {key: before["settings"].get(key) for key in settings} != settings:
        return [], []
    env = before["environment"]
    runs = [r for r in before["runs"] if "error" not in r and "optimizer" in r]
    return runs, [*env.get("earlier_commands", []), env["command"]]


def setups(results: Result) -> dict[tuple, list[Result]]:
    """The measured runs grouped by (backend, optimizer, batch size), failures left out."""
    groups: dict[tuple, list[Result]] = {}
    for r in results["runs"]:
        key = (r["backend"], r.get("optimizer", "adam"), r.get("batch_size", 16_384))
        groups.setdefault(key, [])
        if "error" not in r:
            groups[key].append(r)
    return groups


# --- Report ----------------------------------------------------------------------------


def slope(runs: list[Result]) -> float | None:
    """The least-squares slope of log(epoch seconds) against log(interactions)."""
    points = [(math.log(r["interactions"]), math.log(r["epoch_s"])) for r in runs]
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else None


def scale_table(results: Result) -> str:
    """One row per (backend, size); an epoch's fit seconds extrapolated from fewer steps get *."""
    rows = []
    for r in results["runs"]:
        setup = [r["backend"], r.get("optimizer", "adam"), f"{r.get('batch_size', 16_384):,}"]
        if "error" in r:
            rows.append([*setup, f"{r['interactions']:,}", "failed", *[""] * 9])
            continue
        partial = "*" if r["fit_steps"] < r["epoch_steps"] else ""
        rows.append(
            [
                *setup,
                f"{r['interactions']:,}",
                f"{r['users']:,} x {r['items']:,}",
                str(r["devices"]),
                f"{r['load_s']:.1f}",
                f"{r['sample_s']:.1f}",
                f"{r['rows_per_s'] / 1e3:,.0f}k",
                f"{r['fit_s']:,.0f}{partial}",
                f"{r['sampled_eval_s']:.1f}",
                f"{r['full_eval_s_per_1000_users']:.1f}",
                f"{r['epoch_s']:,.0f}{partial}",
                f"{r['peak_rss_mib'] / 1024:.1f}",
            ]
        )
    header = [
        "backend",
        "optimizer",
        "batch",
        "interactions",
        "users x items",
        "devices",
        "load + split s",
        "sampling s",
        "fit rows/s",
        "fit s",
        "sampled eval s",
        "full ranking s / 1k users",
        "epoch s",
        "peak RSS GiB",
    ]
    return common.markdown_table(header, rows)


def scale_notes(results: Result) -> list[str]:
    """Per setup, the slope and the fall in rows/s from the smallest to the largest size;
    what * means, and how it was measured."""
    notes = []
    for (backend, optimizer, batch_size), runs in setups(results).items():
        fitted = slope(runs)
        if fitted is None:
            continue
        small, large = min(runs, key=size_of), max(runs, key=size_of)
        ratio = small["rows_per_s"] / large["rows_per_s"]
        notes.append(
            f"- {backend}, {optimizer}, batch {batch_size:,}: epoch seconds grow as "
            f"interactions^{fitted:.2f} (1.00 would be linear); fit rows/s "
            f"{small['rows_per_s'] / 1e3:,.0f}k at {small['interactions']:,} interactions "
            f"and {large['rows_per_s'] / 1e3:,.0f}k at {large['interactions']:,}: "
            + (f"{ratio:.2f}x fewer." if ratio >= 1 else f"{1 / ratio:.2f}x more.")
        )
    settings = results["settings"]
    notes.append(
        f"- NeuMF-8, learning rate {LEARNING_RATE}, {NEGATIVES} negatives; fit "
        f"rows/s over {settings['fit_steps']} steps after a warm-up; * = the epoch's fit "
        "seconds extrapolated from those steps. Full ranking on "
        f"{settings['full_users']:,} users. Machine: {results['environment']['cpu']}, "
        f"{results['environment']['usable_cores']} usable cores."
    )
    return notes


def size_of(run: Result) -> int:
    return run["interactions"]


def scale_printout(results: Result) -> str:
    """The table and its notes, as the script prints them."""
    return "\n".join([scale_table(results), "", *scale_notes(results)])


def plot(results: Result, path: Path) -> None:
    """Epoch seconds against interactions, log-log, one line per backend, slopes in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    for (backend, optimizer, batch_size), runs in setups(results).items():
        fitted = slope(runs)
        label = f"{backend}, {optimizer}, batch {batch_size:,}"
        label += f" (slope {fitted:.2f})" if fitted is not None else ""
        runs = sorted(runs, key=size_of)
        line = ax.loglog(
            [r["interactions"] for r in runs], [r["epoch_s"] for r in runs], marker="o", label=label
        )
        if runs:  # linear cost from the smallest size, in the same colour
            ax.loglog(
                [r["interactions"] for r in runs],
                [runs[0]["epoch_s"] * r["interactions"] / runs[0]["interactions"] for r in runs],
                linestyle=":",
                color=line[0].get_color(),
            )
    ax.plot([], [], linestyle=":", color="grey", label="linear cost")
    ax.set_xlabel("interactions")
    ax.set_ylabel("seconds per epoch (NeuMF-8)")
    ax.set_title("Cost of an epoch against the data's size")
    ax.grid(alpha=0.3, which="both")
    # Below the axes, where it hides no line.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    """The command-line options; --worker and --interactions are internal."""
    parser = argparse.ArgumentParser(
        description="Cost of an NCF epoch against the size of ML-20M-like synthetic data."
    )
    common.add_script_options(parser)
    common.add_backend_option(parser)
    parser.add_argument(
        "--sizes",
        type=lambda text: [parse_size(part) for part in text.split(",")],
        default=[1_000_000, 5_000_000, 20_000_000],
        help="interactions, comma-separated (default: 1M,5M,20M)",
    )
    parser.add_argument(
        "--optimizers",
        type=common.comma_list(("adam", "lazy-adam")),
        default=OPTIMIZERS,
        help="comma-separated; lazy-adam is JAX-only (default: adam)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=BATCH_SIZES,
        help="training rows per step, comma-separated (default: 1024,16384)",
    )
    parser.add_argument(
        "--fit-steps", type=int, default=200, help="timed fit steps per size (default: 200)"
    )
    parser.add_argument(
        "--full-users",
        type=int,
        default=1000,
        help="users ranked against every item (default: 1000)",
    )
    parser.add_argument("--figure", type=Path, help="write the log-log plot there")
    scale_long_tail.add_options(parser)
    common.add_worker_options(parser)
    parser.add_argument("--interactions", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--optimizer", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, write the JSON and the figure; exit status 1 on a failure."""
    args = build_parser().parse_args(argv)
    if args.long_tail:
        return scale_long_tail.main(Path(__file__), args, SEED)
    if args.worker:
        result = measure(
            args.interactions, args.fit_steps, args.full_users, args.optimizer, args.batch_size
        )
        common.write_worker_result(args.worker_out, result)
        return 0
    started = time.perf_counter()
    settings = {"fit_steps": args.fit_steps, "full_users": args.full_users}
    kept, earlier = kept_runs(args.json, settings)
    results = common.run_and_save(
        lambda: run_scale(args, kept),
        settings,
        scale_printout,
        args.json,
        seed=SEED,
        earlier_commands=earlier,
    )
    if args.figure:
        plot(results, args.figure)
        print(f"wrote {args.figure} ({time.perf_counter() - started:.0f} s in all)")
    return 1 if common.failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
