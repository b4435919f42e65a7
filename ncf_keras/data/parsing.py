"""Reading delimited tables, with errors that name the file, line and field.

pandas' C parser does the reading; this module turns its failures, and values
of the wrong kind, into one-line `DataError`s such as
"ratings.dat: line 3: expected 4 non-empty fields, saw 3". `sniff_dialect`
tells how a user's file is written (comma, semicolon, tab or whitespace runs;
RFC 4180 quotes) with the standard library's `csv.Sniffer`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ncf_keras.data.arrow_csv import read_with_arrow
from ncf_keras.data.compression import CORRUPT, corrupt, open_bytes, packing
from ncf_keras.errors import DataError

WHITESPACE = r"\s+"  # pandas' C parser reads this separator as "runs of spaces and tabs"
SNIFFED = ",;\t "  # the separators csv.Sniffer may choose; " " stands for WHITESPACE
SNIFF_LINES = 20  # how many lines of a file the sniffer looks at
# A time of day followed by a UTC offset: "...T10:00:00Z", "... 10:00:00.5+02:00", "...+0530"
UTC_OFFSET = r"\d\d:\d\d(?::\d\d(?:\.\d*)?)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
CANONICAL_INTEGER = r"^(?:0|-?[1-9][0-9]*)$"  # as str(int) writes it: no "+", "007" or "-0"


@dataclass(frozen=True)
class Dialect:
    """How a user's delimited file is written, in the terms pandas' C parser takes.

    Fields may be quoted with '"' as RFC 4180 has it: a quoted field may hold
    the separator, and "" inside it stands for one quote.

    Attributes:
        sep: ",", ";", "\t", or WHITESPACE (runs of spaces and tabs).
        skipinitialspace: spaces right after a separator are not part of the
            next field ("1, 2, 4").
        decimal: the decimal mark of numbers: "," in semicolon files that
            write ratings as "4,5" (spreadsheets in many locales), else ".".
    """

    sep: str
    skipinitialspace: bool = False
    decimal: str = "."

    def split(self, line: str) -> list[str]:
        """The fields of one line (no line break), quotes removed."""
        if self.sep == WHITESPACE:
            line, sep, skip = line.replace("\t", " ").strip(), " ", True
        else:
            sep, skip = self.sep, self.skipinitialspace
        return next(csv.reader([line], delimiter=sep, skipinitialspace=skip), [])


def sniff_dialect(lines: list[str], label: str) -> Dialect:
    """Tell the separator of a user's file from its first lines, with `csv.Sniffer`.

    Args:
        lines: the first lines of the file (up to SNIFF_LINES), without line
            breaks; lines[0] is not empty.
        label: the file's name, for the error.

    The sniffer picks a separator that occurs equally often on every line:
    comma, then tab, then space where several do, but semicolon over comma (the
    commas are then decimal marks or text). A bad line among few can spoil the
    count, so the first line alone is tried next. Fields separated by runs of
    spaces and tabs (which the sniffer cannot count, or takes for tabs) are read
    as WHITESPACE. A semicolon file with "4,5" (digit, comma, digit) gets
    decimal ",". Raises DataError for any other separator.
    """
    found = _sniff("\n".join(lines)) or _sniff(lines[0])
    if found is None:
        if len(lines[0].split()) >= 2:
            return Dialect(WHITESPACE)
        shown = lines[0] if len(lines[0]) <= 40 else lines[0][:37] + "..."
        raise DataError(
            f"{label}: line 1: no supported separator in {shown!r}; separate the fields "
            "user, item[, rating[, timestamp]] with commas, semicolons, tabs or spaces"
        )
    if found.delimiter == " " or (found.delimiter == "\t" and _aligned(lines)):
        return Dialect(WHITESPACE)
    comma = found.delimiter == ";" and any(re.search(r"\d,\d", line) for line in lines)
    return Dialect(found.delimiter, found.skipinitialspace, "," if comma else ".")


def _sniff(sample: str) -> type[csv.Dialect] | None:
    """csv.Sniffer's dialect for `sample`, restricted to SNIFFED; None if it finds none."""
    sniffer = csv.Sniffer()
    try:
        found = sniffer.sniff(sample, delimiters=SNIFFED)
    except csv.Error:
        return None
    if found.delimiter == "," and ";" in sample:
        try:
            return sniffer.sniff(sample, delimiters=";")
        except csv.Error:
            pass
    return found


def _aligned(lines: list[str]) -> bool:
    """Whether lines with tabs are columns aligned with tabs and spaces: the number
    of tabs varies from line to line, the number of whitespace-separated fields not."""
    rows = [line for line in lines if line.strip()]
    return len({r.count("\t") for r in rows}) > 1 and len({len(r.split()) for r in rows}) == 1


