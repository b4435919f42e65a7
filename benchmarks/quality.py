"""Quality on the NCF paper's own split (`ml-1m-ncf`): ours beside the paper's Table 2.

Every trained row follows one protocol:

* one random training item per user is held out as a **validation** item
  (`ncf_keras.data.dataset.validation_split`), ranked against 99 items the user
  never touched, in training or test; models train on the rest;
* after each epoch, HR@10 / NDCG@10 are measured on the validation items and on
  the test items (sampled protocol: 99 negatives);
* the reported epoch is the one with the best **validation** HR@10 (early
  stopping with `patience`, best weights restored); the test items never choose
  anything. The best test epoch and the final epoch are recorded too, for honesty;
* at the reported epoch, full-ranking HR@10 / NDCG@10 on the test items as well.

Rows: ItemPop, iALS, the dot-product MF baseline, GMF, MLP, NeuMF and NeuMF
pre-trained from the same seed's GMF and MLP (fused with `--alpha`: the paper's
0.5, or the value that scores best on the validation items), at predictive
factors 8 and 64, and MF at 128 and 192. iALS (`ncf_keras.baselines`) has no
epochs: its regularization and alpha are chosen on the same validation items
from a grid (`--ials-regularization`, `--ials-alpha`), and the chosen setting
is fitted on the same training data as the trained rows.

    python benchmarks/quality.py --data-dir "$NCF_DATA_DIR" --factors 8 --seeds 0,1,2,3,4 \
        --negatives 8 --epochs 40 --patience 8
    python benchmarks/quality.py --data-dir "$NCF_DATA_DIR" --factors 64 --seeds 0,1,2 \
        --lr 0.001 --l2 0.0025 --negatives 8 --epochs 30 --patience 8 --alpha validation
    KERAS_BACKEND=jax python benchmarks/quality.py --data-dir "$NCF_DATA_DIR" --models mf \
        --factors 128,192 --seeds 0,1,2 --optimizer sgd --lr 491.52 --batch-size 16384 \
        --l2 0.0025 --negatives 8 --epochs 20 --patience 20 --schedule cosine
    python benchmarks/quality.py --data-dir "$NCF_DATA_DIR" --models ials --factors 64 \
        --seeds 0,1,2

Each run's settings are stored with it. Runs with other settings belong in
their own file (`--out benchmarks/results/quality-NAME.json`): report.py lists
those as tuning runs.

Results go to a JSON file (default `benchmarks/results/quality.json`), updated
after every run; runs already in it are skipped, so a long benchmark can be
resumed. `python benchmarks/report.py` turns the files into the READMEs' tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from itertools import product
from pathlib import Path

import keras
from common import beta_pair, comma_list, int_list, machine

from ncf_keras.baselines import IALS, ItemPop, choose_ials
from ncf_keras.data.dataset import Dataset, validation_split
from ncf_keras.data.sources import load_dataset
from ncf_keras.defaults import ADAM_BETAS, MODEL_NAMES, SAMPLE_ON
from ncf_keras.errors import DataError
from ncf_keras.metrics import evaluate, full_ranks, hit_rate, ndcg
from ncf_keras.models import build_model
from ncf_keras.runs.folder import write_json
from ncf_keras.training.fit import compile_model, train
from ncf_keras.training.pretraining import choose_alpha, load_pretrained

RESULTS = Path(__file__).parent / "results" / "quality.json"
ROWS = ("itempop", "ials", *MODEL_NAMES, "neumf-pretrained")


def full_metrics(model: ItemPop | IALS | keras.Model, data: Dataset) -> dict:
    """Full-ranking HR@10 and NDCG@10 on `data`'s test items."""
    ranks = full_ranks(model, data)
    return {"hr@10": hit_rate(ranks), "ndcg@10": ndcg(ranks)}


def run_itempop(data: Dataset) -> dict:
    """ItemPop row: deterministic, no training, no seed."""
    pop = ItemPop(data)
    return {"test": evaluate(pop, data), "full": full_metrics(pop, data)}


