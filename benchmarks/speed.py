"""Speed of ncf_keras on the NCF paper's split (`ml-1m-ncf`), per model and Keras backend.

For GMF, MLP and NeuMF at predictive factor 8 (the package defaults; `--factors
8,64` adds factor 64, with the paper's MLP tower for it), at the settings the
package chooses for this data (`training_defaults`: batch 16,384, Adam at
0.003), it measures, one line per model, factor and backend:

* **sampling**: seconds to draw one epoch's training rows (every positive plus
  4 sampled negatives: ~5M rows), with `ncf_keras.data.sampling.training_instances`,
  exactly as `TrainingSamples` calls it at the start of every epoch;
* **fit**: median seconds of an epoch of `model.fit` on a `TrainingSamples`, over
  `--repeats` epochs (the chosen batch and optimizer, `compile_model`'s XLA and
  `steps_per_execution`, fed as `train` feeds it), and training rows per second.
  A warm-up epoch comes first, so tracing and XLA compilation are not counted;
  each epoch's draw of its negatives is subtracted (it is reported as sampling);
* **sampled evaluation**: `ncf_keras.metrics.sampled_ranks` for all 6,040 users
  (the test item against its 99 negatives);
* **full-ranking evaluation**: `ncf_keras.metrics.full_ranks` (the test item
  against every item outside the user's training history);
* **train epoch**: median seconds of an epoch as `train` runs it, over
  `--repeats` epochs after the first, from a fresh model: the next epoch's
  negatives are drawn in the background during the fit, and the epoch's
  seconds are the wait for its negatives, the fit and the per-epoch evaluation
  (`EpochTimes`, as the CLI's `history.csv` records them), with no run folder,
  so no checkpoint is written;
* **peak RSS** of the process that measured the model, before the train epochs.

Each measurement runs in a fresh process (this script again, with the hidden
`--worker` option): its peak RSS then belongs to one model, and
`KERAS_BACKEND`, which Keras reads once at import, can differ per process. In
the same run, unless `--skip-reference`, `classic.py` measures the paper code's
approach, so that the speed-ups are ratios measured in one run.

    python benchmarks/speed.py --data-dir "$NCF_DATA_DIR" --backend both \
        --json benchmarks/results/speed.json

The JSON file holds the measurements only; `python benchmarks/report.py` turns
them into the tables, speed-ups and targets.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from itertools import product
from pathlib import Path

import classic
import common
import speed_tables
from common import Result, median_time, peak_rss_mib, timed

MODELS = ("gmf", "mlp", "neumf")
SEED = 0
NEGATIVES = 4  # negatives per positive, the paper's and the package's default


def measure_package(
    model_name: str, factors: int, data_dir: str | None, repeats: int, full_ranking: bool = True
) -> Result:
    """Seconds of sampling, one fit epoch and both evaluations of one model, the package's way.

    Runs in a worker process, on the backend that KERAS_BACKEND names, at the
    batch size, learning rate and optimizer `train` would choose for the data.
    Without `full_ranking`, the full-ranking evaluation is not timed (None).
    """
    from ncf_keras.keras_startup import import_keras_quietly

    import_keras_quietly()  # as the CLI starts Keras: glibc keeps freed memory for reuse
    import keras

    from ncf_keras.data.sources import load_dataset
    from ncf_keras.metrics import hit_rate, ndcg, sampled_ranks
    from ncf_keras.training.batches import TrainingSamples

    load_s, dataset = timed(lambda: load_dataset(common.DATASET, data_dir))
    index_s, _ = timed(lambda: dataset.unseen_in_train)  # built once, cached on the dataset
    rss_after_load = peak_rss_mib()
    sample_s, sample_times = common.epoch_draw_seconds(dataset, NEGATIVES, SEED, repeats)
    model, fitted, chosen = common.model_at_defaults(model_name, dataset, factors, NEGATIVES, SEED)
    # Drawn in the foreground, so that the draws can be told apart from the fit.
    samples = TrainingSamples(dataset, NEGATIVES, chosen["batch_size"], SEED, prefetch=False)
    warmup_s, fit_s, fit_times, history = common.fit_epoch_seconds(fitted, samples, repeats)

    sampled_cold_s, _ = timed(lambda: sampled_ranks(model, dataset))
    sampled_eval_s, sampled_times, ranks = median_time(
        lambda: sampled_ranks(model, dataset), repeats
    )
    full = full_ranking_times(model, dataset, repeats) if full_ranking else {}
    peak_rss = peak_rss_mib()  # before the run below, which holds two epochs' rows
    train_epochs = train_epoch_seconds(model_name, factors, dataset, repeats)
    return {
        "backend": keras.backend.backend(),
        "model": model_name,
        "factors": factors,
        "dataset": common.dataset_summary(dataset, data_dir, NEGATIVES),
        **chosen,
        "rows": len(samples.labels),
        "sample_s": sample_s,
        "fit_s": fit_s,
        "samples_per_s": len(samples.labels) / fit_s,
        "sampled_eval_s": sampled_eval_s,
        "full_eval_s": full.get("median_s"),
        "epoch_s": sample_s + fit_s + sampled_eval_s,
        "train_epoch_s": statistics.median(train_epochs),
        "peak_rss_mib": peak_rss,
        "loss": float(history.history["loss"][-1]),
        "hr@10": hit_rate(ranks),
        "ndcg@10": ndcg(ranks),
        "full_hr@10": full.get("hr@10"),
        "one_off": {
            "load_s": load_s,
            "unseen_index_s": index_s,
            "warmup_epoch_s": warmup_s,
            "sampled_eval_first_call_s": sampled_cold_s,
            "full_eval_first_call_s": full.get("first_call_s"),
            "rss_after_load_mib": rss_after_load,
        },
        "all_times": {
            "sample_s": sample_times,
            "fit_s": fit_times,
            "sampled_eval_s": sampled_times,
            "full_eval_s": full.get("times", []),
            "train_epoch_s": train_epochs,
        },
    }


def train_epoch_seconds(model_name: str, factors: int, dataset, repeats: int) -> list[float]:
    """Seconds of each of `repeats` epochs as `train` runs them, after a first epoch
    (with tracing and XLA compilation) that is not counted.

    A fresh model at the defaults is trained for 1 + `repeats` epochs with `train`,
    as the CLI trains: each epoch's negatives drawn in the background during the
    epoch before (`prefetch`), HR@10 and NDCG@10 evaluated after every epoch; but
    with no run folder, so no checkpoint is written. An epoch's seconds are its
    `EpochTimes`: waiting for its negatives + fit + evaluation, so a draw that
    outlasts the fit before it counts.
    """
    from ncf_keras.training.fit import train

    _, fitted, _ = common.model_at_defaults(model_name, dataset, factors, NEGATIVES, SEED)
    logs = train(
        fitted, dataset, epochs=1 + repeats, negatives=NEGATIVES, seed=SEED, timings=True, verbose=0
    )
    return [log["sample_seconds"] + log["train_seconds"] + log["eval_seconds"] for log in logs[1:]]


def full_ranking_times(model, dataset, repeats: int) -> Result:
    """The full-ranking evaluation's seconds: its first call, the median of `repeats`
    calls and each of them, with the HR@10 it gives."""
    from ncf_keras.metrics import full_ranks, hit_rate

    first_call_s, _ = timed(lambda: full_ranks(model, dataset))
    median_s, times, ranks = median_time(lambda: full_ranks(model, dataset), repeats)
    return {"median_s": median_s, "times": times, "first_call_s": first_call_s} | {
        "hr@10": hit_rate(ranks)
    }


def run_speed(args: argparse.Namespace) -> Result:
    """Every (backend, model) measurement and the classic reference, each in its own process."""
    results: Result = {"runs": [], "reference": None, "skipped": []}
    for backend in common.backends(args.backend):
        if not common.backend_available(backend):
            results["skipped"].append({"backend": backend, "reason": "not installed"})
            common.progress(f"{backend}: not installed")
            continue
        for factors, model in product(args.factors, args.models):
            options = {"model": model, "factor": factors, "repeats": args.repeats}
            options["full_ranking"] = int(factors in args.full_ranking_factors)
            argv = common.worker_args(args.data_dir, **options)
            label = f"{backend} {model}-{factors}"
            result = common.run_worker(Path(__file__), backend, argv, label)
            run = {"backend": backend, "model": model, "factors": factors}
            results["runs"].append({**run, **result})
    if not args.skip_reference:
        results["reference"] = classic.run_reference(
            args.data_dir,
            args.models,
            args.reference_fraction,
            args.reference_users,
            args.reference_full_users,
        )
    return results


def build_parser() -> argparse.ArgumentParser:
    """The command-line options; --worker and --model are internal (see common.run_worker)."""
    parser = argparse.ArgumentParser(
        description="Speed of ncf_keras against the classic NCF approach, on ml-1m-ncf. "
        "Progress goes to stderr, the report to stdout."
    )
    common.add_script_options(parser, MODELS)
    common.add_backend_option(parser)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed calls per sampling, fit and eval number, and timed train epochs (default: 3)",
    )
    parser.add_argument(
        "--factors",
        type=common.int_list,
        default=[8],
        help="comma-separated predictive factors (default: 8); the classic reference is at 8",
    )
    parser.add_argument(
        "--full-ranking-factors",
        type=common.int_list,
        default=[8],
        help="the factors whose full-ranking evaluation is timed (default: 8); a factor-64 "
        "MLP's takes minutes a call on a CPU",
    )
    parser.add_argument(
        "--skip-reference", action="store_true", help="do not measure the classic reference"
    )
    classic.add_reference_options(parser, prefix="reference-")
    common.add_worker_options(parser)
    parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--factor", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--full-ranking", type=int, default=1, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Measure, print the report, and write the JSON file; exit status 1 if a worker failed."""
    args = build_parser().parse_args(argv)
    if args.worker:
        common.write_worker_result(
            args.worker_out,
            measure_package(
                args.model, args.factor, args.data_dir, args.repeats, bool(args.full_ranking)
            ),
        )
        return 0

    settings = {
        "factors": args.factors,
        "full_ranking_factors": args.full_ranking_factors,
        "repeats": args.repeats,
        "reference_fraction": args.reference_fraction,
        "reference_users": args.reference_users,
        "reference_full_users": args.reference_full_users,
    }
    results = common.run_and_save(
        lambda: run_speed(args), settings, speed_tables.speed_printout, args.json, seed=SEED
    )
    return 1 if common.failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
