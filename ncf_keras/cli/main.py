"""Command line: `ncf-keras {train,evaluate,recommend,plot} ...` (or `python -m ncf_keras`).

The flags, their help and defaults are in `ncf_keras.cli.arguments`; this module
runs the commands. Every bad input ends in one line on stderr, `error: ...`,
and exit status 2.
The package's errors name Python arguments (`batch_size`); this module prints
its flags (`--batch-size`) instead. Keras and the data code are imported only
once a command runs, so `--help` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from ncf_keras import checks, defaults
from ncf_keras.cli.arguments import build_parser
from ncf_keras.errors import ArgumentError, DataError, NcfError, Terminated, WriteError
from ncf_keras.training.config import TrainingConfig

RESUME_HINT = "the same command with --resume continues it"
FLAGS = {"learning_rate": "--lr", "pretrained": "--pretrain-gmf/--pretrain-mlp"}


def flag(argument: str) -> str:
    """The command-line flag of a Python argument: "batch_size" -> "--batch-size"."""
    return FLAGS.get(argument, "--" + argument.replace("_", "-"))


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as one line, `warning: ...`, without the source line Python adds."""
    return f"warning: {message}\n"


def check_distribution_args(args: argparse.Namespace) -> None:
    """Refuse --distribute and the multi-host flags where they cannot work."""
    from ncf_keras.keras_startup import selected_backend

    multi_host = args.coordinator is not None or args.num_processes != 1
    if multi_host and (args.coordinator is None or args.distribute is None):
        raise DataError("--coordinator and --num-processes go together, with --distribute")
    if args.distribute is not None and selected_backend() != "jax":
        raise DataError(
            f"--distribute needs KERAS_BACKEND=jax: Keras's distribution API is "
            f"JAX-only, and this run uses {selected_backend()}"
        )
    if args.optimizer == "lazy-adam" and selected_backend() not in defaults.LAZY_ADAM_BACKENDS:
        raise DataError(
            "--optimizer lazy-adam needs KERAS_BACKEND=jax or tensorflow; "
            f"this run uses {selected_backend()}"
        )
    if multi_host:
        checks.check_number("coordinator_timeout", args.coordinator_timeout, 0, strict=True)
        from ncf_keras.training.distribution import initialize

        initialize(args.coordinator, args.num_processes, args.process_id, args.coordinator_timeout)


