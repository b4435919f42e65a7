"""Plumbing the benchmark scripts share: workers, timers, the machine, and the Markdown table.

Nothing here imports Keras: a script's parent process stays free of any
backend, and each worker process picks its own with `KERAS_BACKEND`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ncf_keras.data.dataset import Dataset

DATASET = "ml-1m-ncf"  # the NCF paper's own split: its numbers are on it
BACKENDS = ("tensorflow", "jax")

Result = dict[str, Any]


# --- Timers ---------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(wall seconds, return value) of one call of `fn`."""
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Median wall seconds over `repeats` calls, the seconds of every call, and the last value."""
    times, value = [], None
    for _ in range(repeats):
        elapsed, value = timed(fn)
        times.append(elapsed)
    return statistics.median(times), times, value


def dataset_summary(dataset: Dataset, data_dir: str | None, negatives: int) -> Result:
    """The dataset's sizes (users, items, positives, training rows per epoch) and its folder."""
    from ncf_keras.data.sources import resolve_data_dir

    return {
        "name": dataset.name,
        "folder": str(resolve_data_dir(data_dir).resolve()),
        "users": dataset.num_users,
        "items": dataset.num_items,
        "positives": len(dataset.train_users),
        "rows_per_epoch": len(dataset.train_users) * (1 + negatives),
    }


def epoch_draw_seconds(dataset: Dataset, negatives: int, seed: int, repeats: int) -> tuple:
    """(median seconds, every call's seconds) of drawing one epoch's training rows, as
    `TrainingSamples` does at the start of epochs 1, 2, ... (`training_instances`)."""
    from ncf_keras.data.sampling import random_stream, training_instances

    epochs = iter(range(1, repeats + 1))
    median, times, _ = median_time(
        lambda: training_instances(
            dataset.train_users,
            dataset.train_items,
            dataset.unseen_in_train,
            negatives,
            random_stream(seed, "epoch", next(epochs)),
        ),
        repeats,
    )
    return median, times


def fit_epoch_seconds(fitted, samples, repeats: int) -> tuple[float, float, list[float], Any]:
    """(warm-up epoch's seconds, median seconds, every timed epoch's seconds, the last
    History) of fitting `fitted` on `samples` for 1 + `repeats` epochs, one at a time.

    `samples` is a `TrainingSamples` drawing in the foreground (`prefetch=False`),
    fed as `train` feeds it (`fit_input`). The first epoch is a warm-up, so tracing
    and XLA compilation are not counted. Each timed epoch's draw of its negatives
    (in `on_epoch_begin`) is subtracted: it is sampling, timed as such.
    """
    from ncf_keras.training.tf_input import fit_input

    fed, feeding = fit_input(samples)
    warmup_s, _ = timed(lambda: fitted.fit(fed, epochs=1, callbacks=feeding, verbose=0))
    times, history = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        wall, history = timed(lambda: fitted.fit(fed, epochs=1, callbacks=feeding, verbose=0))
        drawn = sum(s for at, s in samples.sample_seconds.values() if at >= start)
        times.append(wall - drawn)
    return warmup_s, statistics.median(times), times, history


def model_at_defaults(name: str, dataset: Dataset, factors: int, negatives: int, seed: int):
    """(model, the model to fit, the chosen settings) for `name` on `dataset`.

    The model has `factors` predictive factors (the paper's MLP tower for
    them), its weights seeded with `seed`, compiled at the batch size,
    learning rate and optimizer `train` would choose for the data
    (`training_defaults`), which the settings dict holds.
    """
    import keras

    from ncf_keras.defaults import paper_tower
    from ncf_keras.models import build_model
    from ncf_keras.training.config import training_defaults
    from ncf_keras.training.fit import compile_model

    sizes = (dataset.num_users, dataset.num_items, len(dataset.train_users))
    backend = keras.backend.backend()
    chosen, _ = training_defaults(*sizes, backend, negatives=negatives, model=name)
    keras.utils.set_random_seed(seed)
    model = build_model(name, *sizes[:2], factors, paper_tower(factors))
    return model, compile_model(model, chosen["optimizer"], chosen["learning_rate"]), chosen


# --- Worker processes -------------------------------------------------------------------


def progress(message: str) -> None:
    """A progress line on stderr, so that stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


def backend_available(backend: str) -> bool:
    """Whether the backend's package can be imported (JAX is optional)."""
    return importlib.util.find_spec(backend) is not None


