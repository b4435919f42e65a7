"""Speed benchmark of ncf_keras on the NCF paper's ML-1M split (`ml-1m-ncf`).

For GMF, MLP and NeuMF at predictive factor 8 (the package defaults), it
measures, one line per model and Keras backend:

* **sampling**: seconds to draw one epoch's training rows (every positive plus
  4 sampled negatives: ~5M rows), with `ncf_keras.sampling.training_instances`,
  exactly as `TrainingSamples` calls it at the start of every epoch;
* **fit**: seconds of one epoch of `model.fit` on a `TrainingSamples` (batch
  1024, `compile_model` defaults: Adam 3e-3, XLA, `steps_per_execution`), and
  training rows per second. The first epoch is a warm-up, so tracing and XLA
  compilation are not counted; the negative draw inside the epoch is
  subtracted (it is reported as sampling);
* **sampled evaluation**: `ncf_keras.metrics.sampled_ranks` for all 6,040 users
  (the test item against its 99 negatives);
* **full-ranking evaluation**: `ncf_keras.metrics.full_ranks` (the test item
  against every item outside the user's training history);
* **peak RSS** of the process that measured the model.

In the same run it measures a **reference**: the classic approach of the
paper's code and its ports. It draws negatives with a per-row Python loop that
rejects positives with a set lookup, fits at batch 256 on numpy arrays with a
plain `compile` (no XLA, one batch per call), and evaluates with one
`model.predict` call per user. Timing it in full would take minutes, so it times
a fixed fraction and extrapolates linearly; the output says which numbers are
extrapolated, and from what. The speed-ups are ratios measured in one run. On a
shared machine, absolute times are noisy, so the ratios are the figures to quote.

Each measurement runs in a fresh subprocess (this script again, with the
hidden `--worker` option): its peak RSS then belongs to one model, and
`KERAS_BACKEND`, which Keras reads once at import, can differ per subprocess.

With `--time-to-quality`, it instead trains NeuMF-8 epoch by epoch, with the
default batch size and with the paper's batch of 256 (4 negatives per positive,
the default), and with the default batch and 8 negatives (the factor-8 recipe
of `benchmarks/quality.py`). For each, it reports the wall seconds until HR@10
(sampled protocol) first reaches 0.68, for seeds 0, 1 and 2 (`--seeds`).

Run from the repository root (see benchmarks/README.md):

    python benchmarks/speed.py --data-dir ../shared/data --backend both \
        --json benchmarks/results/speed.json
    python benchmarks/speed.py --data-dir ../shared/data --time-to-quality \
        --json benchmarks/results/speed.json

Both write their own section ("speed", "time_to_quality") of the same JSON
file and keep the other one; the file's "rows", "notes", "commands" and
"time_to_quality_rows" are what `benchmarks/tables.py` puts in the README.
`--from-json FILE` prints a saved report.
"""

from __future__ import annotations

import argparse
import heapq
import importlib.util
import json
import math
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from importlib import metadata
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# ncf_keras imports Keras, and Keras fixes its backend at import. So the parent
# process never imports it: each worker does, with its own KERAS_BACKEND.
if TYPE_CHECKING:
    from ncf_keras.datasets import Dataset

DATASET = "ml-1m-ncf"
MODELS = ("gmf", "mlp", "neumf")
BACKENDS = ("tensorflow", "jax")
SEED = 0
NEGATIVES = 4  # negatives per positive, the paper's and the package's default
DEFAULT_BATCH = 1024  # TrainingSamples' and train()'s default
DEFAULT_LR = 3e-3  # compile_model's default, for batch 1024
PAPER_BATCH = 256  # the paper's code and its ports
PAPER_LR = 1e-3  # the paper's Adam learning rate, at batch 256
TARGET_HR = 0.68  # time to quality: HR@10 on the sampled protocol
QUALITY_NEGATIVES = 8  # the factor-8 recipe of benchmarks/quality.py
# Time to quality, (batch, negatives per positive): the defaults, the paper's
# batch, and the defaults with the quality benchmark's negatives.
QUALITY_ARMS = (
    (DEFAULT_BATCH, NEGATIVES),
    (PAPER_BATCH, NEGATIVES),
    (DEFAULT_BATCH, QUALITY_NEGATIVES),
)
TARGETS = {  # NeuMF-8 on a 2-core CPU, default settings, seconds
    "epoch_s": ("one epoch (sampling + fit + sampled eval)", 15.0),
    "sample_s": ("sampling one epoch", 1.0),
    "sampled_eval_s": ("sampled evaluation, 6,040 users", 0.5),
    "full_eval_s": ("full-ranking evaluation", 10.0),
}

Result = dict[str, Any]


# --- Measuring ---------------------------------------------------------------


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, return value) of one call of `fn`."""
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Median wall seconds over `repeats` calls, every time, and the last value."""
    times, value = [], None
    for _ in range(repeats):
        elapsed, value = timed(fn)
        times.append(elapsed)
    return statistics.median(times), times, value


def build_model(name: str, dataset: Dataset):
    """GMF, MLP or NeuMF with the package defaults: factor 8, MLP layers 64,32,16,8."""
    from ncf_keras import models

    builders = {"gmf": models.gmf, "mlp": models.mlp, "neumf": models.neumf}
    return builders[name](dataset.num_users, dataset.num_items)


