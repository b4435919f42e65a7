"""Proof that a folder is ncf-keras's to replace: a marker that names the tool and lists its files.

`train` removes or replaces only what it can prove it wrote. Every folder it
writes holds `ncf-keras-run.json`:

* in a partial folder (`.DIR.partial`, being written): `{"tool": "ncf-keras",
  "state": "partial"}`. The tool made the folder itself, so all it holds is
  the tool's.
* in a finished run: `{"tool": "ncf-keras", "version": ..., "state":
  "complete", "files": {name: {"bytes": size, "sha256": hex digest}}}`,
  listing every other file in the folder.

A finished run is the tool's only while it holds that marker and nothing but
the files the marker lists, each unchanged (`not_ours` says what breaks
that). `remove` deletes such a folder file by file, the marker last, so that
a removal cut short leaves a folder that is still provably the tool's.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from ncf_keras import __version__
from ncf_keras.digests import file_digest
from ncf_keras.errors import DataError

MARKER = "ncf-keras-run.json"
TOOL = "ncf-keras"
PARTIAL, COMPLETE = "partial", "complete"
_SHOWN = 3  # foreign files named in a message


def write_marker(folder: Path, state: str, names: Sequence[str] | None = None) -> None:
    """Write `folder`'s marker atomically; a complete one lists the tool's files in it.

    Args:
        folder: a folder the tool made, or filled with a run's files.
        state: PARTIAL (still being written) or COMPLETE (finished: its files
            are listed with their sizes and SHA-256).
        names: the files to list, where present (default: every file beside
            the marker, for a folder the tool made itself).
    """
    marker: dict = {"tool": TOOL, "version": __version__, "state": state}
    if state == COMPLETE:
        paths = [folder / name for name in names] if names is not None else folder.iterdir()
        marker["files"] = {
            path.name: {"bytes": path.stat().st_size, "sha256": file_digest(path, "sha256")}
            for path in sorted(paths)
            if path.name != MARKER and (names is None or path.is_file())
        }
    tmp = folder / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=2) + "\n")
    os.replace(tmp, folder / MARKER)


def marker_state(folder: Path) -> str | None:
    """PARTIAL or COMPLETE for a real folder holding a marker the tool wrote, else None."""
    marker = _read_marker(folder)
    return None if marker is None else marker["state"]


def _read_marker(folder: Path) -> dict | None:
    """`folder`'s marker, or None where it is absent, a link, or not one the tool writes."""
    if folder.is_symlink() or not folder.is_dir() or (folder / MARKER).is_symlink():
        return None
    try:
        marker = json.loads((folder / MARKER).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("tool") != TOOL:
        return None
    if marker.get("state") == PARTIAL:
        return marker
    files = marker.get("files")
    if marker.get("state") != COMPLETE or not isinstance(files, dict):
        return None
    entries_whole = all(
        isinstance(entry, dict) and {"bytes", "sha256"} <= set(entry) and _plain_name(name)
        for name, entry in files.items()
    )
    return marker if entries_whole else None


def _plain_name(name: str) -> bool:
    """Whether `name` names a file inside the folder: no separator, not "." or ".."."""
    return name not in ("", ".", "..", MARKER) and "/" not in name and os.sep not in name


def not_ours(folder: Path) -> str | None:
    """Why `folder` is not a finished run the tool may replace, or None where it is one.

    The reason reads after the folder's name, e.g. "holds files ncf-keras did not
    write (notes.txt)" or "is a symbolic link".
    """
    if folder.is_symlink():
        return "is a symbolic link, which ncf-keras never replaces"
    if not folder.is_dir():
        return "is a file, not a run folder"
    marker = _read_marker(folder)
    if marker is None:
        return (
            f"holds no {MARKER} marker, so it is no run ncf-keras wrote (or one older than markers)"
        )
    if marker["state"] != COMPLETE:
        return "holds an unfinished run"
    listed = marker["files"]
    foreign = sorted(
        entry.name
        for entry in os.scandir(folder)
        if entry.name != MARKER
        and (entry.name not in listed or entry.is_symlink() or not entry.is_file())
    )
    if foreign:
        shown = ", ".join(foreign[:_SHOWN]) + (
            f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else ""
        )
        return f"holds files ncf-keras did not write ({shown})"
    for name, entry in listed.items():
        path = folder / name
        if path.is_file() and (
            path.stat().st_size != entry["bytes"] or file_digest(path, "sha256") != entry["sha256"]
        ):
            return f"{name} changed since ncf-keras wrote it"
    return None


def remove(folder: Path) -> None:
    """Delete a folder the tool wrote (`marker_state` is not None), its marker last.

    A finished run loses only the files its marker lists; a partial folder all
    it holds. The folder itself goes last, and only if nothing else appeared in it.
    """
    marker = _read_marker(folder)
    if marker is None:
        raise DataError(f"{folder}: not a folder ncf-keras wrote; it is left as it is")
    if marker["state"] == COMPLETE:
        names = list(marker["files"])
    else:
        names = [entry.name for entry in os.scandir(folder) if entry.name != MARKER]
    for name in names:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    (folder / MARKER).unlink()
    folder.rmdir()