def read_table(
    source,
    label: str,
    sep: str | Dialect,
    fields: int,
    header: bool = False,
    numeric: tuple[int, ...] = (),
    text: tuple[int, ...] = (),
    keep: tuple[int, ...] | None = None,
) -> pd.DataFrame:
    """Read a delimited table of exactly `fields` columns with pandas' C parser.

    Args:
        source: a path (unpacked as `compression.open_bytes` does) or a
            file-like object.
        label: the name errors give the file.
        sep: a separator character, for files that never quote (the NCF and
            GroupLens files: a '"' is data), or a Dialect from `sniff_dialect`,
            whose fields may be quoted.
        fields: the number of columns every line must have.
        header: skip the first line.
        numeric: columns whose values must all be numbers.
        text: columns kept as the exact text of their fields (str objects):
            ids, which must not pass through a number ("007", 2**64, "NA").
        keep: the columns returned (default: all); every line must still
            have `fields` fields, but only the kept ones must be non-empty.

    Only empty fields are missing: "NA", "null" or "nan" are text like any
    other. Returns a DataFrame with the columns `keep` (default 0..fields-1),
    one row per line after the header. Errors are DataErrors naming `label`
    and the line.
    """
    dialect = sep if isinstance(sep, Dialect) else None
    # The fast path, for files it reads exactly as pandas would (see arrow_csv).
    plain = dialect and dialect.sep != WHITESPACE and not dialect.skipinitialspace
    if text and plain and isinstance(source, (str, Path)):
        args = (dialect.sep, dialect.decimal, fields, header, numeric, text, keep)
        df = read_with_arrow(source, *args)
        if df is not None:
            return df
    options = _read_csv_options(sep, header, text)
    try:
        if isinstance(source, (str, Path)):
            with open_bytes(source) as stream:
                df = pd.read_csv(stream, **options)
        else:
            df = pd.read_csv(source, **options)
    except pd.errors.ParserError as e:
        raise _parser_error(e, label, fields, header) from None
    except pd.errors.EmptyDataError:
        what = "has a header line but no data rows" if header else "is empty"
        raise DataError(f"{label}: the file {what}") from None
    except UnicodeDecodeError:
        line = first_non_utf8_line(source)
        raise DataError(f"{label}: line {line}: not UTF-8 text; save it as UTF-8") from None
    except CORRUPT as e:
        raise corrupt(
            label, packing(source) if isinstance(source, (str, Path)) else None, e
        ) from None
    return _checked(df, label, fields, header, numeric, keep)


def _read_csv_options(sep: str | Dialect, header: bool, text: tuple[int, ...]) -> dict:
    """`pd.read_csv`'s options for `read_table`: its C parser, no header row kept, only
    empty fields missing, the `text` columns as str objects, quotes as `sep` says."""
    dialect = sep if isinstance(sep, Dialect) else None
    return dict(
        sep=dialect.sep if dialect else sep,
        header=None,
        skiprows=int(header),
        dtype=dict.fromkeys(text, object) or None,
        keep_default_na=False,
        na_values=[""],
        skip_blank_lines=False,
        engine="c",
        quoting=csv.QUOTE_MINIMAL if dialect else csv.QUOTE_NONE,
        quotechar='"',
        skipinitialspace=dialect.skipinitialspace if dialect else False,
        decimal=dialect.decimal if dialect else ".",
    )


def _parser_error(error: pd.errors.ParserError, label: str, fields: int, header: bool) -> DataError:
    """pandas' parser error as one line naming the file and line: a wrong field count,
    a quote never closed, or else pandas' own words."""
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
    if m:
        line, saw = int(m[2]), int(m[3])
        if int(m[1]) != fields:  # pandas took the count from the first line: it is at fault
            line, saw = 1 + int(header), int(m[1])
        return DataError(f"{label}: line {line}: expected {fields} fields, saw {saw}")
    m = re.search(r"EOF inside string starting at row (\d+)", str(error))
    if m:
        return DataError(
            f"{label}: line {int(m[1]) + 1}: a quoted field is never closed; "
            'close it with " or remove its opening "'
        )
    return DataError(f"{label}: cannot parse ({error})")


def _checked(
    df: pd.DataFrame,
    label: str,
    fields: int,
    header: bool,
    numeric: tuple[int, ...],
    keep: tuple[int, ...] | None,
) -> pd.DataFrame:
    """`read_table`'s rows, checked: `fields` columns, no empty field, numbers where
    `numeric` says; blank lines at the end dropped; only the `keep` columns."""
    if df.shape[1] != fields:
        raise DataError(
            f"{label}: line {1 + int(header)}: expected {fields} fields, saw {df.shape[1]}"
        )
    filled = df.notna().any(axis=1).to_numpy()
    if len(df) and not filled[-1]:  # blank lines at the end of the file: drop them
        df = df.iloc[: filled.nonzero()[0][-1] + 1 if filled.any() else 0]
        for col in df.columns[df.dtypes == np.float64]:  # the blanks made int columns float
            if (df[col] % 1 == 0).all():
                df[col] = df[col].astype(np.int64)
    if keep is not None:
        df = df[list(keep)]
    missing = df.isna().any(axis=1).to_numpy()
    if missing.any() and keep is not None:
        row = int(np.argmax(missing))
        col = df.columns[df.iloc[row].isna().to_numpy()][0]
        raise DataError(f"{label}: line {row + 1 + int(header)}: field {col + 1} is empty")
    if missing.any():
        row = int(np.argmax(missing))
        raise DataError(
            f"{label}: line {row + 1 + int(header)}: expected {fields} non-empty fields, "
            f"saw {df.iloc[row].notna().sum()}"
        )
    for col in numeric:
        if not pd.api.types.is_numeric_dtype(df[col]):
            bad = pd.to_numeric(df[col], errors="coerce").isna().to_numpy()
            row = int(np.argmax(bad))
            raise DataError(
                f"{label}: line {row + 1 + int(header)}: field {col + 1} "
                f"is not a number: {df[col].iloc[row]!r}"
            )
    return df


