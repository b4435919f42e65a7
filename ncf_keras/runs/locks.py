"""A lock file that says who holds it and frees itself when its holder dies.

`train` holds `.DIR.lock` beside its run folder while it writes. The lock is
the operating system's (`fcntl.flock` on the open file), so a process that
dies, however it dies, releases it: a lock file left behind, whatever it
holds (a name, garbage, binary bytes, nothing), is simply taken over. The
file's text, "HOST PID", only tells a refused writer who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from ncf_keras.errors import DataError

_TRIES = 5  # a holder that releases while we open its file: try again


@contextlib.contextmanager
def held(lock: Path, what: Path) -> Iterator[None]:
    """Hold the lock file `lock` for the block; refuse with one line while another holds it.

    Args:
        lock: the lock file, created if missing (never through a symbolic link).
        what: the folder the lock guards, named in errors.

    Raises:
        DataError: another live process holds the lock, or the lock file
            cannot be opened (a folder or a link in its place, no permission).
    """
    for _ in range(_TRIES):
        descriptor = _open(lock, what)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(descriptor)
            os.close(descriptor)
            raise DataError(
                f"{what}: another train is writing it ({lock}: {holder}); wait for it to end"
            ) from None
        except OSError as e:
            os.close(descriptor)
            raise DataError(f"{what}: cannot lock {lock} ({e.strerror})") from None
        if _still_named(descriptor, lock):
            break
        os.close(descriptor)  # its holder removed it as we opened it: take the new one
    else:
        raise DataError(f"{what}: cannot take the lock {lock}: other writers keep taking it")
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{socket.gethostname()} {os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            if _still_named(descriptor, lock):
                lock.unlink()
        os.close(descriptor)


def _open(lock: Path, what: Path) -> int:
    """An open descriptor of `lock`, created if missing; one-line DataError if it cannot be."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(lock, flags, 0o644)
    except OSError as e:
        if lock.is_symlink():
            reason = "a symbolic link stands there; remove it"
        elif lock.is_dir():
            reason = "a folder stands there; move it away"
        else:
            reason = e.strerror or type(e).__name__
        raise DataError(f"{what}: cannot write there ({lock}: {reason})") from None


def _still_named(descriptor: int, lock: Path) -> bool:
    """Whether `lock` still names the file open as `descriptor`."""
    try:
        named = os.stat(lock, follow_symlinks=False)
    except OSError:
        return False
    held_file = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (held_file.st_dev, held_file.st_ino)


def _holder(descriptor: int) -> str:
    """Who holds a lock, from its text: "host H, process P", or what is known of it."""
    try:
        text = os.pread(descriptor, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        text = []
    if len(text) == 2 and text[1].isdigit():
        return f"host {text[0]}, process {text[1]}"
    return "a process that has not yet written its name"
