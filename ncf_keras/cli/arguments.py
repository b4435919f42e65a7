"""The command line's flags and words: `build_parser(prog)` for `ncf-keras`.

One function adds each command (train, evaluate, recommend, plot), and train's
flags come in groups, one function each. Help texts take their defaults from
the code (argparse's `%(default)s`, or the `defaults` constants), and say in
words what a default of None leaves to the data. Keras-free, so that `--help`
and `--version` answer at once; `ncf_keras.cli.main` runs the commands.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ncf_keras import __version__, defaults

DESCRIPTION = """\
Neural Collaborative Filtering (He et al., WWW 2017) in Keras 3: train GMF, MLP,
NeuMF or MF on implicit feedback (MovieLens, or your own file of user-item
interactions), then evaluate a run by leave-one-out HR@10 and NDCG@10,
recommend unseen items, and plot runs side by side."""

EPILOG = """\
examples:
  %(prog)s train --model neumf --dataset ml-1m --out runs/neumf
  %(prog)s train --model gmf --dataset my-log.csv.gz --out runs/mine
  %(prog)s evaluate --run runs/neumf --full-ranking
  %(prog)s recommend --run runs/neumf --user 42

Each command's --help lists its flags with their defaults; docs/cli.md has the detail."""

DATA_DIR_HELP = (
    "data folder (default: $NCF_DATA_DIR, else data/; evaluate and recommend: the run's)"
)

# Each command's line in the top-level --help, and the paragraph its own --help opens with.
COMMAND_WORDS = {
    "train": (
        "train a model and save a run folder",
        "Train a model and save a run folder: metrics.json, model.keras (the best epoch by "
        "HR@10), history.csv and hit_rate.png. The same --seed gives the same split, "
        "negatives, weights and metrics.",
    ),
    "evaluate": (
        "evaluate a run's saved model",
        "Evaluate a run's saved model: HR@10 and NDCG@10 of its test users, as JSON on stdout.",
    ),
    "recommend": (
        "top-N unseen items for a user",
        "List a user's top unseen items, ranked by a run's saved model.",
    ),
    "plot": (
        "HR@10 and loss curves of several runs in one figure",
        "Plot the HR@10 and loss curves of several runs in one figure (PNG).",
    ),
}

Commands = argparse._SubParsersAction  # what `add_subparsers` returns


