"""Reading delimited tables, with errors that name the file, line and field.

pandas' C parser does the reading; this module turns its failures, and values
of the wrong kind, into one-line `DataError`s such as
"ratings.dat: line 3: expected 4 non-empty fields, saw 3". `sniff_dialect`
tells how a user's file is written (comma, semicolon, tab or whitespace runs;
RFC 4180 quotes) with the standard library's `csv.Sniffer`.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ncf_keras.errors import DataError

WHITESPACE = r"\s+"  # pandas' C parser reads this separator as "runs of spaces and tabs"
SNIFFED = ",;\t "  # the separators csv.Sniffer may choose; " " stands for WHITESPACE
SNIFF_LINES = 20  # how many lines of a file the sniffer looks at


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
) -> pd.DataFrame:
    """Read a delimited table of exactly `fields` columns with pandas' C parser.

    Args:
        source: a path (".gz" is decompressed) or a file-like object.
        label: the name errors give the file.
        sep: a separator character, for files that never quote (the NCF and
            GroupLens files: a '"' is data), or a Dialect from `sniff_dialect`,
            whose fields may be quoted.
        fields: the number of columns every line must have.
        header: skip the first line.
        numeric: columns whose values must all be numbers.

    Returns a DataFrame with columns 0..fields-1, one row per line after the
    header. Errors are DataErrors naming `label` and the line.
    """
    dialect = sep if isinstance(sep, Dialect) else None
    try:
        df = pd.read_csv(
            source,
            sep=dialect.sep if dialect else sep,
            header=None,
            skiprows=int(header),
            dtype=None,
            skip_blank_lines=False,
            engine="c",
            quoting=csv.QUOTE_MINIMAL if dialect else csv.QUOTE_NONE,
            quotechar='"',
            skipinitialspace=dialect.skipinitialspace if dialect else False,
            decimal=dialect.decimal if dialect else ".",
        )
    except pd.errors.ParserError as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if m:
            line, saw = int(m[2]), int(m[3])
            if int(m[1]) != fields:  # pandas took the count from the first line: it is at fault
                line, saw = 1 + int(header), int(m[1])
            raise DataError(f"{label}: line {line}: expected {fields} fields, saw {saw}") from None
        m = re.search(r"EOF inside string starting at row (\d+)", str(e))
        if m:
            raise DataError(
                f"{label}: line {int(m[1]) + 1}: a quoted field is never closed; "
                'close it with " or remove its opening "'
            ) from None
        raise DataError(f"{label}: cannot parse ({e})") from None
    except pd.errors.EmptyDataError:
        what = "has a header line but no data rows" if header else "is empty"
        raise DataError(f"{label}: the file {what}") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{label}: a truncated or corrupt gzip file ({e})") from None
    except UnicodeDecodeError:
        line = first_non_utf8_line(source)
        raise DataError(f"{label}: line {line}: not UTF-8 text; save it as UTF-8") from None
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
    missing = df.isna().any(axis=1).to_numpy()
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
        with (gzip.open if str(source).endswith(".gz") else open)(source, "rb") as f:
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


class Movies(dict):
    """MovieID -> title, as read from a `movies.dat`; `genres` maps MovieID -> genres.

    A plain `dict[int, str]` of titles to every caller that wants only those.

    Attributes:
        genres: MovieID -> tuple of genre names, e.g. ("Animation", "Comedy").
    """

    def __init__(self, titles: dict[int, str], genres: dict[int, tuple[str, ...]]):
        super().__init__(titles)
        self.genres = genres


def read_movies(path: Path) -> Movies:
    """MovieLens `movies.dat` (MovieID::Title::Genres, latin-1, genres split by "|").

    Returns {MovieID: title}, with the genres as `.genres` {MovieID: (genre, ...)}.
    """
    titles, genres = {}, {}
    with open(path, encoding="latin-1") as f:
        for number, line in enumerate(f, 1):
            parts = line.rstrip("\r\n").split("::")
            if len(parts) != 3 or not parts[0].isdigit():
                raise DataError(f"{path}: line {number}: expected MovieID::Title::Genres")
            titles[int(parts[0])] = parts[1]
            genres[int(parts[0])] = tuple(g for g in parts[2].split("|") if g)
    return Movies(titles, genres)


def read_ratings(path: Path) -> pd.DataFrame:
    """MovieLens `ratings.dat` (UserID::MovieID::Rating::Timestamp) as integer columns.

    Replaces "::" by a tab and parses with pandas' C engine: ~0.5 s for ML-1M,
    where `sep="::"` forces pandas' slow Python engine.
    """
    data = Path(path).read_bytes().replace(b"::", b"\t")
    df = read_table(io.BytesIO(data), str(path), "\t", 4, numeric=(0, 1, 2, 3))
    return pd.DataFrame(
        {
            name: int_column(df, col, str(path))
            for col, name in enumerate(["user", "item", "rating", "timestamp"])
        }
    )


def time_column(values: pd.Series, col: int, label: str, header: bool) -> np.ndarray:
    """A time or order column: numbers as they are, ISO dates as int64 time stamps.

    Only the order of the values is used. A column is all numbers or all ISO 8601
    dates ("2000-12-31", "2000-12-31T22:00:00", with or without a UTC offset);
    otherwise a DataError names the first line that breaks it.
    """
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy()
    dates = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True)
    expected, bad = "a date", dates.isna()
    if is_number(str(values.iloc[0])):  # it starts with numbers: a later value is not one
        expected, bad = "a number", pd.to_numeric(values, errors="coerce").isna()
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{label}: line {row + 1 + int(header)}: field {col + 1} "
            f"is not {expected}: {values.iloc[row]!r}"
        )
    return dates.dt.tz_convert(None).astype("int64").to_numpy()


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