def run_ials(
    factors: int, seed: int, data: Dataset, validation: Dataset, args: argparse.Namespace
) -> dict:
    """iALS row: settings chosen on the validation items, then fitted as the trained rows are.

    Like them, it is fitted on `validation`'s training data (the training data
    minus the validation items) and tested on `data`'s test items. The
    record's "seconds" cover the whole grid search and the final fit;
    "fit_seconds" the final fit alone; "grid" holds one row per setting tried.
    """
    start = time.perf_counter()
    chosen, grid = choose_ials(
        validation, [factors], args.ials_regularization, args.ials_alpha, seed=seed
    )
    ials = IALS(**chosen, seed=seed).fit(validation)
    seconds = time.perf_counter() - start
    return {
        "backend": "implicit",
        "settings": ials_settings(args),
        "chosen": chosen,
        "seconds": seconds,
        "fit_seconds": ials.fit_seconds,
        "validation": evaluate(ials, validation),
        "test": evaluate(ials, data),
        "full": full_metrics(ials, data),
        "grid": grid,
    }


def run_model(
    name: str,
    factors: int,
    seed: int,
    data: Dataset,
    validation: Dataset,
    args: argparse.Namespace,
    pretrained_from: tuple[keras.Model, keras.Model] | None = None,
) -> tuple[dict, keras.Model]:
    """Train one row with early stopping on validation; return its record and model.

    The record's "seconds" are the wall seconds of training, evaluations included.
    """
    keras.utils.set_random_seed(seed)
    tower = {"layers": args.layers, "dropout": args.dropout} if name in ("mlp", "neumf") else {}
    model = build_model(name, data.num_users, data.num_items, factors, l2=args.l2, **tower)
    optimizer, lr, alpha = args.optimizer, args.lr, None
    if pretrained_from is not None:
        if args.alpha == "validation":
            alpha = choose_alpha(model, *pretrained_from, validation)
        else:
            alpha = float(args.alpha)
        load_pretrained(model, *pretrained_from, alpha=alpha)
        optimizer, lr = args.pretrain_optimizer, args.pretrain_lr
    betas = ADAM_BETAS if pretrained_from is not None else args.betas
    compile_model(model, optimizer, lr, betas=betas)
    start = time.perf_counter()
    history = train(
        model,
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        negatives=args.negatives,
        seed=seed,
        validation=validation,
        patience=args.patience,
        callbacks=[cosine_decay(lr, args.epochs)] if args.schedule == "cosine" else [],
        verbose=0,
        sample_on=args.sample_on,
    )
    seconds = time.perf_counter() - start
    # max() keeps the first of equal bests; restored weights are those of `chosen`.
    chosen = max(history, key=lambda epoch: epoch["val_hr@10"])
    best_test = max(history, key=lambda epoch: epoch["hr@10"])

    def test_metrics(epoch: dict) -> dict:
        return {"epoch": epoch["epoch"], "hr@10": epoch["hr@10"], "ndcg@10": epoch["ndcg@10"]}

    record = {
        "backend": keras.backend.backend(),
        "settings": run_settings(args, pretrained_from is not None),
        **({"alpha": alpha} if alpha is not None else {}),
        "epochs_run": len(history),
        "seconds": seconds,
        "validation": {"hr@10": chosen["val_hr@10"], "ndcg@10": chosen["val_ndcg@10"]},
        "test": test_metrics(chosen),
        "best_test_epoch": test_metrics(best_test),
        "final": test_metrics(history[-1]),
        "full": full_metrics(model, data),
        "curve": {
            "val_hr@10": [epoch["val_hr@10"] for epoch in history],
            "test_hr@10": [epoch["hr@10"] for epoch in history],
        },
    }
    return record, model


