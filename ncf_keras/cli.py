"""Command line: `python -m ncf_keras {train,evaluate,recommend,plot} ...`.

Every bad input ends in one line on stderr, `error: ...`, and exit status 2.
The package's errors name Python arguments (`batch_size`); this module prints
its flags (`--batch-size`) instead. Keras and the data code are imported only
once a command runs, so `--help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from ncf_keras import settings
from ncf_keras.errors import ArgumentError, DataError

DATA_DIR_HELP = (
    "data folder (default: $NCF_DATA_DIR, else data/; evaluate and recommend: the run's)"
)
FLAGS = {"learning_rate": "--lr", "pretrained": "--pretrain-gmf/--pretrain-mlp"}


def flag(argument: str) -> str:
    """The command-line flag of a Python argument: "batch_size" -> "--batch-size"."""
    return FLAGS.get(argument, "--" + argument.replace("_", "-"))


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as one line, `warning: ...`, without the source line Python adds."""
    return f"warning: {message}\n"


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
    t.add_argument(
        "--model",
        choices=settings.MODEL_NAMES,
        required=True,
        help="gmf, mlp, neumf, or mf (plain matrix factorisation with biases)",
    )
    t.add_argument(
        "--dataset",
        default="ml-1m",
        help="ml-1m, ml-1m-ncf, synthetic, or a CSV/TSV path (default: ml-1m)",
    )
    t.add_argument(
        "--epochs", type=int, default=settings.EPOCHS, help="epochs to train (default: 20)"
    )
    t.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the run folder to write; it appears only once complete",
    )
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (default: refuse)",
    )
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run of --out from its last completed epoch, "
        "with the same settings (default: start afresh)",
    )
    t.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        default=None,
        help="write TensorBoard logs there: loss, HR@10, NDCG@10 per epoch (default: none)",
    )
    t.add_argument(
        "--factors",
        type=int,
        default=settings.FACTORS,
        help="GMF and MF embedding size (default: 8)",
    )
    t.add_argument(
        "--layers",
        type=_layer_sizes,
        default=list(settings.LAYERS),
        help="MLP sizes; the first is both embeddings together (default: 64,32,16,8)",
    )
    t.add_argument(
        "--negatives",
        type=int,
        default=settings.NEGATIVES,
        help="negatives per positive (default: 4)",
    )
    t.add_argument(
        "--batch-size",
        type=int,
        default=settings.BATCH_SIZE,
        help="training rows per step (default: 1024)",
    )
    t.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: 0.003; 0.001 when fine-tuning pre-trained NeuMF)",
    )
    t.add_argument(
        "--optimizer",
        default=None,
        choices=settings.OPTIMIZER_NAMES,
        help="(default: adam; sgd when fine-tuning pre-trained NeuMF, as in the paper)",
    )
    t.add_argument(
        "--l2",
        type=float,
        default=0.0,
        help="L2 on the embeddings each example looks up (default: 0)",
    )
    t.add_argument(
        "--seed",
        type=int,
        default=0,
        help="fixes the split, the negatives and the weights (default: 0)",
    )
    t.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    t.add_argument(
        "--pretrain-gmf",
        type=Path,
        metavar="RUN_DIR",
        help="a GMF run to start NeuMF from, with --pretrain-mlp (default: none)",
    )
    t.add_argument(
        "--pretrain-mlp",
        type=Path,
        metavar="RUN_DIR",
        help="an MLP run to start NeuMF from, with --pretrain-gmf (default: none)",
    )
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
        help="Keras progress: 0 silent, 1 bar, 2 one line per epoch (default: 1)",
    )

    e = commands.add_parser("evaluate", help="evaluate a run's saved model")
    e.add_argument("--run", type=Path, required=True, help="a run folder written by train")
    e.add_argument(
        "--full-ranking",
        action="store_true",
        help="rank among all unseen items instead of the 99 sampled negatives (default: off)",
    )
    e.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)

    r = commands.add_parser("recommend", help="top-N unseen items for a user")
    r.add_argument("--run", type=Path, required=True, help="a run folder written by train")
    r.add_argument("--user", required=True, help="the user's id as in the dataset's file")
    r.add_argument("--top", type=int, default=10, help="items to list (default: 10)")
    r.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)

    p = commands.add_parser("plot", help="HR@10 curves of several runs in one figure")
    p.add_argument(
        "runs", type=Path, nargs="+", metavar="RUN_DIR", help="run folders written by train"
    )
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = one_line_warning
    try:
        {
            "train": cmd_train,
            "evaluate": cmd_evaluate,
            "recommend": cmd_recommend,
            "plot": cmd_plot,
        }[args.command](args)
    except ArgumentError as error:
        print(f"error: {flag(error.argument)} {error.problem}", file=sys.stderr)
        return 2
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = " (the same command with --resume continues it)" if args.command == "train" else ""
        print(f"error: interrupted{hint}", file=sys.stderr)
        return 130
    except OSError as error:  # a folder or file that cannot be written or read
        where = error.filename or "file system"
        print(f"error: {where}: {error.strerror or error}", file=sys.stderr)
        return 2
    return 0


# --- train -------------------------------------------------------------------


