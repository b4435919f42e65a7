"""Command line: `python -m ncf_keras {train,evaluate,recommend,plot} ...`.

Every bad input ends in one line on stderr, `error: ...`, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import keras

from ncf_keras import models
from ncf_keras.datasets import NAMED_DATASETS, Dataset, load_dataset
from ncf_keras.errors import DataError
from ncf_keras.metrics import evaluate
from ncf_keras.recommend import recommend
from ncf_keras.runs import load_run_model, plot_runs, read_run, write_run
from ncf_keras.training import (
    FINE_TUNE_LEARNING_RATE,
    LEARNING_RATE,
    OPTIMIZERS,
    compile_model,
    summarize,
    train,
)

MODELS = ("gmf", "mlp", "neumf")


def _layer_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ncf_keras", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    t = commands.add_parser("train", help="train a model and save a run folder")
    t.add_argument("--model", choices=MODELS, required=True)
    t.add_argument(
        "--dataset",
        default="ml-1m",
        help="ml-1m, ml-1m-ncf, synthetic, or a CSV/TSV path (default: ml-1m)",
    )
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--out", type=Path, required=True, help="the run folder to write")
    t.add_argument("--factors", type=int, default=8, help="GMF embedding size (default: 8)")
    t.add_argument(
        "--layers",
        type=_layer_sizes,
        default=[64, 32, 16, 8],
        help="MLP sizes; the first is both embeddings together (default: 64,32,16,8)",
    )
    t.add_argument("--negatives", type=int, default=4, help="negatives per positive (default: 4)")
    t.add_argument("--batch-size", type=int, default=1024)
    t.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: 0.003; 0.001 when fine-tuning pre-trained NeuMF)",
    )
    t.add_argument(
        "--optimizer",
        default=None,
        choices=list(OPTIMIZERS),
        help="default: adam; sgd when fine-tuning pre-trained NeuMF, as in the paper",
    )
    t.add_argument(
        "--l2", type=float, default=0.0, help="L2 on the embeddings each example looks up"
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--data-dir", default=None, help="data folder (default: $NCF_DATA_DIR or data/)")
    t.add_argument("--pretrain-gmf", type=Path, metavar="RUN_DIR")
    t.add_argument("--pretrain-mlp", type=Path, metavar="RUN_DIR")
    t.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="weight of GMF in the pre-trained output layer, 0 to 1 (default: 0.5)",
    )
    t.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=[0, 1, 2],
        help="Keras progress: 0 silent, 1 bar, 2 one line per epoch",
    )

    e = commands.add_parser("evaluate", help="evaluate a run's saved model")
    e.add_argument("--run", type=Path, required=True)
    e.add_argument(
        "--full-ranking",
        action="store_true",
        help="rank among all unseen items instead of the 99 sampled negatives",
    )
    e.add_argument("--data-dir", default=None)

    r = commands.add_parser("recommend", help="top-N unseen items for a user")
    r.add_argument("--run", type=Path, required=True)
    r.add_argument("--user", required=True, help="the user's id as in the dataset's file")
    r.add_argument("--top", type=int, default=10)
    r.add_argument("--data-dir", default=None)

    p = commands.add_parser("plot", help="HR@10 curves of several runs in one figure")
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        {
            "train": cmd_train,
            "evaluate": cmd_evaluate,
            "recommend": cmd_recommend,
            "plot": cmd_plot,
        }[args.command](args)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


# --- train -------------------------------------------------------------------


def build_model(
    name: str, dataset: Dataset, factors: int, layers: list[int], l2: float
) -> keras.Model:
    """The model `name` for the dataset's users and items."""
    if name == "gmf":
        return models.gmf(dataset.num_users, dataset.num_items, factors, l2)
    if name == "mlp":
        return models.mlp(dataset.num_users, dataset.num_items, layers, l2)
    if name == "neumf":
        return models.neumf(dataset.num_users, dataset.num_items, factors, layers, l2)
    raise DataError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")