def cosine_decay(learning_rate: float, epochs: int) -> keras.callbacks.LearningRateScheduler:
    """Sets epoch e's (0-based) learning rate to learning_rate * (1 + cos(pi * e / epochs)) / 2."""
    return keras.callbacks.LearningRateScheduler(
        lambda epoch: learning_rate * (1 + math.cos(math.pi * epoch / epochs)) / 2
    )


def run_settings(args: argparse.Namespace, fine_tuned: bool) -> dict:
    """The hyperparameters one trained row used, stored with its record.

    `validation_negatives` names the protocol: the validation items' negatives
    are items the user never touched, in training or test. Records without it
    come from before that fix, when they could hold the user's test item.
    """
    settings = {
        "optimizer": args.pretrain_optimizer if fine_tuned else args.optimizer,
        "lr": args.pretrain_lr if fine_tuned else args.lr,
    }
    for key in ("l2", "batch_size", "negatives", "epochs", "patience"):
        settings[key] = getattr(args, key)
    if not fine_tuned and tuple(args.betas) != ADAM_BETAS:
        settings["betas"] = list(args.betas)
    if args.layers is not None:
        settings["layers"] = args.layers
    if args.dropout:
        settings["dropout"] = args.dropout
    if args.schedule != "constant":
        settings["schedule"] = args.schedule
    if args.sample_on != "host":
        settings["sample_on"] = args.sample_on
    if fine_tuned:
        settings["alpha"] = args.alpha
    settings["validation_negatives"] = "never touched"
    return settings


def ials_settings(args: argparse.Namespace) -> dict:
    """What an iALS row was asked for: its grid, searched on validation, and its ALS sweeps.

    The values validation chose go in the record's "chosen", beside these.
    """
    return {
        "regularization": args.ials_regularization,
        "alpha": args.ials_alpha,
        "iterations": IALS().iterations,  # choose_ials fits with IALS's default
        "validation_negatives": "never touched",
    }


def settings_for(name: str, args: argparse.Namespace) -> dict | None:
    """The settings a row of model `name` records; None for ItemPop, which has none."""
    if name == "itempop":
        return None
    if name == "ials":
        return ials_settings(args)
    return run_settings(args, fine_tuned=name == "neumf-pretrained")


def alpha_option(text: str) -> str:
    """--alpha: 'validation' or a number from 0 to 1, kept as text for the settings."""
    try:
        ok = text == "validation" or 0.0 <= float(text) <= 1.0
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"expected 'validation' or 0 to 1, got {text!r}")
    return text


