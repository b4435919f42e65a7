"""Verified, atomic downloads, safe zip extraction, and the error for an offline machine.

`fetch` uses `keras.utils.get_file` for the transfer and its sha256 check, then
adds the checks `get_file` lacks (md5, git blob id). Every file is written into a
temporary folder beside its destination and renamed into place only once it is
verified, so an interrupted or corrupt download leaves nothing in the cache, not
even the folders it created.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ncf_keras.digests import file_digest
from ncf_keras.errors import DataError, WriteError, written_as


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
    """`keras.utils.get_file` into `tmp`, its failures turned into one-line DataErrors.

    Keras is imported here, not at the top, so that loading data imports no backend.
    """
    import keras

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
    except Exception as e:  # Keras 3.15 get_file re-raises network errors as a bare Exception
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


def extract_zip(archive: Path, members: dict[str, Path], root: Path | None = None) -> None:
    """Extract selected members of a zip archive, safely and all-or-nothing.

    Args:
        archive: the zip file.
        members: archive member name -> destination path. The members to write
            are first extracted to temporary files beside their destinations,
            and renamed into place only when every one of them was read
            without error. They get a new file's permissions (0644 under the
            usual umask 022), whatever modes the archive stores.
        root: where given, the folder every destination must lie in, also
            through symbolic links: a destination outside it is refused.

    A destination already in place is kept, unless this function extracted it
    (it is listed in `.ARCHIVE.extracted.json` beside the archive) and it no
    longer matches its member's size and CRC-32: then it is extracted again,
    with a warning. A file placed by someone else is used as it is, and a
    symbolic link is never replaced.

    Raises DataError when the archive is truncated or not a zip, a member is
    missing, any member of the archive has an unsafe path (absolute, or
    climbing out with ".."), a destination lies outside `root` or is a broken
    symbolic link; WriteError when a file cannot be written.
    """
    manifest = archive.with_name(f".{archive.name}.extracted.json")
    ours = _extracted(manifest)
    if all(dest.is_file() and _key(dest, archive) not in ours for dest in members.values()):
        return  # all placed by someone else: used as they are, the archive not even opened
    written: list[tuple[Path, Path]] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                p = PurePosixPath(name.replace("\\", "/"))
                if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
                    raise DataError(f"{archive}: unsafe member path {name!r}; refusing to extract")
            wanted = _to_extract(archive, zf, members, ours)
            for dest in wanted.values():
                _check_inside(dest, root, archive)
            for name, dest in wanted.items():
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".extract-")
                written.append((Path(tmp), dest))
                os.chmod(fd, NEW_FILE_MODE & ~_umask())
                with open(fd, "wb") as out, zf.open(name) as src:
                    shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, EOFError) as e:
        _remove([tmp for tmp, _ in written])
        raise DataError(f"{archive}: not a valid zip archive (truncated or corrupt: {e})") from None
    except OSError as e:
        _remove([tmp for tmp, _ in written])
        if written and e.filename is None:  # a write into a temporary file: a full disk
            raise WriteError(written[-1][1], e) from None
        raise
    except BaseException:
        _remove([tmp for tmp, _ in written])
        raise
    for tmp, dest in written:
        tmp.replace(dest)
    if written:
        keys = sorted(ours | {_key(dest, archive) for _, dest in written})
        partial = manifest.with_name(f"{manifest.name}.partial")
        with written_as(manifest, partial):
            partial.write_text(json.dumps({"files": keys}, indent=1) + "\n")
        partial.replace(manifest)


NEW_FILE_MODE = 0o666  # what open() gives a new file, before the umask


def _umask() -> int:
    """The process's umask (read by setting it, then setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _key(dest: Path, archive: Path) -> str:
    """How the manifest names `dest`: relative to the archive's folder where inside it."""
    absolute = Path(os.path.abspath(dest))
    folder = Path(os.path.abspath(archive.parent))
    return str(absolute.relative_to(folder)) if absolute.is_relative_to(folder) else str(absolute)


def _extracted(manifest: Path) -> set[str]:
    """The destinations `extract_zip` has written from the archive (`_key`s); none if unreadable."""
    try:
        return set(json.loads(manifest.read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _to_extract(
    archive: Path, zf: zipfile.ZipFile, members: dict[str, Path], ours: set[str]
) -> dict[str, Path]:
    """The members whose destinations are missing, or were extracted here and are damaged."""
    wanted = {}
    for name, dest in members.items():
        if name not in zf.NameToInfo:
            raise DataError(f"{archive}: member {name!r} is missing")
        if dest.is_symlink():
            if dest.is_file():
                continue  # someone's link to their own copy: used as it is
            raise DataError(
                f"{dest}: a broken symbolic link (to {os.readlink(dest)}); refusing to "
                f"extract {name} over it: remove it, or make it point at the file"
            )
        if not dest.is_file():
            wanted[name] = dest
        elif _key(dest, archive) in ours and not _matches(dest, zf.getinfo(name)):
            warnings.warn(
                f"{dest}: does not match {name} in {archive} (changed or truncated since "
                "it was extracted); extracting it again",
                stacklevel=3,
            )
            wanted[name] = dest
    return wanted


def _matches(path: Path, info: zipfile.ZipInfo) -> bool:
    """Whether `path` holds the member `info` describes: the same size and CRC-32."""
    if path.stat().st_size != info.file_size:
        return False
    crc = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            crc = zlib.crc32(block, crc)
    return crc == info.CRC


def _check_inside(dest: Path, root: Path | None, archive: Path) -> None:
    """A DataError unless `dest`'s folder, with symbolic links followed, lies inside `root`."""
    if root is None:
        return
    real_root, real_folder = Path(root).resolve(), dest.parent.resolve()
    if not real_folder.is_relative_to(real_root):
        raise DataError(
            f"{dest.parent}: leads to {real_folder}, outside the data folder {root} (a "
            f"symbolic link); refusing to extract {archive.name} there: remove the link, "
            "or put the extracted files there yourself"
        )


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