def build_parser(prog: str = "ncf-keras") -> argparse.ArgumentParser:
    """The parser of every command and flag.

    Args:
        prog: the program's name in usage and error lines (default "ncf-keras", the
            console script; `python -m ncf_keras` passes its own).
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ncf-keras {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_train_command(commands)
    add_evaluate_command(commands)
    add_recommend_command(commands)
    add_plot_command(commands)
    return parser


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


def add_train_command(commands: Commands) -> None:
    """`train`: its flags in groups, as its --help lists them."""
    train = add_command(commands, "train")
    add_model_flags(train.add_argument_group("model"))
    add_data_flags(train.add_argument_group("data"))
    add_run_folder_flags(train.add_argument_group("run folder"))
    add_training_flags(train.add_argument_group("training"))
    add_sampling_flags(train.add_argument_group("training negatives"))
    add_pretraining_flags(train.add_argument_group("pre-trained NeuMF"))
    add_distribution_flags(train.add_argument_group("many devices and hosts (JAX)"))


def add_model_flags(group: argparse._ArgumentGroup) -> None:
    """--model and its sizes: --factors, --layers."""
    group.add_argument(
        "--model",
        choices=defaults.MODEL_NAMES,
        required=True,
        help="gmf, mlp, neumf, or mf (plain matrix factorisation with biases)",
    )
    group.add_argument(
        "--factors",
        type=int,
        default=defaults.FACTORS,
        help="GMF and MF embedding size (default: %(default)s)",
    )
    group.add_argument(
        "--layers",
        type=_layer_sizes,
        default=list(defaults.LAYERS),
        help="MLP sizes; the first is both embeddings together "
        f"(default: {','.join(map(str, defaults.LAYERS))})",
    )


def add_data_flags(group: argparse._ArgumentGroup) -> None:
    """--dataset, --columns, --test-negatives, --data-dir."""
    group.add_argument(
        "--dataset",
        default="ml-1m",
        help="ml-1m, ml-1m-ncf, ml-20m, ml-25m, ml-32m, synthetic, synthetic:ml-20m "
        "(an ML-20M-sized synthetic log), synthetic:users=U,items=I,interactions=N"
        "[,min_per_user=K][,seed=S] (any key optional; the rest ML-20M's; K is the fewest "
        "interactions of a user, 20 unless given, 2 for a long-tailed log), or the path of "
        "your own file: delimited text (also .gz, .bz2, .xz, one-file .zip) or Parquet "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--columns",
        metavar="user=COL,item=COL[,time=COL]",
        default=None,
        help="pick the user, item and (optional) time columns of a --dataset file by the "
        "names in its header line (or Parquet schema), ignoring the others; evaluate and "
        "recommend reuse them (default: by position: user, item[, rating[, time]])",
    )
    group.add_argument(
        "--test-negatives",
        type=int,
        default=99,
        metavar="N",
        help="items each held-out item is ranked against, drawn from --seed; 999 for the "
        "MLPerf protocol; ml-1m-ncf has its 99 fixed (default: %(default)s, the paper's)",
    )
    add_data_dir_flag(group)


def add_run_folder_flags(group: argparse._ArgumentGroup) -> None:
    """--out, --overwrite, --resume, --tensorboard."""
    group.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the run folder to write; it appears only once complete",
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out, if ncf-keras wrote it and it is unchanged "
        "(default: refuse)",
    )
    group.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run of --out from its last completed epoch, "
        "with the same settings (default: start afresh)",
    )
    group.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        default=None,
        help="write TensorBoard logs there: loss, HR@10, NDCG@10 per epoch (default: none)",
    )


def add_training_flags(group: argparse._ArgumentGroup) -> None:
    """--epochs, --verbose, --batch-size, --lr, --recipe, --optimizer, --l2, --seed."""
    group.add_argument(
        "--epochs", type=int, default=defaults.EPOCHS, help="epochs to train (default: %(default)s)"
    )
    group.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=[0, 1, 2],
        help="Keras progress: 0 silent, 1 bar, 2 one line per epoch (default: %(default)s)",
    )
    large = defaults.RECIPES["large-batch"]
    group.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="training rows per step (default: the --recipe's, else chosen from the data's "
        f"size: {large['batch_size']} for an epoch of {defaults.LARGE_BATCH_ROWS:,} rows or "
        f"more (ML-1M's size and up), else {defaults.BATCH_SIZE}; see docs/cli.md)",
    )
    group.add_argument(
        "--lr",
        type=float,
        default=None,
        help=f"learning rate (default: the --recipe's, else {defaults.LEARNING_RATE:g}; "
        f"{defaults.LARGE_BATCH_LEARNING_RATES['mlp']:g} for the MLP at the chosen batch of "
        f"{large['batch_size']}; {defaults.FINE_TUNE_LEARNING_RATE:g} when fine-tuning "
        "pre-trained NeuMF)",
    )
    group.add_argument(
        "--recipe",
        choices=list(defaults.RECIPES),
        default=None,
        help=f"large-batch: --batch-size {large['batch_size']} --lr {large['learning_rate']}, "
        "for big data and accelerators; --batch-size and --lr still override it (default: none)",
    )
    group.add_argument(
        "--optimizer",
        default=None,
        choices=defaults.OPTIMIZER_NAMES,
        help="the optimizer (default: adam, or lazy-adam above "
        f"{defaults.LAZY_ADAM_TABLES:,} users + items on jax and tensorflow with --sample-on "
        "host; sgd when fine-tuning pre-trained NeuMF, as in the paper)",
    )
    group.add_argument(
        "--l2",
        type=float,
        default=0.0,
        help="L2 on the embeddings each example looks up (default: %(default)g)",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=0,
        help="fixes the split, the negatives and the weights (default: %(default)s)",
    )


def add_sampling_flags(group: argparse._ArgumentGroup) -> None:
    """--negatives, --no-prefetch, --sample-on: how training negatives are drawn."""
    group.add_argument(
        "--negatives",
        type=int,
        default=defaults.NEGATIVES,
        metavar="N",
        help="negatives per positive (default: %(default)s)",
    )
    group.add_argument(
        "--no-prefetch",
        action="store_true",
        help="draw each epoch's negatives when it starts, not in the background during the "
        "epoch before: slower, but one epoch in memory instead of two (default: off)",
    )
    group.add_argument(
        "--sample-on",
        choices=defaults.SAMPLE_ON,
        default="host",
        help="where the training negatives are drawn: host (NumPy, exact) or device (inside "
        "the compiled step: no epoch of rows in host memory; not with lazy-adam) "
        "(default: %(default)s)",
    )


def add_pretraining_flags(group: argparse._ArgumentGroup) -> None:
    """--pretrain-gmf, --pretrain-mlp and --alpha: NeuMF started from two runs."""
    group.add_argument(
        "--pretrain-gmf",
        type=Path,
        metavar="RUN_DIR",
        help="a GMF run to start NeuMF from, with --pretrain-mlp (default: none)",
    )
    group.add_argument(
        "--pretrain-mlp",
        type=Path,
        metavar="RUN_DIR",
        help="an MLP run to start NeuMF from, with --pretrain-gmf (default: none)",
    )
    group.add_argument(
        "--alpha",
        type=float,
        default=None,
        help=f"weight of GMF in the pre-trained output layer, 0 to 1 (default: {defaults.ALPHA:g})",
    )


def add_distribution_flags(group: argparse._ArgumentGroup) -> None:
    """--distribute and the multi-host flags (see ncf_keras.training.distribution)."""
    env = os.environ.get
    group.add_argument(
        "--distribute",
        choices=["data", "model"],
        default=None,
        help="many devices (KERAS_BACKEND=jax): data splits every --batch-size batch over "
        "all devices, model splits the embedding tables (default: one device)",
    )
    group.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        default=env("KERAS_DISTRIBUTION_JOB_ADDRESSES"),
        help="multi-host: process 0's address, the same in every process, with "
        "--num-processes and --process-id (default: $KERAS_DISTRIBUTION_JOB_ADDRESSES, "
        "else one process)",
    )
    group.add_argument(
        "--num-processes",
        type=int,
        default=int(env("KERAS_DISTRIBUTION_NUM_PROCESSES", 1)),
        help="multi-host: processes taking part "
        "(default: $KERAS_DISTRIBUTION_NUM_PROCESSES if set; here %(default)s)",
    )
    group.add_argument(
        "--process-id",
        type=int,
        default=int(env("KERAS_DISTRIBUTION_PROCESS_ID", 0)),
        help="multi-host: this process, 0 to N-1; 0 is the coordinator "
        "(default: $KERAS_DISTRIBUTION_PROCESS_ID if set; here %(default)s)",
    )
    group.add_argument(
        "--coordinator-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="multi-host: how long to wait for the other processes (default: %(default)g)",
    )


def add_evaluate_command(commands: Commands) -> None:
    """`evaluate`: a run's saved model on its test users, sampled or full ranking."""
    evaluate = add_command(commands, "evaluate")
    add_run_flag(evaluate)
    evaluate.add_argument(
        "--full-ranking",
        action="store_true",
        help="rank among all unseen items instead of the run's sampled negatives (default: off)",
    )
    evaluate.add_argument(
        "--sample-users",
        type=int,
        default=None,
        metavar="N",
        help="average over a random sample of N users, drawn from the run's --seed (the same "
        "N gives the same users); full ranking scores N x items pairs, so a sample keeps it "
        "practical on large catalogues (default: every user)",
    )
    add_data_dir_flag(evaluate)


