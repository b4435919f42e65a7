"""The user's own interactions file: which columns hold the user, the item and the time.

Delimited text (comma, semicolon, tab or whitespace; plain or packed as
`ncf_keras.data.compression` reads) or Parquet. Two rules pick the columns:

* by position (the default): user, item, then optionally rating and time.
  With 3 columns the third is the time when the header names it like one
  ("timestamp", "date", "order", ...) or its values are ISO dates, else the rating.
* by name, `columns="user=COL,item=COL[,time=COL]"` (`--columns`): columns of a
  header line (or a Parquet file's schema), in any order; the others are ignored.

`from_file` reads such a file and splits it by leave-one-out into a `Dataset`.
Ids are labels, read exactly as written (`parsing.exact_ids`); times are
numbers or ISO 8601 dates (`parsing.time_column`). Every fault is a one-line
DataError naming the file and the line, or the row of a Parquet file.
"""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ncf_keras.data.compression import CORRUPT, corrupt, open_bytes, packing
from ncf_keras.data.dataset import TEST_NEGATIVES, Dataset, leave_one_out
from ncf_keras.data.parsing import (
    SNIFF_LINES,
    Dialect,
    exact_ids,
    is_number,
    is_time,
    read_table,
    sniff_dialect,
    time_column,
)
from ncf_keras.errors import ArgumentError, DataError

TIME_COLUMNS = ("timestamp", "time", "ts", "date", "datetime", "order", "seq", "position")
COLUMNS_FORM = "user=COL,item=COL[,time=COL]"
Interactions = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]  # users, items, order


def parse_columns(spec: str) -> dict[str, str]:
    """{"user": name, "item": name[, "time": name]} from "user=COL,item=COL[,time=COL]".

    Names are stripped of surrounding spaces; one may hold "=", none a comma.
    Raises ArgumentError("columns", ...) for any other form.
    """
    picked: dict[str, str] = {}
    for part in spec.split(","):
        key, equals, name = (s.strip() for s in part.partition("="))
        if key not in ("user", "item", "time") or not equals or not name or key in picked:
            what = f"{key!r} twice" if key in picked else repr(part.strip())
            raise ArgumentError(
                "columns", f"{spec!r}: {what} is not KEY=NAME; the form is {COLUMNS_FORM}"
            )
        picked[key] = name
    if "user" not in picked or "item" not in picked:
        raise ArgumentError("columns", f"{spec!r} must name user= and item=: {COLUMNS_FORM}")
    if len(set(picked.values())) < len(picked):
        raise ArgumentError("columns", f"{spec!r} names one column for two roles")
    return picked


def from_file(
    path: str | os.PathLike,
    seed: int = 0,
    name: str | None = None,
    item_titles: dict | None = None,
    test_negatives: int = TEST_NEGATIVES,
    columns: str | None = None,
) -> Dataset:
    """The user's own interactions: delimited text (plain, .gz, .bz2, .xz or a one-file
    .zip) or Parquet, with or without header.

    Columns, by position: user, item, then optionally rating and timestamp.
    With a header, a third column named like a time or order ("timestamp",
    "time", "date", "order", "seq", ...) is the time, and so is one of ISO
    dates; otherwise the third is the rating. `columns="user=COL,item=COL[,time=COL]"`
    picks columns by their header names instead, ignoring the others. Times are
    numbers or ISO 8601 dates (with UTC offsets on all or none).
    The rating is checked to be a number and then ignored: every row is one
    interaction. Without a time column, file order is time order. Ids are
    labels, exactly as written: "007", "7", "NA" and 2**63 are four users.

    The separator (comma, semicolon, tab, or runs of spaces and tabs) is told
    from the first lines by `parsing.sniff_dialect`; fields may be quoted as in
    RFC 4180 ("1","2" or "a,b",x). The first line is a header when its
    rating/time fields are neither numbers nor dates, or when it names a "user"
    or "item" column. See this module's docstring for the rules in full.
    `seed` draws `test_negatives` (default 99) items per user.
    """
    path = Path(path)
    users, items, order = read_interactions(path, columns)
    return leave_one_out(name or path.name, users, items, order, seed, item_titles, test_negatives)


