"""Time to quality: wall seconds until NeuMF-8 first reaches HR@10 >= 0.68 on `ml-1m-ncf`.

It trains NeuMF-8 one epoch at a time, with `model.fit(epochs=1)` on a
`TrainingSamples` followed by `metrics.evaluate` (sampled protocol), and stops
at the first epoch whose HR@10 reaches the target, or after `--max-epochs`.
The clock starts when the model is built (the data already loaded) and runs
through compilation and every epoch's sampling, fit and evaluation. Three arms,
each for every seed (`--seeds`, default 0, 1, 2):

* batch 1024 with Adam at the package's default learning rate, 3e-3, and 4
  negatives per positive (the defaults);
* the paper's batch 256 with its learning rate, 1e-3, and 4 negatives;
* batch 1024 at 3e-3 with 8 negatives, the factor-8 recipe of `quality.py`.

Each arm runs in a fresh process (this script again, with `--worker`).

    python benchmarks/time_to_quality.py --data-dir "$NCF_DATA_DIR" \
        --json benchmarks/results/time_to_quality.json
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import product
from pathlib import Path

import common
import speed_tables
from common import Result, peak_rss_mib

TARGET_HR = 0.68  # HR@10 on the sampled protocol
DEFAULT_BATCH = 1024  # TrainingSamples' and train()'s default
PAPER_BATCH = 256  # the paper's code and its ports
PAPER_LEARNING_RATE = 1e-3  # the paper's Adam learning rate, at batch 256
DEFAULT_NEGATIVES = 4  # the paper's and the package's default
RECIPE_NEGATIVES = 8  # the factor-8 recipe of benchmarks/quality.py
# (batch size, negatives per positive): the defaults, the paper's batch, and the
# defaults with the quality benchmark's negatives.
ARMS = (
    (DEFAULT_BATCH, DEFAULT_NEGATIVES),
    (PAPER_BATCH, DEFAULT_NEGATIVES),
    (DEFAULT_BATCH, RECIPE_NEGATIVES),
)
MAX_EPOCHS = 40  # the epoch limit of quality.py's factor-8 rows


def measure_arm(
    data_dir: str | None, batch_size: int, negatives: int, seed: int, max_epochs: int
) -> Result:
    """Train NeuMF-8 epoch by epoch until HR@10 >= TARGET_HR; wall seconds at each epoch.

    Runs in a worker process. Batch 256 gets the paper's learning rate; any
    other batch the package's default.
    """
    import keras

    from ncf_keras.data.sources import load_dataset
    from ncf_keras.defaults import LEARNING_RATE
    from ncf_keras.metrics import evaluate
    from ncf_keras.models import build_model
    from ncf_keras.training.batches import TrainingSamples
    from ncf_keras.training.fit import compile_model

    dataset = load_dataset(common.DATASET, data_dir)
    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    lr = PAPER_LEARNING_RATE if batch_size == PAPER_BATCH else LEARNING_RATE
    model = build_model("neumf", dataset.num_users, dataset.num_items)
    compile_model(model, learning_rate=lr)
    samples = TrainingSamples(dataset, negatives, batch_size, seed, prefetch=False)
    history, reached = [], None
    for epoch in range(1, max_epochs + 1):
        fitted = model.fit(samples, epochs=1, verbose=0)
        metrics = evaluate(model, dataset)
        history.append(
            {
                "epoch": epoch,
                "loss": float(fitted.history["loss"][-1]),
                **metrics,
                "wall_s": time.perf_counter() - start,
            }
        )
        if metrics["hr@10"] >= TARGET_HR:
            reached = history[-1]
            break
    return {
        "backend": keras.backend.backend(),
        "model": "neumf",
        "users": dataset.num_users,
        "batch_size": batch_size,
        "negatives": negatives,
        "seed": seed,
        "learning_rate": lr,
        "target_hr@10": TARGET_HR,
        "max_epochs": max_epochs,
        "reached": reached is not None,
        "epochs": reached["epoch"] if reached else None,
        "wall_s": reached["wall_s"] if reached else None,
        "history": history,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_arms(args: argparse.Namespace) -> Result:
    """Every arm of ARMS for every seed, per backend, each in its own process."""
    results: Result = {"runs": [], "skipped": []}
    for backend in common.backends(args.backend):
        if not common.backend_available(backend):
            results["skipped"].append({"backend": backend, "reason": "not installed"})
            common.progress(f"{backend}: not installed")
            continue
        for (batch, negatives), seed in product(ARMS, args.seeds):
            arm = {"batch_size": batch, "negatives": negatives, "seed": seed}
            argv = common.worker_args(args.data_dir, **arm, max_epochs=args.max_epochs)
            label = f"time to quality: {backend}, {speed_tables.arm_text(arm)}"
            result = common.run_worker(Path(__file__), backend, argv, label)
            results["runs"].append({"backend": backend, **arm, **result})
    return results


def build_parser() -> argparse.ArgumentParser:
    """The command-line options; --worker and the ones after it are internal."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " Progress goes to stderr, the report to stdout."
    )
    common.add_script_options(parser)
    common.add_backend_option(parser)
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=MAX_EPOCHS,
        help=f"epoch cap per arm (default: {MAX_EPOCHS}, as for quality.py's factor-8 rows)",
    )
    parser.add_argument(
        "--seeds",
        type=common.int_list,
        default=[0, 1, 2],
        help="seeds, comma-separated (default: 0,1,2)",
    )
    common.add_worker_options(parser)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--negatives", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the arms, print the table, and write the JSON file; exit status 1 if an arm failed."""
    args = build_parser().parse_args(argv)
    if args.worker:
        result = measure_arm(
            args.data_dir, args.batch_size, args.negatives, args.seed, args.max_epochs
        )
        common.write_worker_result(args.worker_out, result)
        return 0

    settings = {"max_epochs": args.max_epochs, "seeds": args.seeds, "target_hr@10": TARGET_HR}
    results = common.run_and_save(
        lambda: run_arms(args), settings, speed_tables.time_to_quality_printout, args.json
    )
    return 1 if common.failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
