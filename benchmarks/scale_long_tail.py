"""The long-tail rows of `scale.py`: a log of many users with few interactions each.

For one `--long-tail` spec (e.g. 3M users with 2 interactions each over 200k
items) and each Keras backend:

* **load**: a worker process loads the spec (`synthetic_logs.interaction_log`,
  `leave_one_out`, 99 test negatives per user) and reports its seconds, its
  peak RSS (the worker imports Keras first: the RSS before loading is
  recorded, and the table gives the peak above it too) and the bytes it holds
  per user;
* **full ranking**: a worker ranks each test item of a seeded sample of
  `--full-users` users against all 1,000,000 items (`--full-items`) with an
  untrained NeuMF-8 (`metrics.full_ranks`, timed on its second call), on a log
  of 100,000 users with 20 interactions each that uses every item;
* **train**: for each `--train-flags` set, the whole `python -m ncf_keras train
  --model neumf --dataset SPEC --epochs 1` in a fresh process: its wall
  seconds and peak RSS (`os.wait4`), and the epoch's sampling, fit and
  evaluation seconds and HR@10 from the run's metrics.json. A run killed at
  `--train-timeout` seconds is a row too, marked as such.

Targets (issue 27, section 5): load <= 30 s and <= 2 GB; train <= 10 min and <= 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import common
from common import Result, peak_rss_mib, timed

LOAD_TARGET = (30.0, 2.0)  # seconds, GB (10^9 bytes)
TRAIN_TARGET = (600.0, 4.0)
FLAG_SETS = {
    "default": [],
    "lazy-adam": ["--optimizer", "lazy-adam"],
    "large-batch": ["--recipe", "large-batch"],
    "lazy-adam+large-batch": ["--optimizer", "lazy-adam", "--recipe", "large-batch"],
}


def measure_load(spec: str) -> Result:
    """Load and split `spec` in this (worker) process: seconds, peak RSS, sizes."""
    from ncf_keras.data.sources import load_dataset

    before_mib = os.sysconf("SC_PAGE_SIZE") * int(Path("/proc/self/statm").read_text().split()[1])
    load_s, dataset = timed(lambda: load_dataset(spec, seed=0))
    negatives = dataset.test_negatives
    return {
        "users": dataset.num_users,
        "items": dataset.num_items,
        "positives": len(dataset.train_users),
        "load_s": load_s,
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_load_mib": before_mib / 2**20,
        "negatives_dtype": str(negatives.dtype),
        "held_bytes_per_user": (
            negatives.nbytes
            + dataset.train_users.nbytes
            + dataset.train_items.nbytes
            + dataset.test_items.nbytes
            + dataset.user_labels.nbytes
        )
        / dataset.num_users,
    }


def measure_full(num_items: int, sample: int) -> Result:
    """Full ranking of `sample` users against `num_items` items, in this (worker) process."""
    import numpy as np

    from ncf_keras.data.dataset import leave_one_out
    from ncf_keras.metrics import full_ranks, sample_users
    from ncf_keras.models import build_model

    num_users, per_user = 100_000, 20
    rows = np.arange(num_users * per_user)
    dataset = leave_one_out("full", rows // per_user, rows * 7_919 % num_items, None, seed=0)
    model = build_model("neumf", dataset.num_users, dataset.num_items, 8)
    users = sample_users(dataset, sample, seed=0)
    full_ranks(model, dataset, users=users[:1])  # the first call traces and compiles predict
    seconds, _ = timed(lambda: full_ranks(model, dataset, users=users))
    return {
        "items": dataset.num_items,
        "sample_users": len(users),
        "full_s": seconds,
        "full_s_per_1000_users": seconds * 1000 / len(users),
        "peak_rss_mib": peak_rss_mib(),
    }


def measure_train(spec: str, flags: str, backend: str, timeout: float) -> Result:
    """The whole `train --model neumf --epochs 1` with one flag set, in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = [
            *(sys.executable, "-m", "ncf_keras", "train", "--model", "neumf"),
            *("--dataset", spec, "--epochs", "1", "--verbose", "0", "--out", str(out)),
            *FLAG_SETS[flags],
        ]
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        common.progress(f"{backend} train {flags} ...")
        start = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        stderr = process.stderr.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        wall = time.perf_counter() - start
        result = {"command": " ".join(command[1:]), "wall_s": wall}
        result["peak_rss_mib"] = usage.ru_maxrss / 1024
        if wall >= timeout:
            return result | {"error": f"killed after {timeout:.0f} s"}
        if os.waitstatus_to_exitcode(status) != 0 or not (out / "metrics.json").is_file():
            tail = [line for line in stderr.splitlines() if line.strip()][-5:]
            return result | {"error": "\n".join(tail) or f"exit status {status}"}
        epoch = json.loads((out / "metrics.json").read_text())["history"][0]
    common.progress(f"  done in {wall:.0f} s")
    return result | {
        "sample_s": epoch.get("sample_seconds"),
        "fit_s": epoch.get("train_seconds"),
        "eval_s": epoch.get("eval_seconds"),
        "hr@10": epoch.get("hr@10"),
    }


