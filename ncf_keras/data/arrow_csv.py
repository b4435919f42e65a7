"""The fast path of `parsing.read_table`: pyarrow's CSV reader, ids kept as Arrow text.

pandas' C parser makes a Python str object of every id it keeps as text, many
times slower than parsing it as a number; pyarrow's reader keeps the text in
Arrow buffers, on every core. It takes a file only where it reads exactly what
pandas would: one separator character, fields quoted as RFC 4180 has it, every
line complete. Anything else (a blank or short line, an empty field, a quoted
line break or a quote never closed, text in a number column, bytes that are
not UTF-8) returns None,
and `read_table` reads the file with pandas, which names the line at fault.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ncf_keras.data.compression import CORRUPT, open_bytes

NUMBERS = (pa.types.is_integer, pa.types.is_floating)


def read_with_arrow(
    path: str | Path,
    sep: str,
    decimal: str,
    fields: int,
    header: bool,
    numeric: tuple[int, ...],
    text: tuple[int, ...],
    keep: tuple[int, ...] | None,
) -> pd.DataFrame | None:
    """`read_table`'s DataFrame for a file pyarrow reads as pandas would, else None.

    Args: as `parsing.read_table`'s, `sep` a single character and `decimal` the
    decimal mark. Columns in `text` are pandas Series of Arrow strings; other
    columns are numbers, or Python str objects where they hold text.
    """
    names = [str(k) for k in range(fields)]
    kept = list(range(fields)) if keep is None else list(keep)
    try:
        with open_bytes(path) as stream:
            table = pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(skip_rows=int(header), column_names=names),
                parse_options=pacsv.ParseOptions(
                    delimiter=sep, quote_char='"', double_quote=True, ignore_empty_lines=False
                ),
                convert_options=pacsv.ConvertOptions(
                    include_columns=[names[k] for k in kept],
                    column_types={names[k]: pa.string() for k in kept if k not in numeric},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                    decimal_point=decimal,
                ),
            )
    except (pa.ArrowException, UnicodeDecodeError, *CORRUPT):
        return None
    if not table.num_rows or any(column.null_count for column in table.columns):
        return None
    columns = {}
    for k in kept:
        column = table.column(names[k])
        if k in numeric and not any(test(column.type) for test in NUMBERS):
            return None
        if (
            pa.types.is_string(column.type)
            and pc.any(pc.match_substring_regex(column, "[\r\n]")).as_py()
        ):
            return None  # a quoted line break, or a quote never closed: pyarrow reads on
        if k in text:
            columns[k] = pd.Series(column, dtype=pd.ArrowDtype(pa.string()))
        elif pa.types.is_string(column.type):
            columns[k] = pd.Series(_numbers(column))
        else:
            columns[k] = pd.Series(column.to_numpy())
    return pd.DataFrame(columns)


def _numbers(column: pa.ChunkedArray):
    """A text column as int64 or float64 numbers where every value is one, else str objects."""
    for kind in (pa.int64(), pa.float64()):
        try:
            return column.cast(kind).to_numpy()
        except pa.ArrowInvalid:
            pass
    return column.to_numpy(zero_copy_only=False).astype(object)
