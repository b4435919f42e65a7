"""The exceptions the package raises for bad data or bad arguments, and `written_as`.

Every error raised on purpose is an `NcfError`: `DataError` (bad input),
`ArgumentError` and `WriteError` (both DataErrors), and `download.DownloadError`
(a DataError too). `Terminated` is not one: it is a KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


class NcfError(Exception):
    """The base of every error this package raises on purpose; catch it to catch them all.

    Its message is one line that says what is wrong and how to fix it, fit to be
    shown as it is.
    """


class DataError(NcfError, ValueError):
    """Bad input: a missing, corrupt or malformed file, or an impossible setting.

    The message is one line that names the file, line or value at fault, so the
    CLI can print it as it is. A ValueError too, as bad values have always been.
    """


class ArgumentError(DataError):
    """A bad value for one argument of a package function.

    Args:
        argument: the parameter's name as the Python API spells it, e.g. "batch_size".
        problem: what is wrong with its value, e.g. "must be >= 1, got 0".

    The message is "batch_size must be >= 1, got 0"; the CLI prints the flag
    (`--batch-size`) in place of the parameter's name.
    """

    def __init__(self, argument: str, problem: str):
        self.argument, self.problem = argument, problem
        super().__init__(f"{argument} {problem}")


class WriteError(DataError, OSError):
    """A file that could not be written: a full disk, a file size limit, no permission.

    Args:
        path: the file that could not be written.
        error: the OSError that said why; its `errno` is kept.

    The message is "PATH: cannot write it (No space left on device)". Both a
    DataError (one line for the CLI) and an OSError.
    """

    def __init__(self, path: str | Path, error: OSError):
        super().__init__(f"{path}: cannot write it ({error.strerror or error})")
        self.path, self.errno = path, error.errno


@contextlib.contextmanager
def written_as(path: str | Path, partial: str | Path) -> Iterator[None]:
    """The block writes `partial`, a temporary file to be renamed `path`; on any failure
    `partial` is removed, and an OSError (a full disk, a file size limit) is raised as a
    `WriteError` naming `path`."""
    try:
        yield
    except BaseException as error:
        Path(partial).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise WriteError(path, error) from None
        raise


class Terminated(KeyboardInterrupt):
    """SIGTERM (`timeout`, schedulers, containers), raised where Ctrl-C raises KeyboardInterrupt.

    A KeyboardInterrupt, so that every clean-up that runs for Ctrl-C runs for it too,
    and not an `NcfError`: `except NcfError` must not swallow a request to stop.
    """