def dataset_summary(dataset: Dataset, data_dir: str | None) -> Result:
    """The dataset's sizes and folder, for the report."""
    from ncf_keras.datasets import resolve_data_dir

    return {
        "name": dataset.name,
        "folder": str(resolve_data_dir(data_dir).resolve()),
        "users": dataset.num_users,
        "items": dataset.num_items,
        "positives": len(dataset.train_users),
        "rows_per_epoch": len(dataset.train_users) * (1 + NEGATIVES),
    }


# --- The package's path (runs in a worker process) -----------------------------


def measure_package(model_name: str, data_dir: str | None, repeats: int) -> Result:
    """Time sampling, one fit epoch and both evaluations of one model, the package's way."""
    import keras

    from ncf_keras.datasets import load_dataset
    from ncf_keras.metrics import full_ranks, hit_rate, ndcg, sampled_ranks
    from ncf_keras.sampling import random_stream, training_instances
    from ncf_keras.training import TrainingSamples, compile_model

    load_s, dataset = timed(lambda: load_dataset(DATASET, data_dir))
    index_s, _ = timed(lambda: dataset.unseen_in_train)  # built once, cached on the dataset
    rss_after_load = peak_rss_mib()

    # Sampling: what TrainingSamples does at the start of epoch e, for e = 1, 2, ...
    epochs = iter(range(1, repeats + 1))
    sample_s, sample_times, _ = median_time(
        lambda: training_instances(
            dataset.train_users,
            dataset.train_items,
            dataset.unseen_in_train,
            NEGATIVES,
            random_stream(SEED, "epoch", next(epochs)),
        ),
        repeats,
    )

    keras.utils.set_random_seed(SEED)
    model = compile_model(build_model(model_name, dataset))
    samples = TrainingSamples(dataset, NEGATIVES, DEFAULT_BATCH, SEED)
    warmup_s, _ = timed(lambda: model.fit(samples, epochs=1, verbose=0))
    fit_start = time.perf_counter()
    fit_wall_s, history = timed(lambda: model.fit(samples, epochs=1, verbose=0))
    # The epoch redraws its negatives in on_epoch_begin; that is sampling, not fitting.
    drawn_s = sum(s for start, s in samples.sample_seconds.values() if start >= fit_start)
    fit_s = fit_wall_s - drawn_s

    sampled_cold_s, _ = timed(lambda: sampled_ranks(model, dataset))
    sampled_eval_s, sampled_times, ranks = median_time(
        lambda: sampled_ranks(model, dataset), repeats
    )
    full_cold_s, _ = timed(lambda: full_ranks(model, dataset))
    full_eval_s, full_times, full = median_time(lambda: full_ranks(model, dataset), repeats)
    return {
        "backend": keras.backend.backend(),
        "model": model_name,
        "dataset": dataset_summary(dataset, data_dir),
        "batch_size": DEFAULT_BATCH,
        "rows": len(samples.labels),
        "sample_s": sample_s,
        "fit_s": fit_s,
        "samples_per_s": len(samples.labels) / fit_s,
        "sampled_eval_s": sampled_eval_s,
        "full_eval_s": full_eval_s,
        "epoch_s": sample_s + fit_s + sampled_eval_s,
        "peak_rss_mib": peak_rss_mib(),
        "loss": float(history.history["loss"][-1]),
        "hr@10": hit_rate(ranks),
        "ndcg@10": ndcg(ranks),
        "full_hr@10": hit_rate(full),
        "one_off": {
            "load_s": load_s,
            "unseen_index_s": index_s,
            "warmup_epoch_s": warmup_s,
            "sampled_eval_first_call_s": sampled_cold_s,
            "full_eval_first_call_s": full_cold_s,
            "rss_after_load_mib": rss_after_load,
        },
        "all_times": {
            "sample_s": sample_times,
            "fit_wall_s": fit_wall_s,
            "sampling_inside_fit_s": drawn_s,
            "sampled_eval_s": sampled_times,
            "full_eval_s": full_times,
        },
    }


# --- The classic reference (runs in a worker process, TensorFlow) ----------------


def classic_training_instances(
    pairs: list[tuple[int, int]],
    train: set[tuple[int, int]],
    num_items: int,
    negatives: int,
    rng: np.random.RandomState,
) -> tuple[list[int], list[int], list[int]]:
    """`get_train_instances` of the paper's code: one Python iteration per row.

    For every positive (u, i): append it, then draw `negatives` items, each
    redrawn while (u, j) is a training positive.
    """
    user_input, item_input, labels = [], [], []
    for u, i in pairs:
        user_input.append(u)
        item_input.append(i)
        labels.append(1)
        for _ in range(negatives):
            j = rng.randint(num_items)
            while (u, j) in train:
                j = rng.randint(num_items)
            user_input.append(u)
            item_input.append(j)
            labels.append(0)
    return user_input, item_input, labels