def float_list(text: str) -> list[float]:
    """An argparse type: comma-separated numbers, e.g. '0.01,0.1,1'."""
    try:
        return [float(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers such as 1,4,16; got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--factors", default="8", help="comma-separated, e.g. 8,64")
    parser.add_argument("--seeds", type=int_list, default=[0, 1, 2], help="comma-separated")
    parser.add_argument(
        "--models", type=comma_list(ROWS), default=list(ROWS), help="comma-separated"
    )
    parser.add_argument("--epochs", type=int, default=20, help="at most this many")
    parser.add_argument("--patience", type=int, default=4, help="early stopping on validation")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument(
        "--optimizer",
        choices=("adam", "lazy-adam", "sgd"),
        default="adam",
        help="for the trained rows (pre-trained NeuMF: --pretrain-optimizer); default adam",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=3e-3,
        help="learning rate (default 0.003, Adam's); for SGD it is on the batch's mean loss, "
        "so the per-example rate times --batch-size",
    )
    parser.add_argument(
        "--betas",
        type=beta_pair,
        default=ADAM_BETAS,
        help="Adam's beta_1,beta_2 (default 0.9,0.999)",
    )
    parser.add_argument(
        "--schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="the learning rate over --epochs: constant (default) or cosine decay to 0",
    )
    parser.add_argument(
        "--layers",
        type=int_list,
        default=None,
        help="the MLP tower of mlp and neumf, e.g. 128,32,16,8 (default: 8f,4f,2f,f)",
    )
    parser.add_argument(
        "--dropout", type=float, default=0.0, help="after each ReLU layer of the MLP tower"
    )
    parser.add_argument("--negatives", type=int, default=4)
    parser.add_argument(
        "--l2", type=float, default=0.0, help="L2 on the embeddings each example looks up"
    )
    parser.add_argument("--pretrain-optimizer", default="sgd", help="fine-tunes pre-trained NeuMF")
    parser.add_argument("--pretrain-lr", type=float, default=1e-3)
    parser.add_argument(
        "--alpha",
        default="0.5",
        type=alpha_option,
        help="weight of GMF in pre-trained NeuMF, eq. (13): a number (the paper: 0.5) "
        "or 'validation' to choose it on the validation items",
    )
    parser.add_argument(
        "--ials-regularization",
        type=float_list,
        default=[1.0, 10.0, 100.0, 1000.0],
        help="iALS's L2 penalties to choose from on validation, comma-separated",
    )
    parser.add_argument(
        "--ials-alpha",
        type=float_list,
        default=[4.0, 16.0, 64.0],
        help="iALS's alphas to choose from on validation (an interaction's confidence)",
    )
    parser.add_argument(
        "--sample-on",
        choices=SAMPLE_ON,
        default="host",
        help="where training negatives are drawn (train's sample_on)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser


def main() -> None:
    """Run every wanted (model, factors, seed) not yet in the results file, saving after each."""
    args = build_parser().parse_args()
    data = load_dataset("ml-1m-ncf", args.data_dir)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": []}
    results["machine"] = machine(keras.__version__, keras.backend.backend())
    backend = (
        f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} " if "KERAS_BACKEND" in os.environ else ""
    )
    command = f"{backend}python benchmarks/quality.py " + " ".join(sys.argv[1:])
    results["commands"] = [*results.get("commands", []), command]
    done = {(r["model"], r["factors"], r["seed"]): r.get("settings") for r in results["runs"]}
    wanted = args.models
    factor_list = [int(f) for f in args.factors.split(",")]
    for key in product(wanted, factor_list, args.seeds):
        settings = settings_for(key[0], args)
        if settings is not None and done.get(key, settings) != settings:
            raise SystemExit(
                f"{args.out}: {key[0]} f={key[1]} seed={key[2]} was run with {done[key]}, "
                f"not {settings}; write other settings to another file with --out"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save(record: dict) -> None:
        results["runs"].append(record)
        write_json(args.out, results)
        test = record["test"]
        print(
            f"{record['model']:>17} f={record['factors']:<3} seed={record['seed']}: "
            f"HR@10 {test['hr@10']:.4f} NDCG@10 {test['ndcg@10']:.4f} "
            f"(full {record['full']['hr@10']:.4f}/{record['full']['ndcg@10']:.4f}) "
            f"epoch {test.get('epoch', '-')}",
            flush=True,
        )

    for factors in factor_list:
        if "itempop" in wanted and ("itempop", factors, None) not in done:
            save({"model": "itempop", "factors": factors, "seed": None, **run_itempop(data)})
        for seed in args.seeds:
            validation = validation_split(data, seed)
            trained: dict[str, keras.Model] = {}
            for name in wanted:
                if name == "itempop" or (name, factors, seed) in done:
                    continue
                if name == "ials":
                    record = run_ials(factors, seed, data, validation, args)
                else:
                    source = None
                    if name == "neumf-pretrained":
                        for base in ("gmf", "mlp"):
                            if base not in trained:
                                _, trained[base] = run_model(
                                    base, factors, seed, data, validation, args
                                )
                        source = (trained["gmf"], trained["mlp"])
                    record, trained[name] = run_model(
                        "neumf" if source else name, factors, seed, data, validation, args, source
                    )
                save({"model": name, "factors": factors, "seed": seed, **record})


if __name__ == "__main__":
    try:
        main()
    except DataError as error:
        raise SystemExit(f"error: {error}") from None