def first_non_utf8_line(source) -> int:
    """The 1-based line of the first bytes that are not UTF-8, in a path or BytesIO."""
    if isinstance(source, io.BytesIO):
        data = source.getvalue()
    else:
        with open_bytes(source) as f:
            data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return data.count(b"\n", 0, e.start) + 1
    return 1


def int_column(df: pd.DataFrame, col: int, label: str, header: bool = False) -> np.ndarray:
    values = df[col].to_numpy()
    if not np.issubdtype(values.dtype, np.integer):
        bad = np.flatnonzero(values != np.floor(values))
        if len(bad):
            raise DataError(
                f"{label}: line {bad[0] + 1 + int(header)}: field {col + 1} "
                f"is not an integer: {values[bad[0]]!r}"
            )
    if len(values) and values.min() < 0:
        row = int(np.argmin(values))
        raise DataError(
            f"{label}: line {row + 1 + int(header)}: field {col + 1} is negative: {values[row]!r}"
        )
    return values.astype(np.int64)


def exact_ids(values: np.ndarray | pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Ids exactly as written: integers where every one is written as one, else the text.

    Args:
        values: shape (n,): the ids' text: str objects, a pyarrow string array,
            or a pandas Series of either.

    Returns int64 ids where every value is a canonical integer ("0", "42",
    "-7"; not "007", "+7" or "4.0") that fits, else uint64 where they all fit
    that, else the strings themselves (object). So no id passes through a
    float, "007" and "7" stay two ids, and str() of each label is its text.
    """
    if isinstance(values, pd.Series):  # Arrow strings stay in Arrow; str objects as they are
        values = values.to_numpy() if values.dtype == object else pa.array(values)
    text = (
        values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, pa.string())
    )
    if len(text) and pc.all(pc.match_substring_regex(text, CANONICAL_INTEGER)).as_py():
        for kind in (pa.int64(), pa.uint64()):
            try:
                return pc.cast(text, kind).to_numpy()
            except pa.ArrowInvalid:  # out of range
                pass
    if isinstance(values, np.ndarray):
        return values.astype(object, copy=False)
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def time_column(values: pd.Series, label: str, place: Callable[[int], str]) -> np.ndarray:
    """A time or order column: numbers as they are, ISO dates as int64 time stamps.

    Args:
        values: the column, numbers or text.
        label: the file's name, for errors.
        place: row (0-based) -> where it is in the file, e.g. "line 3: field 4".

    Only the order of the values is used. A column is all numbers or all ISO 8601
    dates ("2000-12-31", "2000-12-31T22:00:00", "2000-12-31 22:00:00.5"), and
    either every date and time has a UTC offset ("Z", "+02:00", or " UTC" as
    BigQuery writes it) or none has: a date without one is ambiguous next to
    dates with one. Otherwise a DataError names the first row that breaks it.
    """
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy()
    if is_number(str(values.iloc[0])):  # it starts with numbers: a later value is not one
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            row = int(np.argmax(numbers.isna().to_numpy()))
            raise DataError(f"{label}: {place(row)} is not a number: {values.iloc[row]!r}")
        return numbers.to_numpy()
    text = values.astype(str)
    text = text.str.replace(r"\s*(UTC|GMT)$", "+00:00", regex=True)
    dates = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    if dates.isna().any():
        row = int(np.argmax(dates.isna().to_numpy()))
        raise DataError(f"{label}: {place(row)} is not a date: {values.iloc[row]!r}")
    offset = text.str.contains(UTC_OFFSET, regex=True).to_numpy()
    if offset.any() and not offset.all():
        row = int(np.argmax(offset != offset[0]))
        has = "has" if offset[row] else "has no"
        raise DataError(
            f"{label}: {place(row)} {has} UTC offset ({values.iloc[row]!r}) and "
            f"{place(0)} {'has' if offset[0] else 'has none'} ({values.iloc[0]!r}); "
            "give every time an offset (such as Z or +02:00) or none"
        )
    return dates.dt.tz_convert(None).astype("int64").to_numpy()


def is_time(text: str) -> bool:
    """Whether `text` is an ISO 8601 date or time, as `time_column` reads them."""
    text = re.sub(r"\s*(UTC|GMT)$", "+00:00", text.strip())
    if not re.match(r"\d{4}-\d\d", text):
        return False
    return not pd.isna(pd.to_datetime(pd.Series([text]), format="ISO8601", errors="coerce")[0])


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