def classic_eval_user(model, user: int, test_item: int, negatives: list[int], k: int = 10):
    """`eval_one_rating` of the paper's code: one predict call for one user's 100 items.

    Returns (hit, ndcg) of the top-k list, which `heapq.nlargest` picks.
    """
    items = [*negatives, test_item]
    users = np.full(len(items), user, dtype=np.int32)
    x = {"user": users, "item": np.array(items, dtype=np.int32)}
    predictions = model.predict(x, batch_size=100, verbose=0)
    scores = {item: predictions[n] for n, item in enumerate(items)}
    ranklist = heapq.nlargest(k, scores, key=scores.get)
    if test_item not in ranklist:
        return 0, 0.0
    return 1, 1.0 / np.log2(ranklist.index(test_item) + 2)


def classic_full_rank_user(model, user: int, test_item: int, train, num_items: int) -> int:
    """The same one-predict-per-user pattern, over every item outside the user's history.

    Returns the 0-based rank of the test item (ties count against it).
    """
    items = [j for j in range(num_items) if (user, j) not in train]
    users = np.full(len(items), user, dtype=np.int32)
    x = {"user": users, "item": np.array(items, dtype=np.int32)}
    predictions = model.predict(x, batch_size=len(items), verbose=0).reshape(-1)
    positive = predictions[items.index(test_item)]
    return int((predictions >= positive).sum()) - 1


def measure_reference(
    model_names: list[str], data_dir: str | None, fraction: float, users: int, full_users: int
) -> Result:
    """Time the classic approach on a fraction of the work, and extrapolate linearly.

    Sampling and fit: a seeded random `fraction` of the positives (random, so
    the rejection rate is typical). Evaluations: the first `users` and
    `full_users` users. Every model uses the same sampled rows.
    """
    import keras

    from ncf_keras.datasets import load_dataset

    dataset = load_dataset(DATASET, data_dir)
    set_s, train = timed(
        lambda: set(zip(dataset.train_users.tolist(), dataset.train_items.tolist(), strict=True))
    )
    positives = len(dataset.train_users)
    subset = np.sort(
        np.random.default_rng(SEED).choice(positives, round(positives * fraction), replace=False)
    )
    pairs = list(
        zip(dataset.train_users[subset].tolist(), dataset.train_items[subset].tolist(), strict=True)
    )
    rng = np.random.RandomState(SEED)

    start = time.perf_counter()
    user_input, item_input, labels = classic_training_instances(
        pairs, train, dataset.num_items, NEGATIVES, rng
    )
    x = {"user": np.array(user_input, np.int32), "item": np.array(item_input, np.int32)}
    y = np.array(labels, np.float32)  # the paper's code converts the lists before fit, too
    sample_part_s = time.perf_counter() - start
    sample_s = sample_part_s * positives / len(pairs)

    models = []
    for name in model_names:
        keras.utils.set_random_seed(SEED)
        model = build_model(name, dataset)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", jit_compile=False
        )
        result = measure_reference_model(model, dataset, train, x, y, users, full_users)
        result["epoch_s"] = sample_s + result["fit_s"] + result["sampled_eval_s"]
        models.append({"model": name, **result})
    return {
        "backend": keras.backend.backend(),
        "dataset": dataset_summary(dataset, data_dir),
        "batch_size": PAPER_BATCH,
        "set_build_s": set_s,
        "sample_s": sample_s,
        "measured": {
            "positives": len(pairs),
            "fraction": len(pairs) / positives,
            "rows": len(y),
            "sample_s": sample_part_s,
            "users": users,
            "full_users": full_users,
        },
        "models": models,
        "peak_rss_mib": peak_rss_mib(),
    }


def measure_reference_model(
    model,
    dataset: Dataset,
    train: set[tuple[int, int]],
    x: dict[str, np.ndarray],
    y: np.ndarray,
    users: int,
    full_users: int,
) -> Result:
    """Classic fit at batch 256 on (x, y), and per-user evaluation; extrapolated to the full job.

    One warm-up fit on 20 batches and one warm-up predict come first, so tracing
    is not timed (as for the package).
    """
    from ncf_keras.metrics import hit_rate

    warmup = PAPER_BATCH * 20
    model.fit({k: v[:warmup] for k, v in x.items()}, y[:warmup], batch_size=PAPER_BATCH, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=PAPER_BATCH, epochs=1, shuffle=True, verbose=0)
    fit_part_s = time.perf_counter() - start
    samples_per_s = len(y) / fit_part_s

    negatives, test_items = dataset.test_negatives.tolist(), dataset.test_items.tolist()
    classic_eval_user(model, 0, test_items[0], negatives[0])
    start = time.perf_counter()
    hits = [classic_eval_user(model, u, test_items[u], negatives[u])[0] for u in range(users)]
    sampled_part_s = time.perf_counter() - start

    classic_full_rank_user(model, 0, test_items[0], train, dataset.num_items)
    start = time.perf_counter()
    ranks = [
        classic_full_rank_user(model, u, test_items[u], train, dataset.num_items)
        for u in range(full_users)
    ]
    full_part_s = time.perf_counter() - start

    return {
        "fit_s": len(dataset.train_users) * (1 + NEGATIVES) / samples_per_s,
        "samples_per_s": samples_per_s,
        "sampled_eval_s": sampled_part_s * dataset.num_users / users,
        "full_eval_s": full_part_s * dataset.num_users / full_users,
        "hr@10_first_users": float(np.mean(hits)),
        "full_hr@10_first_users": hit_rate(np.array(ranks)),
        "measured": {
            "fit_rows": len(y),
            "fit_s": fit_part_s,
            "sampled_eval_s": sampled_part_s,
            "full_eval_s": full_part_s,
        },
    }


