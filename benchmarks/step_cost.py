"""Seconds per training step of NeuMF-8 for one table size, optimizer and batch size.

The measurements behind `training.config.training_defaults` (benchmarks/README.md,
*Defaults that scale*): `model.fit` on in-memory random rows (20% positive
labels) with embedding tables of `users` and `items` rows, after a warm-up of
two compiled calls, as `train` runs it (`import_keras_quietly`, so glibc keeps
freed memory for reuse; `compile_model` at lr 0.003). Prints one JSON line; run
it once per setup, with KERAS_BACKEND set and under `/usr/bin/time -v` for the
peak RSS:

    KERAS_BACKEND=jax python benchmarks/step_cost.py 138493 26744 lazy-adam 16384 64
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("users", type=int)
    parser.add_argument("items", type=int)
    parser.add_argument("optimizer", choices=["adam", "lazy-adam"])
    parser.add_argument("batch_size", type=int)
    parser.add_argument("steps", type=int, help="timed steps, after the warm-up")
    args = parser.parse_args()

    from ncf_keras.keras_startup import import_keras_quietly

    import_keras_quietly()
    import keras
    import numpy as np

    from ncf_keras.models import build_model
    from ncf_keras.training.fit import STEPS_PER_EXECUTION, compile_model

    batch, rng = args.batch_size, np.random.default_rng(0)
    rows = batch * (args.steps + 2 * STEPS_PER_EXECUTION)
    x = {
        "user": rng.integers(0, args.users, rows, dtype=np.int32),
        "item": rng.integers(0, args.items, rows, dtype=np.int32),
    }
    y = (rng.random(rows) < 0.2).astype("float32")
    keras.utils.set_random_seed(0)
    model = build_model("neumf", args.users, args.items, 8)
    model = compile_model(model, args.optimizer, 0.003)  # for lazy-adam, a LazyAdamModel
    warm = 2 * STEPS_PER_EXECUTION * batch

    def fit(part: slice) -> None:
        inputs = {key: value[part] for key, value in x.items()}
        model.fit(inputs, y[part], batch_size=batch, epochs=1, verbose=0, shuffle=False)

    fit(slice(0, warm))
    start = time.perf_counter()
    fit(slice(warm, None))
    seconds = (time.perf_counter() - start) / args.steps
    result = {
        "backend": keras.backend.backend(),
        **vars(args),
        "s_per_step": seconds,
        "rows_per_s": batch / seconds,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
