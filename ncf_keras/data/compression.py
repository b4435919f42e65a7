"""Opening a user's file as bytes, however it is packed: plain, gzip, bzip2, xz or zip.

The packing is told from the file's first bytes, not from its name: a
`ratings.csv.gz` that a browser already unpacked is read as the text it is.
A zip must hold exactly one file (folders and the `__MACOSX/` entries macOS
adds are skipped). Formats the standard library cannot read (zstd, 7-Zip, RAR,
tar) are refused by name with the command that unpacks them. Errors are
one-line `DataError`s naming the file.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ncf_keras.errors import DataError

MAGIC = {  # the first bytes of each packing this module reads
    "gzip": (b"\x1f\x8b",),
    # "BZh", the block size 1-9, then a block (or, for no data, the end-of-stream) marker
    "bzip2": tuple(
        b"BZh%d%s" % (size, mark) for size in range(1, 10) for mark in (b"1AY&SY", b"\x17rE8P\x90")
    ),
    "xz": (b"\xfd7zXZ\x00",),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
}
UNSUPPORTED = {  # packing: (first bytes, name suffixes, how to unpack it)
    "zstd": ((b"\x28\xb5\x2f\xfd",), (".zst", ".zstd"), "zstd -d FILE"),
    "7-Zip": ((b"7z\xbc\xaf\x27\x1c",), (".7z",), "7z x FILE"),
    "RAR": ((b"Rar!\x1a\x07",), (".rar",), "unrar x FILE"),
    "tar": ((), (".tar", ".tgz", ".tbz2", ".txz"), "tar xf FILE"),
    "lz4": ((b"\x04\x22\x4d\x18",), (".lz4",), "lz4 -d FILE"),
    "Brotli": ((), (".br",), "brotli -d FILE"),
}
# What a damaged archive raises while it is read (bzip2's is a plain OSError).
CORRUPT = (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


def packing(path: str | Path) -> str | None:
    """ "gzip", "bzip2", "xz" or "zip" from the file's first bytes; None for plain text.

    Raises DataError for a packing this module does not read (zstd, 7-Zip,
    RAR, tar, lz4, Brotli), told by its first bytes or by its name, and for a
    file that cannot be opened.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(10)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    suffixes = [s.lower() for s in path.suffixes]
    for name, (magics, endings, command) in UNSUPPORTED.items():
        if (
            head.startswith(magics)
            or (suffixes and suffixes[-1] in endings)
            or (name == "tar" and suffixes[-2:-1] == [".tar"])
        ):
            raise DataError(
                f"{path}: a {name} file, which cannot be read directly; unpack it "
                f"({command.replace('FILE', path.name)}) and pass the file it holds, "
                "or pack that as .gz, .bz2, .xz or a one-file .zip"
            )
    return next((name for name, magics in MAGIC.items() if head.startswith(magics)), None)


@contextlib.contextmanager
def open_bytes(path: str | Path) -> Iterator[BinaryIO]:
    """The file's content as a binary stream, unpacked (see `packing`).

    Raises DataError for an unreadable file, a zip that does not hold exactly
    one file, or an encrypted zip member.
    """
    path = Path(path)
    kind = packing(path)
    with contextlib.ExitStack() as stack:
        try:
            if kind == "zip":
                archive = stack.enter_context(zipfile.ZipFile(path))
                stream = stack.enter_context(archive.open(only_member(path, archive)))
            else:
                opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}.get(kind, open)
                stream = stack.enter_context(opener(path, "rb"))
        except zipfile.BadZipFile as e:
            raise DataError(f"{path}: a truncated or corrupt zip file ({e})") from None
        except (RuntimeError, NotImplementedError) as e:  # encrypted, or an exotic method
            raise DataError(f"{path}: cannot unpack its member ({e})") from None
        except OSError as e:
            raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
        yield stream


def only_member(path: Path, archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The one file in a zip, skipping folders and macOS's `__MACOSX/` and `._` entries."""
    members = [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not Path(info.filename).name.startswith("._")
    ]
    if len(members) != 1:
        names = ", ".join(repr(m.filename) for m in members[:5])
        more = f" and {len(members) - 5} more" if len(members) > 5 else ""
        held = f"holds {len(members)} files ({names}{more})" if members else "holds no file"
        raise DataError(f"{path}: the zip {held}; pass a zip of exactly one file, or unzip it")
    return members[0]


def corrupt(label: str, kind: str | None, error: BaseException) -> DataError:
    """The one-line error for a packed file that breaks off or is damaged."""
    what = f"{kind} file" if kind else "file"
    return DataError(f"{label}: a truncated or corrupt {what} ({error})")