# --- Time to quality (runs in a worker process) ---------------------------------


def measure_time_to_quality(
    data_dir: str | None, batch_size: int, negatives: int, seed: int, max_epochs: int
) -> Result:
    """Train NeuMF-8 epoch by epoch until HR@10 >= TARGET_HR; wall seconds at each epoch.

    The clock starts before the model is built, after the data is loaded: it
    includes compilation, every epoch's sampling, fitting and sampled evaluation.
    """
    import keras

    from ncf_keras.datasets import load_dataset
    from ncf_keras.metrics import evaluate
    from ncf_keras.training import TrainingSamples, compile_model

    dataset = load_dataset(DATASET, data_dir)
    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    # The package's default lr goes with its default batch; batch 256 gets the paper's lr.
    lr = PAPER_LR if batch_size == PAPER_BATCH else DEFAULT_LR
    model = compile_model(build_model("neumf", dataset), learning_rate=lr)
    samples = TrainingSamples(dataset, negatives, batch_size, seed)
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


# --- Running workers --------------------------------------------------------------


def run_worker(backend: str, worker_args: list[str], label: str) -> Result:
    """Run this script as a worker with KERAS_BACKEND=backend; its JSON result.

    Adds "worker_wall_s", the worker's whole run. A worker that fails gives
    {"error": the last lines of its stderr}. Progress goes to stderr as `label`.
    """
    progress(f"{label} ...")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        command = [sys.executable, __file__, *worker_args, "--worker-out", str(out)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.is_file():
            tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-15:]
            result = {"error": "\n".join(tail) or f"exit status {done.returncode}"}
        else:
            result = json.loads(out.read_text())
    result["worker_wall_s"] = time.perf_counter() - start
    status = "FAILED" if "error" in result else "done"
    progress(f"  {status} in {result['worker_wall_s']:.0f} s")
    return result


def backend_available(backend: str) -> bool:
    """Whether the backend's package can be imported (JAX is optional)."""
    return importlib.util.find_spec(backend) is not None


def progress(message: str) -> None:
    """A progress line on stderr, so stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


def worker_args(kind: str, args: argparse.Namespace, **options: Any) -> list[str]:
    """A worker's command-line arguments: its kind, the data folder, then `options` as flags."""
    argv = ["--worker", kind]
    if args.data_dir is not None:
        argv += ["--data-dir", args.data_dir]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def run_speed(args: argparse.Namespace) -> Result:
    """Every (backend, model) measurement and the reference, each in its own process."""
    report: Result = {"runs": [], "reference": None, "skipped": []}
    for backend in args.backends:
        if not backend_available(backend):
            report["skipped"].append({"backend": backend, "reason": "not installed"})
            progress(f"{backend}: not installed")
            continue
        for model in args.models:
            worker = worker_args("package", args, model=model, repeats=args.repeats)
            result = run_worker(backend, worker, f"{backend} {model}")
            report["runs"].append({"backend": backend, "model": model, **result})
    if not args.skip_reference:
        worker = worker_args(
            "reference",
            args,
            models=",".join(args.models),
            reference_fraction=args.reference_fraction,
            reference_users=args.reference_users,
            reference_full_users=args.reference_full_users,
        )
        report["reference"] = run_worker("tensorflow", worker, "classic reference (tensorflow)")
    return report


def arm_text(run: Result) -> str:
    """A time-to-quality arm in words: 'batch 1024, 8 negatives, seed 0'."""
    return f"batch {run['batch_size']}, {run['negatives']} negatives, seed {run['seed']}"


def run_quality(args: argparse.Namespace) -> Result:
    """Time to quality of NeuMF-8 for each of QUALITY_ARMS and seeds, per backend."""
    report: Result = {"runs": [], "skipped": []}
    for backend in args.backends:
        if not backend_available(backend):
            report["skipped"].append({"backend": backend, "reason": "not installed"})
            progress(f"{backend}: not installed")
            continue
        for (batch, negatives), seed in product(QUALITY_ARMS, args.seeds):
            arm = {"batch_size": batch, "negatives": negatives, "seed": seed}
            worker = worker_args("quality", args, **arm, max_epochs=args.max_epochs)
            label = f"time to quality: {backend}, {arm_text(arm)}"
            result = run_worker(backend, worker, label)
            report["runs"].append({"backend": backend, **arm, **result})
    return report