def add_recommend_command(commands: Commands) -> None:
    """`recommend`: a user's top unseen items by a run's model."""
    recommend = add_command(commands, "recommend")
    add_run_flag(recommend)
    recommend.add_argument("--user", required=True, help="the user's id as in the dataset's file")
    recommend.add_argument(
        "--top", type=int, default=10, help="items to list (default: %(default)s)"
    )
    add_data_dir_flag(recommend)


def add_plot_command(commands: Commands) -> None:
    """`plot`: the curves of several runs in one PNG."""
    plot = add_command(commands, "plot")
    plot.add_argument(
        "runs", type=Path, nargs="+", metavar="RUN_DIR", help="run folders written by train"
    )
    plot.add_argument("--out", type=Path, required=True, help="the PNG to write")


def add_command(commands: Commands, name: str) -> argparse.ArgumentParser:
    """The parser of command `name`, with its words from `COMMAND_WORDS`."""
    summary, description = COMMAND_WORDS[name]
    return commands.add_parser(name, help=summary, description=description)


def add_run_flag(parser: argparse.ArgumentParser) -> None:
    """--run: the run folder that evaluate and recommend read."""
    parser.add_argument("--run", type=Path, required=True, help="a run folder written by train")


def add_data_dir_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--data-dir, where named datasets are looked for."""
    parser.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