def cmd_train(args: argparse.Namespace) -> None:
    pretrained = args.pretrain_gmf is not None or args.pretrain_mlp is not None
    if pretrained and (args.model != "neumf" or None in (args.pretrain_gmf, args.pretrain_mlp)):
        raise DataError("--pretrain-gmf and --pretrain-mlp go together, with --model neumf")
    if args.alpha is not None and not pretrained:
        raise DataError("--alpha weights pre-trained models: it needs --pretrain-gmf and -mlp")
    for name in ("epochs", "factors", "batch_size"):
        if getattr(args, name) < 1:
            raise DataError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.l2 < 0:
        raise DataError(f"--l2 must be >= 0, got {args.l2}")
    if args.lr is not None and args.lr <= 0:
        raise DataError(f"--lr must be > 0, got {args.lr}")
    # Pre-trained NeuMF is fine-tuned with plain SGD, as in the paper.
    optimizer = args.optimizer or ("sgd" if pretrained else "adam")
    lr = (
        args.lr
        if args.lr is not None
        else (FINE_TUNE_LEARNING_RATE if pretrained else LEARNING_RATE)
    )
    alpha = (0.5 if args.alpha is None else args.alpha) if pretrained else None
    # The run folder records where the data came from: as absolute paths, so that
    # evaluate, recommend and pre-training find it from any directory.
    if args.dataset not in NAMED_DATASETS and Path(args.dataset).is_file():
        args.dataset = str(Path(args.dataset).resolve())
    if args.data_dir is not None:
        args.data_dir = str(Path(args.data_dir).resolve())

    keras.utils.set_random_seed(args.seed)
    dataset = load_dataset(args.dataset, args.data_dir, args.seed)
    model = build_model(args.model, dataset, args.factors, args.layers, args.l2)
    if pretrained:
        models.load_pretrained(
            model,
            load_run_model(args.pretrain_gmf, args.dataset),
            load_run_model(args.pretrain_mlp, args.dataset),
            alpha,
        )
    compile_model(model, optimizer, lr)
    print(
        f"{dataset}\ntraining {args.model}{' (pre-trained)' if pretrained else ''} "
        f"for {args.epochs} epochs",
        flush=True,
    )
    history = train(
        model,
        dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        negatives=args.negatives,
        seed=args.seed,
        out_dir=args.out,
        verbose=args.verbose,
    )
    config = {
        key: (str(value) if isinstance(value, Path) else value)
        for key, value in vars(args).items()
        if key not in ("command", "out", "verbose")
    }
    config.update(optimizer=optimizer, lr=lr, pretrained=pretrained, alpha=alpha)
    if args.model == "mlp":  # its predictive factors are its last layer; --factors is unused
        config["factors"] = args.layers[-1]
    write_run(args.out, args.model, args.dataset, config, history)
    best = summarize(history)["best"]
    print(
        f"best HR@10 {best['hr@10']:.4f}, NDCG@10 {best['ndcg@10']:.4f} "
        f"at epoch {best['epoch']}; run saved in {args.out}"
    )


# --- evaluate, recommend, plot -------------------------------------------------


def _run_dataset(metrics: dict, data_dir: str | None) -> Dataset:
    config = metrics["config"]
    return load_dataset(metrics["dataset"], data_dir or config.get("data_dir"), config["seed"])


def cmd_evaluate(args: argparse.Namespace) -> None:
    metrics = read_run(args.run)
    dataset = _run_dataset(metrics, args.data_dir)
    result = evaluate(load_run_model(args.run), dataset, full_ranking=args.full_ranking)
    protocol = "full ranking" if args.full_ranking else "sampled (99 negatives)"
    print(json.dumps({"run": str(args.run), "protocol": protocol, **result}, indent=2))


def cmd_recommend(args: argparse.Namespace) -> None:
    if args.top < 1:
        raise DataError(f"--top must be >= 1, got {args.top}")
    metrics = read_run(args.run)
    dataset = _run_dataset(metrics, args.data_dir)
    labels = [str(label) for label in dataset.user_labels]
    if args.user not in labels:
        raise DataError(f"user {args.user!r} is not in dataset {metrics['dataset']!r}")
    user = labels.index(args.user)
    print(
        f"user {args.user}: {len(dataset.history(user))} items in training; top {args.top} unseen:"
    )
    for rank, item in enumerate(recommend(load_run_model(args.run), dataset, user, args.top), 1):
        print(f"{rank:3d}. {dataset.title(item)}")


def cmd_plot(args: argparse.Namespace) -> None:
    plot_runs([read_run(run) for run in args.runs], args.out)
    print(f"wrote {args.out}")