# --- The report ---------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or the platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def versions() -> dict[str, str]:
    """Installed versions of the libraries that matter here, "not installed" if absent."""
    found = {}
    for package in ("tensorflow", "keras", "jax", "jaxlib", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def environment() -> Result:
    """Machine, versions and the exact command, for the report's header."""
    return {
        "command": shlex.join(["python", *sys.argv]),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "load_average_at_start": os.getloadavg()[0],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
        "seed": SEED,
    }


def table(headers: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    """Columns padded to fit, first column left-aligned and the rest right-aligned."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |"]
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(row[c]) for row in [headers, *rows]) for c in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [
            cell.ljust(w) if c < 2 else cell.rjust(w)
            for c, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *map(line, rows)])


def seconds(value: float) -> str:
    """Seconds with precision that suits their size."""
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


SPEED_COLUMNS = [
    "backend",
    "model",
    "batch",
    "sampling s",
    "fit s",
    "fit rows/s",
    "sampled eval s",
    "full eval s",
    "epoch s",
    "HR@10",
    "peak RSS MiB",
]


def speed_rows(speed: Result) -> list[list[str]]:
    """One table row per (backend, model) run, then one per reference model.

    Extrapolated reference numbers carry a "*".
    """
    rows = []
    for run in speed["runs"]:
        if "error" in run:
            rows.append([run["backend"], run["model"], "FAILED"])
            continue
        rows.append(
            [
                run["backend"],
                run["model"],
                str(run["batch_size"]),
                seconds(run["sample_s"]),
                seconds(run["fit_s"]),
                f"{run['samples_per_s']:,.0f}",
                seconds(run["sampled_eval_s"]),
                seconds(run["full_eval_s"]),
                seconds(run["epoch_s"]),
                f"{run['hr@10']:.3f}",
                f"{run['peak_rss_mib']:,.0f}",
            ]
        )
    reference = speed.get("reference")
    if reference and "error" not in reference:
        for ref in reference["models"]:
            rows.append(
                [
                    "classic (tf)",
                    ref["model"],
                    str(reference["batch_size"]),
                    seconds(reference["sample_s"]) + "*",
                    seconds(ref["fit_s"]) + "*",
                    f"{ref['samples_per_s']:,.0f}",
                    seconds(ref["sampled_eval_s"]) + "*",
                    seconds(ref["full_eval_s"]) + "*",
                    seconds(ref["epoch_s"]) + "*",
                    "-",
                    f"{reference['peak_rss_mib']:,.0f}",
                ]
            )
    return [row + [""] * (len(SPEED_COLUMNS) - len(row)) for row in rows]


def speedups(speed: Result) -> list[Result]:
    """Reference time / package time per (backend, model); for fit, the ratio of rows/s."""
    reference = speed.get("reference")
    if not reference or "error" in reference:
        return []
    by_model = {ref["model"]: ref for ref in reference["models"]}
    ratios = []
    for run in speed["runs"]:
        ref = by_model.get(run["model"])
        if ref is None or "error" in run:
            continue
        ratios.append(
            {
                "backend": run["backend"],
                "model": run["model"],
                "sampling": reference["sample_s"] / run["sample_s"],
                "fit_rows_per_s": run["samples_per_s"] / ref["samples_per_s"],
                "sampled_eval": ref["sampled_eval_s"] / run["sampled_eval_s"],
                "full_eval": ref["full_eval_s"] / run["full_eval_s"],
                "epoch": ref["epoch_s"] / run["epoch_s"],
            }
        )
    return ratios


RATIO_KEYS = ("sampling", "fit_rows_per_s", "sampled_eval", "full_eval", "epoch")


def targets(speed: Result) -> list[Result]:
    """PASS or MISS of every target, for every backend's NeuMF-8 run."""
    checks = []
    for run in speed["runs"]:
        if run["model"] != "neumf" or "error" in run:
            continue
        for key, (label, limit) in TARGETS.items():
            checks.append(
                {
                    "backend": run["backend"],
                    "target": label,
                    "limit_s": limit,
                    "measured_s": run[key],
                    "pass": run[key] <= limit,
                }
            )
    return checks


def first_dataset(speed: Result) -> Result | None:
    """The dataset summary that any worker reported."""
    for part in [*speed["runs"], speed.get("reference") or {}]:
        if "dataset" in part:
            return part["dataset"]
    return None


def header_lines(env: Result, dataset: Result | None) -> list[str]:
    """Command, machine, versions and dataset."""
    v = env["versions"]
    lines = [
        f"command:  {env['command']}",
        f"machine:  {env['cpu']}, {env['cores']} cores ({env['usable_cores']} usable), "
        f"load average {env['load_average_at_start']:.2f} at start; {env['platform']}",
        f"versions: python {env['python']}, tensorflow {v['tensorflow']}, keras {v['keras']}, "
        f"jax {v['jax']}, jaxlib {v['jaxlib']}, numpy {v['numpy']}",
    ]
    if dataset:
        lines.append(
            f"dataset:  {dataset['name']}: {dataset['users']:,} users, {dataset['items']:,} "
            f"items, {dataset['positives']:,} positives -> {dataset['rows_per_epoch']:,} "
            f"training rows per epoch ({NEGATIVES} negatives each), from {dataset['folder']}"
        )
    return lines


def reference_note(reference: Result) -> str:
    """How the classic reference was measured and what is extrapolated."""
    m = reference["measured"]
    return (
        f"classic (tf) = the paper code's approach on the TensorFlow backend: per-row Python "
        f"loop with set lookups for the negatives, model.fit on numpy arrays at batch "
        f"{PAPER_BATCH} with a plain compile (no XLA, 1 batch per call), one model.predict per "
        f"user. Warm-up fit (20 batches) and predict before timing. Numbers marked * are "
        f"extrapolated linearly: sampling and fit from {m['positives']:,} seeded-random "
        f"positives ({m['fraction']:.1%} of an epoch, {m['rows']:,} rows), "
        f"sampled eval from the first {m['users']:,} users, "
        f"full eval from the first {m['full_users']:,} users."
    )


def speed_lines(speed: Result, markdown: bool = False) -> list[str]:
    """The speed report: table, notes, speed-ups, targets and one-off costs."""
    lines = header_lines(speed["environment"], first_dataset(speed))
    lines += [
        f"settings: seed {SEED}; factor 8, MLP layers 64,32,16,8; Adam lr {DEFAULT_LR}; package: "
        f"compile_model defaults (XLA, steps_per_execution), batch {DEFAULT_BATCH}",
        "timing:   fit = the 2nd epoch of model.fit on TrainingSamples minus its negative draw "
        "(the 1st epoch is a warm-up,",
        "          so tracing and XLA compilation are excluded); sampling and evaluations = "
        f"median of {speed['settings']['repeats']} calls,",
        "          evaluations after one warm-up call; epoch = sampling + fit + sampled eval; "
        "peak RSS = ru_maxrss of",
        "          the process that measured the line (framework runtime included); "
        "HR@10 = sampled, after those 2 epochs.",
        "",
    ]
    rows = speed_rows(speed)
    lines.append(table(SPEED_COLUMNS, rows, markdown) if rows else "nothing was measured")
    lines += [f"{skipped['backend']}: {skipped['reason']}" for skipped in speed["skipped"]]
    for run in speed["runs"]:
        if "error" in run:
            lines += ["", f"{run['backend']} {run['model']} FAILED:", run["error"]]

    reference = speed.get("reference")
    if reference and "error" in reference:
        lines += ["", "classic reference FAILED:", reference["error"]]
    elif reference:
        lines += ["", *textwrap.wrap(reference_note(reference), 100, subsequent_indent="  ")]
        lines.append(
            "  Its peak RSS is of one process that ran every reference model. Measured parts:"
        )
        for ref in reference["models"]:
            r = ref["measured"]
            lines.append(
                f"  {ref['model']}: sampling {seconds(reference['measured']['sample_s'])} s, "
                f"fit {seconds(r['fit_s'])} s, sampled eval {seconds(r['sampled_eval_s'])} s, "
                f"full eval {seconds(r['full_eval_s'])} s"
            )

    ratios = speedups(speed)
    if ratios:
        lines += [
            "",
            "speed-up over the classic reference (TensorFlow, for every backend's line), "
            "same model, measured in this run:",
        ]
        heads = ["backend", "model", "sampling", "fit rows/s", "sampled eval", "full eval", "epoch"]
        rows = [[r["backend"], r["model"], *(f"{r[k]:,.1f}x" for k in RATIO_KEYS)] for r in ratios]
        lines.append(table(heads, rows, markdown))

    checks = targets(speed)
    if checks:
        lines += ["", "targets (NeuMF-8, default settings):"]
        lines += [
            f"  {'PASS' if c['pass'] else 'MISS'}  {c['backend']:<10}  {c['target']:<42} "
            f"{seconds(c['measured_s']):>7} s  (target <= {c['limit_s']:g} s)"
            for c in checks
        ]

    measured = [run for run in speed["runs"] if "error" not in run]
    if measured:
        lines += ["", "one-off costs, not in the table (s):"]
    for run in measured:
        o = run["one_off"]
        lines.append(
            f"  {run['backend']:<10} {run['model']:<5}  load {seconds(o['load_s'])}, "
            f"unseen-item index {seconds(o['unseen_index_s'])}, "
            f"warm-up epoch {seconds(o['warmup_epoch_s'])}, "
            f"1st sampled eval {seconds(o['sampled_eval_first_call_s'])}, "
            f"1st full eval {seconds(o['full_eval_first_call_s'])}; "
            f"RSS after load {o['rss_after_load_mib']:,.0f} MiB"
        )
    if reference and "error" not in reference:
        lines.append(f"  classic (tf): building the (u, i) set {seconds(reference['set_build_s'])}")
    return lines


QUALITY_COLUMNS = [
    "backend",
    "batch",
    "negatives",
    "seed",
    "epochs",
    "wall s",
    "best HR@10",
    "s/epoch",
]


def hr_text(hr: float) -> str:
    """HR@10 truncated to 4 decimals, never rounded up: 4,107/6,040 = 0.67997 shows as
    0.6799, not as 0.6800, which would look like it met the 0.68 target."""
    return f"{math.floor(hr * 10_000 + 1e-9) / 10_000:.4f}"  # 1e-9: float error, not a hit


def quality_rows(quality: Result) -> list[list[str]]:
    """One row per (backend, arm): epochs and wall seconds to the target HR@10."""
    rows = []
    for run in quality["runs"]:
        if "error" in run:
            arm = [run["backend"], str(run["batch_size"]), str(run["negatives"]), str(run["seed"])]
            rows.append([*arm, "FAILED", "", "", ""])
            continue
        last = run["history"][-1]
        reached = run["reached"]
        rows.append(
            [
                run["backend"],
                str(run["batch_size"]),
                str(run["negatives"]),
                str(run["seed"]),
                str(run["epochs"]) if reached else f"not reached in {last['epoch']}",
                seconds(run["wall_s"]) if reached else f"> {seconds(last['wall_s'])}",
                hr_text(max(h["hr@10"] for h in run["history"])),
                seconds(last["wall_s"] / last["epoch"]),
            ]
        )
    return rows


def quality_note(quality: Result) -> str:
    """What the time-to-quality numbers count."""
    return (
        f"Time to quality: NeuMF-8, Adam at lr {DEFAULT_LR} (the package's default) for batch "
        f"{DEFAULT_BATCH}, and at the paper's lr {PAPER_LR} for batch {PAPER_BATCH}; "
        f"{NEGATIVES} negatives per positive (the default), and {QUALITY_NEGATIVES} (the "
        f"factor-8 recipe of benchmarks/quality.py) at batch {DEFAULT_BATCH}; "
        f"compile_model defaults, seeds {', '.join(map(str, quality['settings']['seeds']))}; "
        f"one model.fit(epochs=1) on TrainingSamples and "
        f"one metrics.evaluate per epoch, at most {quality['settings']['max_epochs']} epochs. "
        f"Wall seconds from building the model (data already loaded) until the sampled HR@10 "
        f"first reaches {TARGET_HR}: compilation, sampling, fit and evaluation all count. "
        f"HR@10 values are truncated to 4 decimals."
    )


def quality_lines(quality: Result, markdown: bool = False) -> list[str]:
    """The time-to-quality report."""
    lines = header_lines(quality["environment"], None)
    lines += ["", *textwrap.wrap(quality_note(quality), 100, subsequent_indent="  "), ""]
    lines.append(table(QUALITY_COLUMNS, quality_rows(quality), markdown))
    for run in quality["runs"]:
        if "error" in run:
            lines += [f"{run['backend']} {arm_text(run)} FAILED:", run["error"]]
        else:
            curve = ", ".join(hr_text(h["hr@10"]) for h in run["history"])
            lines.append(f"  {run['backend']} {arm_text(run)}: HR@10 by epoch {curve}")
    lines += [f"{skipped['backend']}: {skipped['reason']}" for skipped in quality["skipped"]]
    return lines


def readme_fields(results: Result) -> Result:
    """ "rows", "notes", "commands" and "time_to_quality_rows": what benchmarks/tables.py
    puts in the README."""
    rows, notes, commands, quality_table = [], [], [], []
    speed = results.get("speed")
    if speed:
        commands.append(speed["environment"]["command"])
        ratios = {(r["backend"], r["model"]): r for r in speedups(speed)}
        for cells in speed_rows(speed):
            # Markdown would read a bare "*" as emphasis.
            row = dict(zip(SPEED_COLUMNS, (c.replace("*", "\\*") for c in cells), strict=True))
            r = ratios.get((cells[0], cells[1]))
            row["speed-up vs classic: sampling / fit / sampled eval / full eval / epoch"] = (
                " / ".join(f"{r[k]:,.0f}x" for k in RATIO_KEYS) if r else ""
            )
            rows.append(row)
        env, v = speed["environment"], speed["environment"]["versions"]
        notes.append(
            f"- Machine: {env['cpu']}, {env['cores']} cores, load average "
            f"{env['load_average_at_start']:.1f} at the start; TensorFlow {v['tensorflow']}, "
            f"Keras {v['keras']}, JAX {v['jax']}. Fit: the 2nd epoch of model.fit (the 1st, "
            "with tracing and XLA compilation, is a warm-up), its negative draw excluded; "
            "evaluations after one warm-up call; epoch = sampling + fit + sampled eval. "
            "Ratios measured in one run are the figures that count: absolute times on a "
            "shared machine are noisy."
        )
        if speed.get("reference") and "error" not in speed["reference"]:
            notes.append("- " + reference_note(speed["reference"]))
        checks = targets(speed)
        if checks:
            verdicts = "; ".join(
                f"{c['backend']} {c['target']} {seconds(c['measured_s'])} s "
                f"(<= {c['limit_s']:g}: {'PASS' if c['pass'] else 'MISS'})"
                for c in checks
            )
            notes.append(f"- Targets for NeuMF-8: {verdicts}.")
    quality = results.get("time_to_quality")
    if quality:
        commands.append(quality["environment"]["command"])
        quality_table = [
            dict(zip(QUALITY_COLUMNS, cells, strict=True)) for cells in quality_rows(quality)
        ]
        load = quality["environment"]["load_average_at_start"]
        notes.append(
            f"- {quality_note(quality)} Load average {load:.1f} at the start; the results "
            "are in the time-to-quality table below."
        )
    return {
        "rows": rows,
        "notes": notes,
        "commands": commands,
        "time_to_quality_rows": quality_table,
    }


def save_json(path: Path, section: str, report: Result) -> None:
    """Write `report` as `section` of the JSON file, keeping its other section.

    So speed and time to quality can share one file; the README fields are
    rebuilt from both.
    """
    results = json.loads(path.read_text()) if path.is_file() else {}
    results[section] = report
    results.update(readme_fields(results))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, results)


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically, to a temporary file and then a rename.

    `ncf_keras.training.write_json` does the same, but importing the package
    loads Keras, and this process must not: each worker picks its own backend.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def print_results(results: Result, markdown: bool) -> None:
    """Print every section that `results` holds."""
    if "speed" in results:
        print("\n".join(speed_lines(results["speed"], markdown)))
    if "time_to_quality" in results:
        if "speed" in results:
            print()
        print("\n".join(quality_lines(results["time_to_quality"], markdown)))


# --- Command line --------------------------------------------------------------------


def comma_list(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated subset of `choices`, in the given order."""

    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}; got {text!r}")
        return names

    return parse


def seed_list(text: str) -> list[int]:
    """An argparse type: comma-separated integer seeds, e.g. '0,1,2'."""
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers such as 0,1,2; got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The options; --worker and the ones after it are internal (see run_worker)."""
    parser = argparse.ArgumentParser(
        description="Speed of ncf_keras against the classic NCF approach, on ml-1m-ncf. "
        "Progress goes to stderr, the report to stdout."
    )
    parser.add_argument("--data-dir", help="data folder (default: $NCF_DATA_DIR, else data/)")
    parser.add_argument(
        "--models",
        type=comma_list(MODELS),
        default=list(MODELS),
        help="comma-separated models (default: gmf,mlp,neumf)",
    )
    parser.add_argument(
        "--backend",
        choices=["tensorflow", "jax", "both"],
        default="tensorflow",
        help="Keras backend(s) to measure (default: tensorflow)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--skip-reference", action="store_true", help="do not measure the classic reference"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed calls per sampling/eval number (default: 3)"
    )
    parser.add_argument(
        "--reference-fraction",
        type=float,
        default=0.1,
        help="share of the positives the classic sampling and fit are timed on (default: 0.1)",
    )
    parser.add_argument(
        "--reference-users",
        type=int,
        default=200,
        help="users the classic sampled evaluation is timed on (default: 200)",
    )
    parser.add_argument(
        "--reference-full-users",
        type=int,
        default=50,
        help="users the classic full-ranking evaluation is timed on (default: 50)",
    )
    parser.add_argument(
        "--time-to-quality",
        action="store_true",
        help=f"instead of the speed table: epochs and seconds until NeuMF-8 reaches "
        f"HR@10 >= {TARGET_HR}, at batch {DEFAULT_BATCH} and {PAPER_BATCH} with "
        f"{NEGATIVES} negatives, and at batch {DEFAULT_BATCH} with {QUALITY_NEGATIVES}",
    )
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=40,
        help="time-to-quality epoch cap (default: 40, as for quality.py's factor-8 rows)",
    )
    parser.add_argument(
        "--seeds",
        type=seed_list,
        default=[0, 1, 2],
        help="time-to-quality seeds, comma-separated (default: 0,1,2)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument(
        "--from-json",
        type=Path,
        help="print the report of an earlier --json file and measure nothing; with --json, "
        "also write it there with its README fields rebuilt",
    )
    # Internal: one measurement in a fresh process (see run_worker).
    parser.add_argument(
        "--worker", choices=["package", "reference", "quality"], help=argparse.SUPPRESS
    )
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help=argparse.SUPPRESS)
    parser.add_argument("--negatives", type=int, default=NEGATIVES, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    return parser


def worker_main(args: argparse.Namespace) -> None:
    """Run one measurement and write its result as JSON to --worker-out."""
    if args.worker == "package":
        result = measure_package(args.model, args.data_dir, args.repeats)
    elif args.worker == "reference":
        result = measure_reference(
            args.models,
            args.data_dir,
            args.reference_fraction,
            args.reference_users,
            args.reference_full_users,
        )
    else:
        result = measure_time_to_quality(
            args.data_dir, args.batch_size, args.negatives, args.seed, args.max_epochs
        )
    args.worker_out.write_text(json.dumps(result, indent=2))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        print_results(results, args.markdown)
        if args.json:  # rebuild the README fields with this version of the script
            results.update(readme_fields(results))
            write_json(args.json, results)
        return 0

    args.backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    env = environment()
    start = time.perf_counter()
    if args.time_to_quality:
        section = "time_to_quality"
        report = run_quality(args)
        report["settings"] = {
            "max_epochs": args.max_epochs,
            "seeds": args.seeds,
            "target_hr@10": TARGET_HR,
        }
    else:
        section = "speed"
        report = run_speed(args)
        report["settings"] = {
            "repeats": args.repeats,
            "reference_fraction": args.reference_fraction,
            "reference_users": args.reference_users,
            "reference_full_users": args.reference_full_users,
        }
        report["speedups"] = speedups(report)
        report["targets"] = targets(report)
    report["environment"] = env
    report["wall_s"] = time.perf_counter() - start

    print_results({section: report}, args.markdown)
    print(f"\ntotal wall time {report['wall_s']:.0f} s")
    if args.json:
        save_json(args.json, section, report)
        print(f"wrote {args.json} ({section})")
    failed = [run for run in [*report["runs"], report.get("reference") or {}] if "error" in run]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