def read_interactions(path: str | Path, columns: str | None = None) -> Interactions:
    """(users, items, order) of a delimited or Parquet file; order is None without a time.

    Args:
        path: the file; Parquet when it ends in .parquet or starts with "PAR1".
        columns: "user=COL,item=COL[,time=COL]" to pick columns by their names
            (default: by position).
    """
    path = Path(path)
    picked = None if columns is None else parse_columns(columns)
    if packing(path) is None and is_parquet(path):
        return read_parquet(path, picked)
    return read_delimited(path, picked)


def is_parquet(path: Path) -> bool:
    with open(path, "rb") as f:
        return path.suffix.lower() in (".parquet", ".pq") or f.read(4) == b"PAR1"


def first_lines(path: Path) -> list[str]:
    """The file's first SNIFF_LINES lines, unpacked, without line breaks or a BOM."""
    try:
        with open_bytes(path) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")
            return [line.rstrip("\r\n") for line in itertools.islice(text, SNIFF_LINES)]
    except CORRUPT as e:
        raise corrupt(str(path), packing(path), e) from None


def read_delimited(path: Path, picked: dict[str, str] | None) -> Interactions:
    """The interactions of a delimited text file (see the module's rules)."""
    label = str(path)
    lines = first_lines(path)
    if not lines or not lines[0]:
        raise DataError(f"{path}: line 1 is empty; expected user, item[, rating[, timestamp]]")
    dialect = sniff_dialect(lines, label)
    fields = [f.strip() for f in dialect.split(lines[0])]
    if picked is None:
        header, roles = positional_roles(fields, lines, dialect, label)
        keep = None
    else:
        if all(is_number(f) or is_time(f) for f in fields):
            raise DataError(
                f"{path}: line 1 is data ({lines[0]!r}), not a header; --columns picks columns "
                "by the names of a header line: add one, or leave --columns out"
            )
        header, roles = True, named_roles(fields, picked, label, "line 1, the header,")
        keep = tuple(sorted(roles.values()))
    df = read_table(
        path,
        label,
        dialect,
        len(fields),
        header=header,
        numeric=(roles["rating"],) if "rating" in roles else (),
        text=(roles["user"], roles["item"]),
        keep=keep,
    )
    order = None
    if "time" in roles:
        col = roles["time"]
        order = time_column(df[col], label, lambda row: f"line {row + 1 + header}: field {col + 1}")
    return exact_ids(df[roles["user"]]), exact_ids(df[roles["item"]]), order


def positional_roles(
    fields: list[str], lines: list[str], dialect: Dialect, label: str
) -> tuple[bool, dict[str, int]]:
    """(whether line 1 is a header, role -> column) for columns taken by position.

    Line 1 is a header when it names a "user" or "item" column (without digits:
    "user-04" is an id), or when a rating or time field of it is neither a
    number nor an ISO date.
    """
    if not 2 <= len(fields) <= 4:
        raise DataError(
            f"{label}: line 1: expected 2 to 4 fields (user, item[, rating[, timestamp]]), "
            f"saw {len(fields)}; to pick columns by name: --columns {COLUMNS_FORM}"
        )
    lowered = [f.lower() for f in fields]
    header = any(
        ("user" in f or "item" in f) and not any(c.isdigit() for c in f) for f in lowered
    ) or any(not is_number(f.replace(dialect.decimal, ".")) and not is_time(f) for f in fields[2:])
    roles = {"user": 0, "item": 1}
    if len(fields) == 4:
        roles |= {"rating": 2, "time": 3}
    elif len(fields) == 3:
        first = fields if not header else dialect.split(lines[1]) if len(lines) > 1 else []
        dated = len(first) >= 3 and is_time(first[2]) and not is_number(first[2])
        roles["time" if dated or (header and lowered[2] in TIME_COLUMNS) else "rating"] = 2
    return header, roles


def named_roles(names: list[str], picked: dict[str, str], label: str, where: str) -> dict:
    """role -> column index of the names `picked` chose among a header's `names`."""
    roles = {}
    for role, name in picked.items():
        found = [k for k, n in enumerate(names) if n == name]
        if len(found) != 1:
            listed = ", ".join(map(repr, names))
            what = f"names {name!r} {len(found)} times" if found else f"has no column {name!r}"
            raise DataError(f"{label}: {where} {what} (--columns {role}=); its columns: {listed}")
        roles[role] = found[0]
    return roles