def check_train_args(args: argparse.Namespace) -> bool:
    """Refuse impossible settings before anything is loaded; True for pre-trained NeuMF."""
    pretrained = args.pretrain_gmf is not None or args.pretrain_mlp is not None
    if pretrained and (args.model != "neumf" or None in (args.pretrain_gmf, args.pretrain_mlp)):
        raise DataError("--pretrain-gmf and --pretrain-mlp go together, with --model neumf")
    if args.alpha is not None and not pretrained:
        raise DataError("--alpha weights pre-trained models: it needs --pretrain-gmf and -mlp")
    for name in ("epochs", "factors", "batch_size", "negatives"):
        settings.check_at_least(name, getattr(args, name), 1)
    settings.check_at_least("seed", args.seed, 0)
    if args.out.exists() and not args.out.is_dir():
        raise DataError(f"--out {args.out}: is a file, not a run folder")
    settings.check_number("l2", args.l2)
    if args.lr is not None:
        settings.check_number("learning_rate", args.lr, 0, strict=True)
    if args.alpha is not None:
        settings.check_fraction("alpha", args.alpha)
    if args.model in ("mlp", "neumf"):
        settings.check_layers(args.layers)
    return pretrained


def cmd_train(args: argparse.Namespace) -> None:
    pretrained = check_train_args(args)
    from ncf_keras.backend import import_keras_quietly

    import_keras_quietly()
    from ncf_keras.runs import load_run_model, resumable_epochs, train_run
    from ncf_keras.sources import NAMED_DATASETS, load_dataset, resolve_data_dir

    # The run folder records where the data came from: as absolute paths, so that
    # evaluate, recommend and pre-training find it from any directory.
    if args.dataset not in NAMED_DATASETS and Path(args.dataset).is_file():
        args.dataset = str(Path(args.dataset).resolve())
    # ... and the data folder where it was found, even when $NCF_DATA_DIR named it.
    args.data_dir = str(resolve_data_dir(args.data_dir).resolve())
    dataset = load_dataset(args.dataset, args.data_dir, args.seed)
    sources = None
    if pretrained:
        sources = (
            load_run_model(args.pretrain_gmf, dataset, model="gmf"),
            load_run_model(args.pretrain_mlp, dataset, model="mlp"),
        )
    done = resumable_epochs(args.out) if args.resume else 0
    print(
        f"{dataset}\ntraining {args.model}{' (pre-trained)' if pretrained else ''} "
        f"for {args.epochs} epoch{'s' if args.epochs != 1 else ''}"
        + (f", resuming after epoch {done}" if done else ""),
        flush=True,
    )
    metrics = train_run(
        args.model,
        dataset,
        args.out,
        pretrained=sources,
        alpha=settings.ALPHA if args.alpha is None else args.alpha,
        factors=args.factors,
        layers=args.layers,
        l2=args.l2,
        epochs=args.epochs,
        batch_size=args.batch_size,
        negatives=args.negatives,
        optimizer=args.optimizer,
        learning_rate=args.lr,
        seed=args.seed,
        source=args.dataset,
        timings=True,
        verbose=args.verbose,
        extra_config={
            "data_dir": args.data_dir,
            "pretrain_gmf": None if args.pretrain_gmf is None else str(args.pretrain_gmf),
            "pretrain_mlp": None if args.pretrain_mlp is None else str(args.pretrain_mlp),
        },
        overwrite=args.overwrite,
        resume=args.resume,
        tensorboard=args.tensorboard,
    )
    best = metrics["best"]
    print(
        f"best HR@10 {best['hr@10']:.4f}, NDCG@10 {best['ndcg@10']:.4f} "
        f"at epoch {best['epoch']}; run saved in {args.out}"
    )


# --- evaluate, recommend, plot -------------------------------------------------


def _load_run(run: Path, data_dir: str | None):
    """A run's metrics, its dataset and its model, with Keras imported quietly."""
    from ncf_keras.backend import import_keras_quietly

    import_keras_quietly()
    from ncf_keras.runs import load_run_model, read_run
    from ncf_keras.sources import load_dataset

    metrics = read_run(run)
    config = metrics["config"]
    dataset = load_dataset(metrics["dataset"], data_dir or config.get("data_dir"), config["seed"])
    return metrics, dataset, load_run_model(run, dataset)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from ncf_keras.metrics import evaluate

    _, dataset, model = _load_run(args.run, args.data_dir)
    result = evaluate(model, dataset, full_ranking=args.full_ranking)
    protocol = "full ranking" if args.full_ranking else "sampled (99 negatives)"
    print(json.dumps({"run": str(args.run), "protocol": protocol, **result}, indent=2))


def cmd_recommend(args: argparse.Namespace) -> None:
    settings.check_at_least("top", args.top, 1)
    metrics, dataset, model = _load_run(args.run, args.data_dir)
    from ncf_keras.recommend import recommend

    labels = [str(label) for label in dataset.user_labels]
    if args.user not in labels:
        raise DataError(f"user {args.user!r} is not in dataset {metrics['dataset']!r}")
    user = labels.index(args.user)
    items = recommend(model, dataset, user, args.top)
    print(
        f"user {args.user}: {len(dataset.history(user))} items in training; "
        f"top {len(items)} unseen:"
    )
    for rank, item in enumerate(items, 1):
        print(f"{rank:3d}. {dataset.title(item)}")


def cmd_plot(args: argparse.Namespace) -> None:
    from ncf_keras.plots import plot_runs
    from ncf_keras.runs import read_run

    plot_runs([read_run(run) for run in args.runs], args.out)
    print(f"wrote {args.out}")
