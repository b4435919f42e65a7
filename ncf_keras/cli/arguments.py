"""The command line's flags: `build_parser()` for `python -m ncf_keras`.

Every option has help text that states its default. Keras-free, so that
`--help` answers at once; `ncf_keras.cli.main` runs the commands.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ncf_keras import defaults

DATA_DIR_HELP = (
    "data folder (default: $NCF_DATA_DIR, else data/; evaluate and recommend: the run's)"
)


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
        choices=defaults.MODEL_NAMES,
        required=True,
        help="gmf, mlp, neumf, or mf (plain matrix factorisation with biases)",
    )
    t.add_argument(
        "--dataset",
        default="ml-1m",
        help="ml-1m, ml-1m-ncf, ml-20m, ml-25m, ml-32m, synthetic, synthetic:ml-20m "
        "(an ML-20M-sized synthetic log), synthetic:users=U,items=I,interactions=N"
        "[,min_per_user=K][,seed=S] (any key optional; the rest ML-20M's; K is the fewest "
        "interactions of a user, 20 unless given, 2 for a long-tailed log), or the path of "
        "your own file: delimited text (also .gz, .bz2, .xz, one-file .zip) or Parquet "
        "(default: ml-1m)",
    )
    t.add_argument(
        "--columns",
        metavar="user=COL,item=COL[,time=COL]",
        default=None,
        help="pick the user, item and (optional) time columns of a --dataset file by the "
        "names in its header line (or Parquet schema), ignoring the others; evaluate and "
        "recommend reuse them (default: by position: user, item[, rating[, time]])",
    )
    t.add_argument(
        "--test-negatives",
        type=int,
        default=99,
        metavar="N",
        help="items each held-out item is ranked against, drawn from --seed; 999 for the "
        "MLPerf protocol; ml-1m-ncf has its 99 fixed (default: 99, the paper's)",
    )
    t.add_argument(
        "--epochs", type=int, default=defaults.EPOCHS, help="epochs to train (default: 20)"
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
        help="replace the run already in --out, if ncf-keras wrote it and it is unchanged "
        "(default: refuse)",
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
        default=defaults.FACTORS,
        help="GMF and MF embedding size (default: 8)",
    )
    t.add_argument(
        "--layers",
        type=_layer_sizes,
        default=list(defaults.LAYERS),
        help="MLP sizes; the first is both embeddings together (default: 64,32,16,8)",
    )
    t.add_argument(
        "--negatives",
        type=int,
        default=defaults.NEGATIVES,
        help="negatives per positive (default: 4)",
    )
    t.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="training rows per step (default: the --recipe's, else chosen from the data's "
        f"size: 1024 up to {defaults.LARGE_TABLES:,} users + items, 16384 above; see docs/cli.md)",
    )
    t.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: the --recipe's, else 0.003; 0.001 when fine-tuning "
        "pre-trained NeuMF)",
    )
    large = defaults.RECIPES["large-batch"]
    t.add_argument(
        "--recipe",
        choices=list(defaults.RECIPES),
        default=None,
        help=f"large-batch: --batch-size {large['batch_size']} --lr {large['learning_rate']}, "
        "for big data and accelerators; --batch-size and --lr still override it (default: none)",
    )
    t.add_argument(
        "--optimizer",
        default=None,
        choices=defaults.OPTIMIZER_NAMES,
        help=f"(default: adam, or lazy-adam above {defaults.LAZY_ADAM_TABLES:,} users + items on "
        "jax and tensorflow with --sample-on host; sgd when fine-tuning pre-trained NeuMF, "
        "as in the paper)",
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
        "--no-prefetch",
        action="store_true",
        help="draw each epoch's negatives when it starts, not in the background during the "
        "epoch before: slower, but one epoch in memory instead of two (default: off)",
    )
    t.add_argument(
        "--sample-on",
        choices=defaults.SAMPLE_ON,
        default="host",
        help="where the training negatives are drawn: host (NumPy, exact) or device (inside "
        "the compiled step: no epoch of rows in host memory; not with lazy-adam) "
        "(default: host)",
    )
    t.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=[0, 1, 2],
        help="Keras progress: 0 silent, 1 bar, 2 one line per epoch (default: 1)",
    )
    _add_distribution_flags(t)

    e = commands.add_parser("evaluate", help="evaluate a run's saved model")
    e.add_argument("--run", type=Path, required=True, help="a run folder written by train")
    e.add_argument(
        "--full-ranking",
        action="store_true",
        help="rank among all unseen items instead of the run's sampled negatives (default: off)",
    )
    e.add_argument(
        "--sample-users",
        type=int,
        default=None,
        metavar="N",
        help="average over a random sample of N users, drawn from the run's --seed (the same "
        "N gives the same users); full ranking scores N x items pairs, so a sample keeps it "
        "practical on large catalogues (default: every user)",
    )
    e.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)

    r = commands.add_parser("recommend", help="top-N unseen items for a user")
    r.add_argument("--run", type=Path, required=True, help="a run folder written by train")
    r.add_argument("--user", required=True, help="the user's id as in the dataset's file")
    r.add_argument("--top", type=int, default=10, help="items to list (default: 10)")
    r.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)

    p = commands.add_parser("plot", help="HR@10 and loss curves of several runs in one figure")
    p.add_argument(
        "runs", type=Path, nargs="+", metavar="RUN_DIR", help="run folders written by train"
    )
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    return parser


def _add_distribution_flags(t: argparse.ArgumentParser) -> None:
    """train's --distribute and the multi-host flags (see ncf_keras.training.distribution)."""
    env = os.environ.get
    t.add_argument(
        "--distribute",
        choices=["data", "model"],
        default=None,
        help="many devices (KERAS_BACKEND=jax): data splits every --batch-size batch over "
        "all devices, model splits the embedding tables (default: one device)",
    )
    t.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        default=env("KERAS_DISTRIBUTION_JOB_ADDRESSES"),
        help="multi-host: process 0's address, the same in every process, with "
        "--num-processes and --process-id (default: $KERAS_DISTRIBUTION_JOB_ADDRESSES, "
        "else one process)",
    )
    t.add_argument(
        "--num-processes",
        type=int,
        default=int(env("KERAS_DISTRIBUTION_NUM_PROCESSES", 1)),
        help="multi-host: processes taking part (default: "
        "$KERAS_DISTRIBUTION_NUM_PROCESSES, else 1)",
    )
    t.add_argument(
        "--process-id",
        type=int,
        default=int(env("KERAS_DISTRIBUTION_PROCESS_ID", 0)),
        help="multi-host: this process, 0 to N-1; 0 is the coordinator "
        "(default: $KERAS_DISTRIBUTION_PROCESS_ID, else 0)",
    )
    t.add_argument(
        "--coordinator-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="multi-host: how long to wait for the other processes (default: 300)",
    )
