"""The classic reference: the NCF paper code's approach, timed on a part and extrapolated.

The paper's code and its ports draw negatives with a per-row Python loop that
rejects positives with a set lookup, fit at batch 256 on numpy arrays with a
plain `compile` (no XLA, one batch per call), and evaluate with one
`model.predict` call per user. All of it runs here on the TensorFlow backend.
Timing it in full would take many minutes, so it times a fixed part of the
work and extrapolates linearly: sampling and fit from a seeded-random share of
the positives (random, so that the rejection rate is typical), the
evaluations from the first users.

`speed.py` runs it in the same run as the package's measurements, so that the
speed-ups are ratios measured in one run; alone:

    python benchmarks/classic.py --data-dir "$NCF_DATA_DIR" --fraction 0.01 --json /tmp/c.json
"""

from __future__ import annotations

import argparse
import heapq
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import common
import numpy as np
import speed_tables
from common import Result, peak_rss_mib, timed

if TYPE_CHECKING:
    import keras

    from ncf_keras.data.dataset import Dataset

MODELS = ("gmf", "mlp", "neumf")
SEED = 0
NEGATIVES = 4  # negatives per positive, as in the paper's code
BATCH_SIZE = 256  # the paper's code and its ports
LEARNING_RATE = 1e-3  # the paper's Adam learning rate
WARMUP_BATCHES = 20  # fitted once before timing, so that tracing is not timed


def classic_training_instances(
    pairs: list[tuple[int, int]],
    train: set[tuple[int, int]],
    num_items: int,
    negatives: int,
    rng: np.random.RandomState,
) -> tuple[list[int], list[int], list[int]]:
    """`get_train_instances` of the paper's code: one Python iteration per row.

    For every positive (u, i): append it, then draw `negatives` items, each
    redrawn while (u, j) is a training positive. Returns users, items, labels.
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


def classic_eval_user(
    model: keras.Model, user: int, test_item: int, negatives: list[int], k: int = 10
) -> tuple[int, float]:
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


def classic_full_rank_user(
    model: keras.Model, user: int, test_item: int, train: set[tuple[int, int]], num_items: int
) -> int:
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
    """Seconds of the classic approach on a part of the work, extrapolated linearly to all of it.

    Sampling and fit: a seeded random `fraction` of the positives. Evaluations:
    the first `users` and `full_users` users. Every model uses the same sampled
    rows. Runs in a worker process, on the TensorFlow backend.
    """
    import keras

    from ncf_keras.data.sources import load_dataset
    from ncf_keras.models import build_model

    dataset = load_dataset(common.DATASET, data_dir)
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
        model = build_model(name, dataset.num_users, dataset.num_items)
        model.compile(
            optimizer=keras.optimizers.Adam(LEARNING_RATE),
            loss="binary_crossentropy",
            jit_compile=False,
        )
        result = measure_reference_model(model, dataset, train, x, y, users, full_users)
        result["epoch_s"] = sample_s + result["fit_s"] + result["sampled_eval_s"]
        models.append({"model": name, **result})
    return {
        "backend": keras.backend.backend(),
        "dataset": common.dataset_summary(dataset, data_dir, NEGATIVES),
        "batch_size": BATCH_SIZE,
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
    model: keras.Model,
    dataset: Dataset,
    train: set[tuple[int, int]],
    x: dict[str, np.ndarray],
    y: np.ndarray,
    users: int,
    full_users: int,
) -> Result:
    """Seconds of a classic fit at batch 256 on (x, y) and of per-user evaluation, extrapolated.

    One warm-up fit on 20 batches and one warm-up predict come first, so that
    tracing is not timed (as for the package).
    """
    from ncf_keras.metrics import hit_rate

    warmup = BATCH_SIZE * WARMUP_BATCHES
    model.fit({k: v[:warmup] for k, v in x.items()}, y[:warmup], batch_size=BATCH_SIZE, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=True, verbose=0)
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


def run_reference(
    data_dir: str | None, models: list[str], fraction: float, users: int, full_users: int
) -> Result:
    """measure_reference in a fresh TensorFlow process; its result, or {"error": ...}."""
    argv = common.worker_args(
        data_dir,
        models=",".join(models),
        fraction=fraction,
        users=users,
        full_users=full_users,
    )
    return common.run_worker(Path(__file__), "tensorflow", argv, "classic reference (tensorflow)")


def add_reference_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """How much of the work the reference times: --{prefix}fraction, -users, -full-users."""
    parser.add_argument(
        f"--{prefix}fraction",
        type=float,
        default=0.1,
        help="share of the positives the classic sampling and fit are timed on (default: 0.1)",
    )
    parser.add_argument(
        f"--{prefix}users",
        type=int,
        default=200,
        help="users the classic sampled evaluation is timed on (default: 200)",
    )
    parser.add_argument(
        f"--{prefix}full-users",
        type=int,
        default=50,
        help="users the classic full-ranking evaluation is timed on (default: 50)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line options; --worker is internal (see common.run_worker)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_script_options(parser, MODELS)
    add_reference_options(parser)
    common.add_worker_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Measure the reference alone, print it, and write the JSON file; 1 if it failed."""
    args = build_parser().parse_args(argv)
    if args.worker:
        result = measure_reference(
            args.models, args.data_dir, args.fraction, args.users, args.full_users
        )
        common.write_worker_result(args.worker_out, result)
        return 0

    def measure() -> Result:
        reference = run_reference(
            args.data_dir, args.models, args.fraction, args.users, args.full_users
        )
        return {"runs": [], "reference": reference, "skipped": []}

    settings = {
        "reference_fraction": args.fraction,
        "reference_users": args.users,
        "reference_full_users": args.full_users,
    }
    results = common.run_and_save(
        measure, settings, speed_tables.speed_printout, args.json, seed=SEED
    )
    return 1 if common.failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