def read_parquet(path: Path, picked: dict[str, str] | None) -> Interactions:
    """The interactions of a Parquet file: ids of integer or string type, times of
    number, timestamp (any time zone), date or ISO-string type."""
    import pyarrow.parquet as pq

    label = str(path)
    try:
        names = pq.read_schema(path).names
        if picked is None:
            roles = parquet_positional_roles(path, names, label)
        else:
            roles = {
                r: names[k] for r, k in named_roles(names, picked, label, "its schema").items()
            }
        table = pq.read_table(path, columns=list(dict.fromkeys(roles.values())))
    except (pa.ArrowException, OSError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{label}: not a readable Parquet file ({reason})") from None
    for role in roles:
        column = table[roles[role]]
        if column.null_count:
            row = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False)))
            raise DataError(f"{label}: row {row + 1}: column {roles[role]!r} is empty (null)")
    rating = table[roles["rating"]].type if "rating" in roles else pa.int64()
    if not (pa.types.is_integer(rating) or pa.types.is_floating(rating)):
        raise DataError(
            f"{label}: column {roles['rating']!r} is of type {rating}; a rating must be a number"
        )
    users = parquet_ids(table[roles["user"]], roles["user"], label)
    items = parquet_ids(table[roles["item"]], roles["item"], label)
    order = None
    if "time" in roles:
        order = parquet_times(table[roles["time"]], roles["time"], label)
    return users, items, order


def parquet_positional_roles(path: Path, names: list[str], label: str) -> dict[str, str]:
    """role -> column name, by position as in a delimited file with a header."""
    import pyarrow.parquet as pq

    if not 2 <= len(names) <= 4:
        raise DataError(
            f"{label}: expected 2 to 4 columns (user, item[, rating[, timestamp]]), saw "
            f"{len(names)}; to pick columns by name: --columns {COLUMNS_FORM}"
        )
    roles = {"user": names[0], "item": names[1]}
    if len(names) == 4:
        roles |= {"rating": names[2], "time": names[3]}
    elif len(names) == 3:
        kind = pq.read_schema(path).field(names[2]).type
        timed = pa.types.is_temporal(kind) or names[2].lower() in TIME_COLUMNS
        roles["time" if timed else "rating"] = names[2]
    return roles


def parquet_ids(column: pa.ChunkedArray, name: str, label: str) -> np.ndarray:
    """A Parquet id column as exact labels: integers as they are, strings as written;
    a float column only where every value is a whole number that a float holds exactly."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_integer(kind):
        return column.to_numpy().astype(np.uint64 if kind == pa.uint64() else np.int64)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return exact_ids(column.cast(pa.string()))
    if pa.types.is_floating(kind):
        values = column.to_numpy()
        inexact = (values != np.floor(values)) | (np.abs(values) > 2.0**53)
        if not inexact.any():
            return values.astype(np.int64)
        row = int(np.argmax(inexact))
        raise DataError(
            f"{label}: row {row + 1}: column {name!r} holds {values[row].item()!r}, and its "
            f"ids are floats ({kind}): ids must be whole numbers below 2**53 there, or "
            "better, store them as integers or strings"
        )
    raise DataError(f"{label}: column {name!r} is of type {kind}; ids must be integers or strings")


def parquet_times(column: pa.ChunkedArray, name: str, label: str) -> np.ndarray:
    """A Parquet time column as numbers that sort like the times."""
    kind = column.type
    if pa.types.is_timestamp(kind):  # stored in UTC where it has a time zone
        return column.cast(pa.int64()).to_numpy()
    if pa.types.is_date(kind):
        return column.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy()
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return column.to_numpy()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
        return time_column(values, label, lambda row: f"row {row + 1}: column {name!r}")
    raise DataError(
        f"{label}: column {name!r} is of type {kind}; a time must be a number, a timestamp, "
        "a date or an ISO 8601 string"
    )
