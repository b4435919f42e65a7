"""Run folders that appear whole or not at all, and never replace what the tool did not write.

The rules for a run folder `DIR` (`train --out DIR`):

* It is written as `.DIR.partial`, beside it, and renamed to `DIR` only once
  complete. So `DIR` is always absent, or a complete run: never a mix of an old
  run's files and a new one's.
* The tool removes or replaces only what it can prove it wrote: a folder that
  holds its marker (`ncf_keras.runs.ownership`) and nothing but the files the
  marker lists, unchanged. An existing `DIR` is replaced only with
  `overwrite=True` and only if it is such a run; an empty folder may be
  filled. The working directory, the home folder, `/` and every folder above
  them are never written as a run. Everything else is refused with one line.
* Replacing takes two renames: `DIR` to `.DIR.old`, then `.DIR.partial` to
  `DIR`; then `.DIR.old` is removed. A process killed anywhere in between
  leaves both runs whole, and the next `writing` of `DIR` finishes the job
  first (`recover`) and says what it did.
* `.DIR.lock` (`ncf_keras.runs.locks`) keeps a second writer out while the first
  lives; a lock left by a dead process is taken over.
* A failed or interrupted write leaves `.DIR.partial` only if it holds
  something to resume from (`resumable`); `resume=True` continues from it.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ncf_keras.errors import DataError
from ncf_keras.runs import ownership
from ncf_keras.runs.locks import held


def partial_path(folder: Path) -> Path:
    """Where `folder` is written until it is complete: `.NAME.partial` beside it."""
    return folder.with_name(f".{folder.name}.partial")


def old_path(folder: Path) -> Path:
    """Where the run `folder` held waits while a new one replaces it: `.NAME.old` beside it."""
    return folder.with_name(f".{folder.name}.old")


@contextmanager
def writing(
    folder: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    resumable: Callable[[Path], bool] = lambda partial: False,
) -> Iterator[Path]:
    """Write `folder` atomically: yields the partial folder to fill, renamed into place on success.

    Args:
        folder: the folder to write.
        overwrite: replace an existing run in `folder` that the tool wrote
            (default: refuse it).
        resume: keep the partial folder a failed write left, to continue it;
            without `resume`, it is started afresh.
        resumable: whether a partial folder is worth keeping after a failure.

    Raises:
        DataError: `folder` holds a run and `overwrite` is False; it holds
            anything else; it is a protected folder; another live process is
            writing it; or something the tool did not write is in the way.
    """
    folder = Path(folder)
    _refuse_protected(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot create it ({e.filename}: {e.strerror})") from None
    partial = partial_path(folder)
    with held(folder.with_name(f".{folder.name}.lock"), folder):
        for note in recover(folder):
            warnings.warn(note, stacklevel=3)
        _check_replaceable(folder, overwrite, resume)
        _start_partial(partial, resume)
        try:
            yield partial
        except BaseException:
            if not resumable(partial) and ownership.marker_state(partial) == ownership.PARTIAL:
                ownership.remove(partial)
            raise
        ownership.write_marker(partial, ownership.COMPLETE)
        _place(partial, folder)


def check_writable(folder: str | Path, *, overwrite: bool = False, resume: bool = False) -> None:
    """Refuse early, before hours of work, what `writing(folder, ...)` would refuse.

    Reads only; `writing` checks again, holding the lock. Where an interrupted
    replacement waits to be finished (`recover`), it leaves the verdict to `writing`.
    """
    folder = Path(folder)
    _refuse_protected(folder)
    partial, old = partial_path(folder), old_path(folder)
    pending = ownership.marker_state(partial) == ownership.COMPLETE or (
        folder_exists(old) and ownership.not_ours(old) is None
    )
    if not pending:
        _check_replaceable(folder, overwrite, resume)
        _check_partial(partial)


def recover(folder: Path) -> list[str]:
    """Finish a replacement of `folder` that a killed process left half done.

    A finished run still in `.DIR.partial` is put in place; a replaced run left
    in `.DIR.old` is removed once `DIR` holds a run, or put back where `DIR` is
    missing; an empty `.DIR.partial` or `.DIR.old` is removed. Call it holding
    the lock.

    Returns one line per thing done, for the user.
    """
    partial, old = partial_path(folder), old_path(folder)
    for emptied in (partial, old):  # a removal killed just before its last step
        if _is_empty_folder(emptied):
            emptied.rmdir()
    notes = []
    if ownership.marker_state(partial) == ownership.COMPLETE:
        problem = None if _is_empty_folder(folder) else ownership.not_ours(folder)
        if folder_exists(folder) and problem is not None:
            raise DataError(
                f"{partial} holds a finished run, but {folder} {problem}: move {folder} "
                "away, then train again to put the finished run in its place"
            )
        _place(partial, folder)
        notes.append(f"{folder}: put in place the finished run that an interrupted train left")
    if folder_exists(old) and ownership.not_ours(old) is None:
        if folder_exists(folder):
            ownership.remove(old)
            notes.append(
                f"{folder}: removed the run it replaced, left in {old} by an interrupted train"
            )
        else:
            os.rename(old, folder)
            notes.append(f"{folder}: restored the run an interrupted train had moved to {old}")
    return notes


def folder_exists(path: Path) -> bool:
    """Whether anything stands at `path`, a dangling symbolic link included."""
    return os.path.lexists(path)


def _is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _refuse_protected(folder: Path) -> None:
    """A DataError if `folder` is the working directory, home, `/`, or a folder above one."""
    target = folder.resolve()
    protected = [("the root folder", Path("/"))]
    for name, where in (("the working directory", Path.cwd), ("your home folder", Path.home)):
        with contextlib.suppress(OSError, RuntimeError, KeyError):  # deleted, or no home
            protected.append((name, where()))
    protected = [(name, path.resolve()) for name, path in protected]
    above = [(f"a folder above {name}", path) for name, path in protected if target in path.parents]
    for what, _ in [(name, path) for name, path in protected if path == target] + above:
        raise DataError(
            f"{folder}: is {what}; a run needs a folder of its own, such as "
            f"{Path(folder, 'runs', 'neumf')}"
        )


def _check_replaceable(folder: Path, overwrite: bool, resume: bool) -> None:
    """Refuse to go on when `folder` holds anything but a run the tool wrote, or
    holds one and `overwrite` is False; or when `.DIR.old` is in the way."""
    if not folder_exists(folder) or _is_empty_folder(folder):
        return
    problem = ownership.not_ours(folder)
    if problem is not None:
        raise DataError(
            f"{folder}: {problem}; train replaces only a run folder it wrote itself, "
            "unchanged: choose another --out"
        )
    if not overwrite:
        nothing_to_resume = "; nothing to resume" if resume else ""
        raise DataError(
            f"{folder}: already holds a complete run{nothing_to_resume}; "
            "pass --overwrite to replace it"
        )
    old = old_path(folder)
    if folder_exists(old):  # not the tool's: `recover` removed it otherwise
        raise DataError(
            f"{old}: is in the way of replacing {folder}, and ncf-keras did not write it; "
            "move it away"
        )


def _check_partial(partial: Path) -> None:
    """Refuse a `.DIR.partial` that the tool did not write."""
    if folder_exists(partial) and ownership.marker_state(partial) != ownership.PARTIAL:
        raise DataError(
            f"{partial}: is in the way of the run's partial folder, and ncf-keras did "
            "not write it; move it away"
        )


def _start_partial(partial: Path, resume: bool) -> None:
    """Make the partial folder, or keep the one to resume; never take over a foreign one."""
    _check_partial(partial)
    if folder_exists(partial):
        if resume:
            return
        ownership.remove(partial)
    partial.mkdir()
    ownership.write_marker(partial, ownership.PARTIAL)


def _place(partial: Path, folder: Path) -> None:
    """Rename the finished `partial` to `folder`; a run `folder` held is removed only afterwards.

    Three steps, each safe to be killed after (`recover` finishes the rest):
    `folder` to `.DIR.old`, `partial` to `folder`, `.DIR.old` removed.
    """
    old = old_path(folder)
    try:
        if _is_empty_folder(folder):
            folder.rmdir()
        if folder_exists(folder):
            if folder_exists(old) and ownership.not_ours(old) is None:
                ownership.remove(old)  # a run replaced earlier still
            os.rename(folder, old)
        os.rename(partial, folder)
    except OSError as e:
        in_the_way = f" ({old} is in the way)" if folder_exists(old) else ""
        raise DataError(
            f"{folder}: cannot put the finished run in place{in_the_way}: "
            f"{e.strerror or type(e).__name__}; it waits in {partial}, and the next "
            f"train into {folder} puts it there"
        ) from None
    if folder_exists(old):
        ownership.remove(old)
