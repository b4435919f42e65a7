"""Verified, atomic downloads, safe zip extraction, and the error for an offline machine.

`fetch` uses `keras.utils.get_file` for the transfer and its sha256 check, then
adds the checks `get_file` lacks (md5, git blob id). Every file is written into a
temporary folder beside its destination and renamed into place only once it is
verified, so an interrupted or corrupt download leaves nothing in the cache, not
even the folders it created.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.error
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import keras

from ncf_keras.digests import file_digest
from ncf_keras.errors import DataError


class DownloadError(DataError):
    """A download that did not arrive: no network, refused, or an HTTP error.

    Not raised for a download that arrived corrupt (a digest mismatch), nor for
    a cache folder that cannot be written: those are plain DataErrors. Callers
    catch it to explain what to put where by hand on an offline machine.

    Args:
        url: what could not be downloaded.
        reason: why, in a few words, e.g. "[Errno 111] Connection refused" or
            "HTTP 404 Not Found".
        message: the one-line error.
    """

    def __init__(self, url: str, reason: str, message: str):
        self.url, self.reason = url, reason
        super().__init__(message)


@dataclass(frozen=True)
class RemoteFile:
    """A file to download, with the digests it must match (hex strings)."""

    url: str
    filename: str
    sha256: str | None = None
    md5: str | None = None
    git_blob_sha1: str | None = None  # sha1(b"blob <size>\0" + bytes), as in `git hash-object`


def verify(path: Path, remote: RemoteFile) -> None:
    """Raise DataError unless `path` matches every digest `remote` gives."""
    for algorithm in ("sha256", "md5", "git_blob_sha1"):
        expected = getattr(remote, algorithm)
        if expected is None:
            continue
        actual = file_digest(path, algorithm)
        if actual != expected.lower():
            raise DataError(
                f"{remote.url}: {algorithm} mismatch (expected {expected}, got {actual}); "
                "the download is corrupt or truncated and was not kept"
            )


def fetch(remote: RemoteFile, folder: Path) -> Path:
    """Download `remote` into `folder/remote.filename` and return that path.

    A file already there is trusted as it is (a pre-placed copy). Otherwise the
    download goes to a temporary folder, is verified, and only then renamed
    into place. Raises DataError when the download fails or does not verify;
    the folders it created for it are then removed again; a DownloadError
    (a DataError) when the file could not be downloaded at all.
    """
    folder = Path(folder)
    target = folder / remote.filename
    if target.exists():
        return target
    new_folders = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=folder, prefix=".download-")
    except OSError as e:
        _remove_empty(new_folders)
        raise DataError(f"cannot write to {folder}: {e.strerror}") from None
    try:
        partial = _download(remote, Path(tmp), folder)
        verify(partial, remote)
        try:
            partial.replace(target)
        except OSError as e:
            raise DataError(f"cannot write {target}: {e.strerror}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.exists():
            _remove_empty(new_folders)
    return target


def _download(remote: RemoteFile, tmp: Path, folder: Path) -> Path:
    """`keras.utils.get_file` into `tmp`, its failures turned into one-line DataErrors."""
    try:
        return Path(
            keras.utils.get_file(
                fname=remote.filename,
                origin=remote.url,
                file_hash=remote.sha256,
                hash_algorithm="sha256",
                cache_dir=tmp,
                cache_subdir=".",
            )
        )
    except ValueError:  # get_file's sha256 mismatch
        raise DataError(
            f"{remote.url}: sha256 mismatch; the download is corrupt or truncated and was not kept"
        ) from None
    except Exception as e:  # get_file re-raises network errors as a bare Exception
        cause = e.__context__  # the URLError behind get_file's message, if any
        if isinstance(cause, urllib.error.HTTPError):
            reason = f"HTTP {cause.code} {cause.reason}"
        else:
            reason = getattr(cause, "reason", e)
        raise DownloadError(
            remote.url,
            str(reason),
            f"could not download {remote.url} ({reason}); put {remote.filename} "
            f"into {folder} yourself if this machine is offline",
        ) from None


def offline_error(
    name: str, folder: Path, origin: str, missing: str, error: DownloadError, fix: str
) -> DataError:
    """The one-line error for a dataset whose files are neither in place nor downloadable.

    Args:
        name: the dataset, e.g. "ml-1m".
        folder: the data folder searched; the message gives it absolute.
        origin: how that folder was chosen, e.g. "from $NCF_DATA_DIR".
        missing: the files searched for, relative to `folder`, in words.
        error: the failed download.
        fix: what to put where by hand; "{folder}" stands for the absolute folder.
    """
    folder = Path(folder).resolve()
    return DataError(
        f"{name}: {folder} ({origin}) lacks {missing}, and could not download "
        f"{error.url} ({error.reason}); {fix.format(folder=folder)}, or point --data-dir "
        "or $NCF_DATA_DIR at a folder that has them; see data/README.md"
    )


def extract_zip(archive: Path, members: dict[str, Path]) -> None:
    """Extract selected members of a zip archive, safely and all-or-nothing.

    Args:
        archive: the zip file.
        members: archive member name -> destination path. All members are first
            extracted to temporary files beside their destinations, and renamed
            into place only when every one of them was read without error.

    Raises DataError when the archive is truncated or not a zip, a member is
    missing, or any member of the archive has an unsafe path (absolute, or
    climbing out with "..").
    """
    written: list[tuple[Path, Path]] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                p = PurePosixPath(name.replace("\\", "/"))
                if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
                    raise DataError(f"{archive}: unsafe member path {name!r}; refusing to extract")
            for name, dest in members.items():
                if name not in zf.NameToInfo:
                    raise DataError(f"{archive}: member {name!r} is missing")
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".extract-")
                written.append((Path(tmp), dest))
                with open(fd, "wb") as out, zf.open(name) as src:
                    shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, EOFError) as e:
        _remove([tmp for tmp, _ in written])
        raise DataError(f"{archive}: not a valid zip archive (truncated or corrupt: {e})") from None
    except BaseException:
        _remove([tmp for tmp, _ in written])
        raise
    for tmp, dest in written:
        tmp.replace(dest)


def _remove_empty(folders: list[Path]) -> None:
    """Remove each folder that exists, deepest first, stopping at the first one not empty."""
    for folder in folders:
        if not folder.exists():  # mkdir failed before it made this one
            continue
        try:
            folder.rmdir()
        except OSError:
            return


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
