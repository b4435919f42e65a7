"""Folders that appear complete or not at all: a lock, a hidden partial folder, one rename.

The rule for a run folder `DIR` (`train --out DIR`):

* It is written as `.DIR.partial`, beside it, and renamed to `DIR` only once
  complete. So `DIR` is always absent, or a complete run: never a mix of an old
  run's files and a new one's.
* An existing `DIR` is kept unless `overwrite=True`; it is then replaced by the
  rename at the end, and stays untouched if the new run fails.
* `.DIR.lock` names the process writing `DIR`; a second writer is refused while
  that process lives.
* A failed or interrupted write leaves `.DIR.partial` only if it holds
  something to resume from (`resumable`); `resume=True` continues from it.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ncf_keras.errors import DataError


def partial_path(folder: Path) -> Path:
    """Where `folder` is written until it is complete: `.NAME.partial` beside it."""
    return folder.with_name(f".{folder.name}.partial")


@contextmanager
def writing(
    folder: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    is_complete: Callable[[Path], bool],
    resumable: Callable[[Path], bool] = lambda partial: False,
) -> Iterator[Path]:
    """Write `folder` atomically: yields the partial folder to fill, renamed into place on success.

    Args:
        folder: the folder to write.
        overwrite: replace an existing complete `folder` (default: refuse it).
        resume: keep the partial folder a failed write left, to continue it;
            without `resume`, it is started afresh.
        is_complete: whether a path holds a complete folder of this kind; an
            existing non-empty folder that is not complete is never replaced.
        resumable: whether a partial folder is worth keeping after a failure.

    Raises:
        DataError: `folder` exists and `overwrite` is False, or it is not a
            folder of this kind, or another live process is writing it.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: is a file, not a folder")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot create it ({e.filename}: {e.strerror})") from None
    partial = partial_path(folder)
    with _locked(folder):
        if folder.is_dir() and any(folder.iterdir()):
            if not is_complete(folder):
                raise DataError(
                    f"{folder}: exists and is not a run folder; choose another --out "
                    "(--overwrite replaces run folders only)"
                )
            if not overwrite:
                nothing_to_resume = "; nothing to resume" if resume else ""
                raise DataError(
                    f"{folder}: already holds a complete run{nothing_to_resume}; "
                    "pass --overwrite to replace it"
                )
        if partial.exists() and not resume:
            shutil.rmtree(partial)
        partial.mkdir(exist_ok=True)
        try:
            yield partial
        except BaseException:
            if not resumable(partial):
                shutil.rmtree(partial, ignore_errors=True)
            raise
        _replace(partial, folder)


def _replace(partial: Path, folder: Path) -> None:
    """Rename `partial` to `folder`, replacing it; the old one is removed only afterwards."""
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    old = folder.with_name(f".{folder.name}.old")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    partial.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold `.NAME.lock` beside `folder` while writing; refuse it if a live process holds it."""
    lock = folder.with_name(f".{folder.name}.lock")
    owner = f"{socket.gethostname()} {os.getpid()}"
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = lock.read_text().split()
                fresh = time.time() - lock.stat().st_mtime < 10
            except FileNotFoundError:
                continue  # released meanwhile
            if _alive(holder) or (not holder and fresh):  # an empty lock is being written
                raise DataError(
                    f"{folder}: another train is writing it ({lock}: host {holder[0]}, "
                    f"process {holder[1]}); wait for it, or delete the lock if that "
                    "process is gone"
                ) from None
            lock.unlink(missing_ok=True)  # left by a process that died
            continue
        except OSError as e:
            raise DataError(f"{folder}: cannot write there ({e.strerror})") from None
        with os.fdopen(descriptor, "w") as file:
            file.write(owner)
        break
    else:
        raise DataError(f"{folder}: cannot take the lock {lock}")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(holder: list[str]) -> bool:
    """Whether the lock's holder ["host", "pid"] may still be running (True if unknown)."""
    if len(holder) != 2 or not holder[1].isdigit():
        return False  # not a lock this module wrote in full
    if holder[0] != socket.gethostname():
        return True  # another machine's process: cannot tell, so assume it lives
    try:
        os.kill(int(holder[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
