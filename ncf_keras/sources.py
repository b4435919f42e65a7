"""Where datasets come from: four sources, one `Dataset` form.

* `"ml-1m"`: GroupLens MovieLens-1M, split here by leave-one-out, and
* `"ml-1m-ncf"`: the NCF paper's own split of ML-1M, with its 99 test negatives
  (both in `ncf_keras.grouplens`);
* `"synthetic"`: a seeded generator with planted latent structure.
* a path: the user's own delimited file of (user, item[, rating[, timestamp]]):
  comma, semicolon, tab or whitespace separated, RFC 4180 quotes allowed.

Data folder: `data_dir` argument, else `$NCF_DATA_DIR`, else `data/`. Files
already there are used as they are (a pre-placed copy is trusted without its
hash); anything missing is downloaded and verified (see `ncf_keras.download`).
"""

from __future__ import annotations

import gzip
import itertools
import os
import zlib
from pathlib import Path

import numpy as np

from ncf_keras.dataset import TEST_NEGATIVES, Dataset, leave_one_out
from ncf_keras.errors import DataError
from ncf_keras.parsing import (
    SNIFF_LINES,
    is_number,
    read_table,
    sniff_dialect,
    time_column,
)
from ncf_keras.sampling import random_stream


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: `data_dir`, else `$NCF_DATA_DIR`, else `data/`."""
    return Path(data_dir or os.environ.get("NCF_DATA_DIR") or "data")


def data_dir_origin(data_dir: str | os.PathLike | None = None) -> str:
    """How the data folder was chosen, for messages, e.g. "from $NCF_DATA_DIR".

    The CLI passes on the folder it resolved itself, so a `data_dir` that is the
    folder $NCF_DATA_DIR names (or, with $NCF_DATA_DIR unset, `data/`) counts as
    chosen that way.
    """
    env = os.environ.get("NCF_DATA_DIR")
    default = "the default data/, as neither --data-dir nor $NCF_DATA_DIR is set"
    if data_dir:
        folder = Path(data_dir).resolve()
        if env and folder == Path(env).resolve():
            return "from $NCF_DATA_DIR"
        if not env and folder == Path("data").resolve():
            return default
        return "from --data-dir"
    return "from $NCF_DATA_DIR" if env else default


NAMED_DATASETS = ("ml-1m", "ml-1m-ncf", "synthetic")


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, seed: int = 0) -> Dataset:
    """Load "ml-1m", "ml-1m-ncf", "synthetic" or a path to an interactions file.

    `seed` draws the test negatives where the source does not fix them.
    """
    from ncf_keras import grouplens  # it reads files through this module's `from_file`

    if name == "ml-1m":
        return grouplens.movielens_1m(data_dir, seed)
    if name == "ml-1m-ncf":
        return grouplens.movielens_1m_ncf(data_dir)
    if name == "synthetic":
        return synthetic(seed=seed)
    if Path(name).is_file():
        return from_file(name, seed)
    raise DataError(
        f"unknown dataset {name!r}: use {', '.join(NAMED_DATASETS)} "
        "or the path of an existing interactions file"
    )


def synthetic(
    num_users: int = 1000,
    num_items: int = 500,
    interactions_per_user: int = 30,
    factors: int = 8,
    seed: int = 0,
) -> Dataset:
    """Seeded implicit feedback with planted latent structure, for tests and CI.

    Users and items get random `factors`-dimensional taste vectors; each user
    picks `interactions_per_user` distinct items, with probability rising
    steeply with the dot product (Gumbel top-k). The pick order is random, so the
    held-out item is one more draw from the user's taste: a model that learns
    the structure beats random ranking (HR@10 ~ 0.10) by far. Memory is
    num_users x num_items floats.
    """
    if num_items < interactions_per_user + TEST_NEGATIVES:
        raise DataError(
            f"synthetic: num_items={num_items} must be at least "
            f"interactions_per_user + {TEST_NEGATIVES}"
        )
    if interactions_per_user < 2:
        raise DataError("synthetic: interactions_per_user must be at least 2")
    rng = random_stream(seed, "synthetic")
    taste_u = rng.normal(size=(num_users, factors))
    taste_i = rng.normal(size=(num_items, factors))
    popularity = rng.normal(scale=0.5, size=num_items)
    logits = 3.0 * taste_u @ taste_i.T / np.sqrt(factors) + popularity
    gumbel = -np.log(-np.log(rng.random((num_users, num_items))))
    picks = np.argsort(-(logits + gumbel), axis=1)[:, :interactions_per_user]
    picks = rng.permuted(picks, axis=1)  # random order in time
    users = np.repeat(np.arange(num_users), interactions_per_user)
    return leave_one_out("synthetic", users, picks.ravel(), None, seed)


TIME_COLUMNS = ("timestamp", "time", "ts", "date", "datetime", "order", "seq", "position")


def from_file(
    path: str | os.PathLike, seed: int = 0, name: str | None = None, item_titles: dict | None = None
) -> Dataset:
    """The user's own interactions: CSV or TSV (optionally .gz), with or without header.

    Columns, by position: user, item, then optionally rating and timestamp.
    With a header, a third column named like a time or order ("timestamp",
    "time", "date", "order", "seq", ...) is the time; otherwise the third is the
    rating. Times are numbers or ISO 8601 dates.
    The rating is checked to be a number and then ignored: every row is one
    interaction. Without a time column, file order is time order.

    The separator (comma, semicolon, tab, or runs of spaces and tabs) is told
    from the first lines by `parsing.sniff_dialect`; fields may be quoted as in
    RFC 4180 ("1","2" or "a,b",x). The first line is a header when its
    rating/time fields are not numbers, or when it names a "user" or "item" column.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            lines = [line.rstrip("\r\n") for line in itertools.islice(f, SNIFF_LINES)]
    except (EOFError, zlib.error) as e:
        raise DataError(f"{path}: a truncated or corrupt gzip file ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if not lines or not lines[0]:
        raise DataError(f"{path}: line 1 is empty; expected user, item[, rating[, timestamp]]")
    dialect = sniff_dialect(lines, str(path))
    fields = [f.strip().lower() for f in dialect.split(lines[0])]
    if not 2 <= len(fields) <= 4:
        raise DataError(
            f"{path}: line 1: expected 2 to 4 fields "
            f"(user, item[, rating[, timestamp]]), saw {len(fields)}"
        )
    # A column name has no digits: ids such as "user-04" or "item_17" are data.
    header = any(
        ("user" in f or "item" in f) and not any(c.isdigit() for c in f) for f in fields
    ) or any(not is_number(f.replace(dialect.decimal, ".")) for f in fields[2:])
    roles = ["user", "item", "rating", "order"][: len(fields)]
    if header and len(fields) == 3 and fields[2] in TIME_COLUMNS:
        roles[2] = "order"
    numeric = tuple(c for c, role in enumerate(roles) if role == "rating")
    df = read_table(path, str(path), dialect, len(fields), header=header, numeric=numeric)
    order = None
    if "order" in roles:
        order = time_column(df[roles.index("order")], roles.index("order"), str(path), header)
    return leave_one_out(
        name or path.name, df[0].to_numpy(), df[1].to_numpy(), order, seed, item_titles
    )