def _raise_terminated(number, frame) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Inside the block, SIGTERM raises `Terminated`, a KeyboardInterrupt, as Ctrl-C does.

    Python's default for SIGTERM ends the process at once, silently, with
    nothing cleaned up. The main thread only; an ignored SIGTERM stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, previous)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None, prog: str = "ncf-keras") -> int:
    """Run the command that `argv` names; the exit status: 0, or 2 after one `error:` line.

    Args:
        argv: the arguments after the program's name (default: `sys.argv[1:]`).
        prog: the program's name in usage and error lines (default: "ncf-keras", as
            the console script; `python -m ncf_keras` passes its own).
    """
    args = build_parser(prog).parse_args(argv)
    warnings.formatwarning = one_line_warning
    resume = args.command == "train"
    try:
        with sigterm_interrupts():
            {
                "train": cmd_train,
                "evaluate": cmd_evaluate,
                "recommend": cmd_recommend,
                "plot": cmd_plot,
            }[args.command](args)
    except ArgumentError as error:
        print(f"error: {flag(error.argument)} {error.problem}", file=sys.stderr)
        return 2
    except WriteError as error:
        print(f"error: {error}" + (f"; {RESUME_HINT}" if resume else ""), file=sys.stderr)
        return 2
    except NcfError as error:  # every other error the package raises on purpose
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM (Terminated)
        terminated = isinstance(interrupt, Terminated)
        what = "terminated by SIGTERM" if terminated else "interrupted"
        print(f"error: {what}" + (f" ({RESUME_HINT})" if resume else ""), file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    except OSError as error:  # a folder or file that cannot be written or read
        where = error.filename or "file system"
        print(f"error: {where}: {error.strerror or error}", file=sys.stderr)
        return 2
    return 0


# --- train -------------------------------------------------------------------


def check_train_args(args: argparse.Namespace) -> bool:
    """Refuse impossible model settings before anything is loaded; True for pre-trained NeuMF."""
    pretrained = args.pretrain_gmf is not None or args.pretrain_mlp is not None
    if pretrained and (args.model != "neumf" or None in (args.pretrain_gmf, args.pretrain_mlp)):
        raise DataError("--pretrain-gmf and --pretrain-mlp go together, with --model neumf")
    if args.alpha is not None and not pretrained:
        raise DataError("--alpha weights pre-trained models: it needs --pretrain-gmf and -mlp")
    checks.check_at_least("factors", args.factors, 1)
    if args.out.exists() and not args.out.is_dir():
        raise DataError(f"--out {args.out}: is a file, not a run folder")
    checks.check_number("l2", args.l2)
    if args.alpha is not None:
        checks.check_fraction("alpha", args.alpha)
    if args.model in ("mlp", "neumf"):
        checks.check_layers(args.layers)
    return pretrained


def training_config(args: argparse.Namespace) -> TrainingConfig:
    """The `TrainingConfig` of `train`'s flags, checked; --recipe fills what is not given.

    --batch-size, --lr and --optimizer left None (and not set by --recipe) are
    chosen from the data's size once it is loaded (`TrainingConfig.chosen_for`).
    """
    recipe = defaults.RECIPES.get(args.recipe, {})
    return TrainingConfig(
        epochs=args.epochs,
        batch_size=recipe.get("batch_size") if args.batch_size is None else args.batch_size,
        learning_rate=recipe.get("learning_rate") if args.lr is None else args.lr,
        optimizer=args.optimizer,
        negatives=args.negatives,
        seed=args.seed,
        sample_on=args.sample_on,
    )


def cmd_train(args: argparse.Namespace) -> None:
    from ncf_keras.runs.atomic import check_writable

    config = training_config(args)
    pretrained = check_train_args(args)
    check_writable(args.out, overwrite=args.overwrite, resume=args.resume)  # before any work
    check_distribution_args(args)  # multi-host: joins the others before Keras runs anything
    from ncf_keras.keras_startup import import_keras_quietly

    import_keras_quietly()
    from ncf_keras.data.sources import NAMED_DATASETS, load_dataset, resolve_data_dir
    from ncf_keras.runs.folder import load_run_model
    from ncf_keras.runs.train_run import resumable_epochs, train_run

    # The run folder records where the data came from: as absolute paths, so that
    # evaluate, recommend and pre-training find it from any directory.
    if args.dataset not in NAMED_DATASETS and Path(args.dataset).is_file():
        args.dataset = str(Path(args.dataset).resolve())
    # ... and the data folder where it was found, even when $NCF_DATA_DIR named it.
    args.data_dir = str(resolve_data_dir(args.data_dir).resolve())
    dataset = load_dataset(
        args.dataset, args.data_dir, args.seed, args.test_negatives, columns=args.columns
    )
    sources = None
    if pretrained:
        sources = (
            load_run_model(args.pretrain_gmf, dataset, model="gmf"),
            load_run_model(args.pretrain_mlp, dataset, model="mlp"),
        )
    done = resumable_epochs(args.out) if args.resume else 0
    choice = default_choice(config, dataset, pretrained, args.model)
    print(
        f"{dataset}\n" + (f"{choice}\n" if choice else "") + f"training {args.model}"
        f"{' (pre-trained)' if pretrained else ''} "
        f"for {config.epochs} epoch{'s' if config.epochs != 1 else ''}"
        + (f", resuming after epoch {done}" if done else ""),
        flush=True,
    )
    metrics = train_run(
        args.model,
        dataset,
        args.out,
        config,
        pretrained=sources,
        alpha=defaults.ALPHA if args.alpha is None else args.alpha,
        factors=args.factors,
        layers=args.layers,
        l2=args.l2,
        source=args.dataset,
        timings=True,
        verbose=args.verbose,
        extra_config={
            "data_dir": args.data_dir,
            "test_negatives": args.test_negatives,
            "recipe": args.recipe,
            **({"columns": args.columns} if args.columns is not None else {}),
            "pretrain_gmf": None if args.pretrain_gmf is None else str(args.pretrain_gmf),
            "pretrain_mlp": None if args.pretrain_mlp is None else str(args.pretrain_mlp),
        },
        overwrite=args.overwrite,
        resume=args.resume,
        tensorboard=args.tensorboard,
        distribute=args.distribute,
        prefetch=not args.no_prefetch,
    )
    best = metrics["best"]
    print(
        f"best HR@10 {best['hr@10']:.4f}, NDCG@10 {best['ndcg@10']:.4f} "
        f"at epoch {best['epoch']}; run saved in {args.out}"
    )


def default_choice(config: TrainingConfig, dataset, pretrained: bool, model: str) -> str:
    """The line that says which training settings were chosen for the data's size, or "".

    `train_run` makes the same choice (`TrainingConfig.chosen_for`) for the
    settings still None in `config`: --batch-size, --lr and --optimizer, unless
    given or set by --recipe.
    """
    from ncf_keras.keras_startup import selected_backend

    chosen, auto = config.chosen_for(
        dataset, selected_backend(), fine_tuning=pretrained, model=model
    )
    if not auto:
        return ""
    shown = {
        "batch_size": f"batch {chosen.batch_size:,}",
        "learning_rate": f"lr {chosen.learning_rate:g}",
        "optimizer": str(chosen.optimizer),
    }
    return (
        f"defaults for {dataset.num_users:,} users x {dataset.num_items:,} items: "
        f"{', '.join(shown[name] for name in auto)} "
        f"({'/'.join(flag(name) for name in auto)} override)"
    )


# --- evaluate, recommend, plot -------------------------------------------------


def _load_run(run: Path, data_dir: str | None):
    """A run's metrics, its dataset and its model, with Keras imported quietly."""
    from ncf_keras.keras_startup import import_keras_quietly

    import_keras_quietly()
    from ncf_keras.data.sources import load_dataset
    from ncf_keras.runs.folder import load_run_model, read_run

    metrics = read_run(run)
    config = metrics["config"]
    dataset = load_dataset(
        metrics["dataset"],
        data_dir or config.get("data_dir"),
        config["seed"],
        config.get("test_negatives", 99),
        columns=config.get("columns"),
    )
    return metrics, dataset, load_run_model(run, dataset)


def cmd_evaluate(args: argparse.Namespace) -> None:
    if args.sample_users is not None:
        checks.check_at_least("sample_users", args.sample_users, 1)
    metrics, dataset, model = _load_run(args.run, args.data_dir)  # imports Keras quietly first
    from ncf_keras.metrics import evaluate, sample_users

    seed = metrics["config"]["seed"]
    users = sample_users(dataset, args.sample_users, seed)
    result = evaluate(model, dataset, full_ranking=args.full_ranking, users=users)
    negatives = dataset.test_negatives.shape[1]
    protocol = "full ranking" if args.full_ranking else f"sampled ({negatives} negatives)"
    sample = {"users": dataset.num_users if users is None else len(users)}
    if users is not None:
        sample |= {"of_users": dataset.num_users, "sample_seed": seed}
    print(json.dumps({"run": str(args.run), "protocol": protocol, **sample, **result}, indent=2))


def cmd_recommend(args: argparse.Namespace) -> None:
    checks.check_at_least("top", args.top, 1)
    metrics, dataset, model = _load_run(args.run, args.data_dir)
    from ncf_keras.recommendations import recommend

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
    from ncf_keras.keras_startup import import_keras_quietly

    import_keras_quietly()  # ncf_keras.runs.folder imports Keras
    from ncf_keras.plots import plot_runs
    from ncf_keras.runs.folder import read_run

    plot_runs([read_run(run) for run in args.runs], args.out)
    print(f"wrote {args.out}")