def worker_args(data_dir: str | None, **options: Any) -> list[str]:
    """A worker's command line: `--worker`, the data folder, then `options` as flags."""
    argv = ["--worker"]
    if data_dir is not None:
        argv += ["--data-dir", data_dir]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def run_worker(script: Path, backend: str, argv: list[str], label: str) -> Result:
    """Run `script` with `argv` in a fresh process with KERAS_BACKEND=backend; its JSON result.

    Keras reads KERAS_BACKEND once, at import, and ru_maxrss is per process: a
    fresh process gives each measurement its own backend and its own peak
    memory. Adds "worker_wall_s", the worker's whole run in seconds. A worker
    that fails gives {"error": the last lines of its stderr}. Progress goes to
    stderr as `label`.
    """
    progress(f"{label} ...")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        command = [sys.executable, str(script), *argv, "--worker-out", str(out)]
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


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """The hidden options with which a script runs as its own worker (see run_worker)."""
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)


def run_and_save(
    measure: Callable[[], Result],
    settings: Result,
    show: Callable[[Result], str],
    path: Path | None,
    **facts: Any,
) -> Result:
    """Run `measure`, add `settings`, the environment (with `facts`) and the wall seconds.

    Prints `show(results)` and the total wall time, and writes the results to
    `path` when one is given. Returns the results.
    """
    env = {**environment(), **facts}
    start = time.perf_counter()
    results = measure()
    results |= {"settings": settings, "environment": env, "wall_s": time.perf_counter() - start}
    print(show(results))
    print(f"\ntotal wall time {results['wall_s']:.0f} s")
    if path:
        write_results(path, results)
        print(f"wrote {path}")
    return results


def failed(results: Result) -> bool:
    """Whether any worker of `results` (a run, or the classic reference) failed."""
    parts = [*results.get("runs", []), results.get("reference") or {}]
    return any("error" in part for part in parts)


def write_results(path: Path, results: Result) -> None:
    """Write a script's results to `path`, atomically, creating its folder if need be.

    Called once every worker has finished: the package's module may import Keras,
    and the parent process must not hold a backend while it starts workers.
    """
    from ncf_keras.runs.folder import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, results)


def write_worker_result(path: Path, result: Result) -> None:
    """A worker's result, as JSON, where its parent reads it."""
    path.write_text(json.dumps(result, indent=2))


# --- The machine -------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or the platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def versions() -> dict[str, str]:
    """Installed versions of the libraries that matter here; "not installed" if absent."""
    found = {}
    for package in ("tensorflow", "keras", "jax", "jaxlib", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def environment() -> Result:
    """The exact command, the machine, its load and the library versions, for a results file."""
    return {
        "command": shlex.join(["python", *sys.argv]),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "load_average_at_start": os.getloadavg()[0],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
    }


def machine(keras_version: str, backend: str) -> str:
    """CPU, cores, Keras version and backend: 'AMD EPYC, 2 cores, keras 3.15.1 (tensorflow)'."""
    return f"{cpu_model()}, {os.cpu_count()} cores, keras {keras_version} ({backend})"


# --- Output ------------------------------------------------------------------------------


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: the header, its separator line, then one line per row.

    The one table builder of the benchmarks: every table of the READMEs and of
    the scripts' printouts comes from here.
    """

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])


# --- Command-line types --------------------------------------------------------------------


def comma_list(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated subset of `choices`, in the order given."""

    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}; got {text!r}")
        return names

    return parse


def int_list(text: str) -> list[int]:
    """An argparse type: comma-separated integers, e.g. seeds '0,1,2' or layers '64,32,16,8'."""
    try:
        return [int(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers such as 0,1,2; got {text!r}") from None


def beta_pair(text: str) -> tuple[float, float]:
    """An argparse type: Adam's beta_1,beta_2, e.g. '0.25,0.5'."""
    try:
        beta_1, beta_2 = (float(beta) for beta in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two numbers such as 0.25,0.5; got {text!r}"
        ) from None
    return beta_1, beta_2


def backends(choice: str) -> list[str]:
    """The backends that `--backend` names: 'tensorflow', 'jax', or 'both'."""
    return list(BACKENDS) if choice == "both" else [choice]


def add_script_options(parser: argparse.ArgumentParser, models: tuple[str, ...] = ()) -> None:
    """--data-dir, --json, and --models when the script takes a subset of `models`."""
    parser.add_argument("--data-dir", help="data folder (default: $NCF_DATA_DIR, else data/)")
    parser.add_argument("--json", type=Path, help="also write the measurements to this JSON file")
    if models:
        parser.add_argument(
            "--models",
            type=comma_list(models),
            default=list(models),
            help=f"comma-separated models (default: {','.join(models)})",
        )


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """--backend tensorflow|jax|both (default: tensorflow)."""
    parser.add_argument(
        "--backend",
        choices=[*BACKENDS, "both"],
        default="tensorflow",
        help="Keras backend(s) to measure (default: tensorflow)",
    )