def run_long_tail(script: Path, args, kept: list[Result]) -> Result:
    """The load worker and every train flag set not in `kept`, per backend: {"runs": [...]}."""
    runs = list(kept)
    done = {(r["backend"], r["kind"], r.get("flags")) for r in kept}
    for backend in common.backends(args.backend):
        if (backend, "load", None) not in done:
            argv = common.worker_args(None, long_tail=args.long_tail, full_items=0)
            result = common.run_worker(script, backend, argv, f"{backend} load {args.long_tail}")
            runs.append({"backend": backend, "kind": "load", "spec": args.long_tail, **result})
        if args.full_items and (backend, "full", None) not in done:
            argv = common.worker_args(
                None,
                long_tail=args.long_tail,
                full_items=args.full_items,
                full_users=args.full_users,
            )
            result = common.run_worker(script, backend, argv, f"{backend} full ranking")
            runs.append({"backend": backend, "kind": "full", "spec": args.long_tail, **result})
        for flags in args.train_flags:
            if flags != "none" and (backend, "train", flags) not in done:
                result = measure_train(args.long_tail, flags, backend, args.train_timeout)
                runs.append(
                    {"backend": backend, "kind": "train", "flags": flags, "spec": args.long_tail}
                    | result
                )
    return {"runs": runs}


def kept_long_tail(path: Path | None, spec: str) -> list[Result]:
    """The runs of the JSON file at `path` measured on `spec`, failures left out."""
    if path is None or not path.is_file():
        return []
    before = json.loads(path.read_text())
    return [r for r in before.get("runs", []) if r.get("spec") == spec and "error" not in r]


def full_ranking_notes(runs: list[Result]) -> list[str]:
    """One line per full-ranking measurement."""
    return [
        f"- {r['backend']}: full ranking of {r['sample_users']:,} sampled users against "
        f"{r['items']:,} items (untrained NeuMF-8): {r['full_s']:.0f} s, "
        f"{r['full_s_per_1000_users']:.0f} s per 1,000 users, peak "
        f"{r['peak_rss_mib'] * 2**20 / 1e9:.2f} GB."
        if "error" not in r
        else f"- {r['backend']}: full ranking failed: {r['error'][:80]}"
        for r in runs
        if r["kind"] == "full"
    ]


def long_tail_printout(results: Result) -> str:
    """The table and how it was measured."""
    env = results["environment"]
    return "\n".join(
        [
            long_tail_table(results["runs"]),
            "",
            *full_ranking_notes(results["runs"]),
            f"- {results['settings']['long_tail']}; train: NeuMF-8, one epoch, the CLI's "
            f"defaults but for the flags named. Machine: {env['cpu']}, "
            f"{env['usable_cores']} usable cores, shared with other work.",
        ]
    )


def verdict(seconds: float, mib: float, target: tuple[float, float]) -> str:
    """'met' or what was missed, against (seconds, GB)."""
    missed = []
    if seconds > target[0]:
        missed.append(f"time > {target[0]:.0f} s")
    if mib * 2**20 / 1e9 > target[1]:
        missed.append(f"memory > {target[1]:.0f} GB")
    return "met" if not missed else "missed: " + ", ".join(missed)


def long_tail_table(runs: list[Result]) -> str:
    """One row per load or train measurement; peak RSS in GB (10^9 bytes), as the targets."""
    rows = []
    for r in runs:
        if r["kind"] == "full":
            continue
        what = "load + split" if r["kind"] == "load" else f"train, {r['flags']}"
        seconds = r.get("load_s", r.get("wall_s", 0.0))
        if "error" in r and r["kind"] == "load":
            rows.append([r["backend"], what, "failed", "", "", "", "", "", r["error"][:60]])
            continue
        target = LOAD_TARGET if r["kind"] == "load" else TRAIN_TARGET
        status = r["error"][:60] if "error" in r else verdict(seconds, r["peak_rss_mib"], target)

        def cell(key: str, r: Result = r) -> str:
            return "" if r.get(key) is None else f"{r[key]:,.0f}"

        peak = f"{r['peak_rss_mib'] * 2**20 / 1e9:.2f}"
        if "rss_before_load_mib" in r:
            peak += f" ({(r['peak_rss_mib'] - r['rss_before_load_mib']) * 2**20 / 1e9:.2f} above)"
        rows.append(
            [
                r["backend"],
                what,
                f"{seconds:,.0f}",
                cell("sample_s"),
                cell("fit_s"),
                cell("eval_s"),
                "" if r.get("hr@10") is None else f"{r['hr@10']:.3f}",
                peak,
                status,
            ]
        )
    header = ["backend", "what", "s", "sampling s", "fit s", "eval s", "HR@10", "peak GB", ""]
    return common.markdown_table(header, rows)


def add_options(parser: argparse.ArgumentParser) -> None:
    """`--long-tail`, `--train-flags` and `--train-timeout`, for `scale.py`."""
    parser.add_argument(
        "--long-tail",
        metavar="SPEC",
        help="measure this synthetic spec's load and one-epoch train runs instead of --sizes",
    )
    parser.add_argument(
        "--train-flags",
        type=common.comma_list((*FLAG_SETS, "none")),
        default=list(FLAG_SETS),
        help="with --long-tail: the train flag sets, comma-separated, or none (default: all four)",
    )
    parser.add_argument(
        "--full-items",
        type=int,
        default=1_000_000,
        help="with --long-tail: items of the full-ranking log; 0 skips it (default: 1000000)",
    )
    parser.add_argument(
        "--train-timeout",
        type=float,
        default=600.0,
        help="with --long-tail: seconds before a train run is killed (default: 600)",
    )


def main(script: Path, args: argparse.Namespace, seed: int) -> int:
    """`scale.py --long-tail`: the worker's load, or every run, the table and the JSON."""
    if args.worker:
        if args.full_items:
            result = measure_full(args.full_items, args.full_users)
        else:
            result = measure_load(args.long_tail)
        common.write_worker_result(args.worker_out, result)
        return 0
    results = common.run_and_save(
        lambda: run_long_tail(script, args, kept_long_tail(args.json, args.long_tail)),
        {"long_tail": args.long_tail},
        long_tail_printout,
        args.json,
        seed=seed,
    )
    return 1 if common.failed(results) else 0
