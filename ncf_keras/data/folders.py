"""The data folder: where datasets are looked for and downloaded to, and how it was chosen.

`resolve_data_dir` picks it: the `data_dir` argument, else `$NCF_DATA_DIR`, else
`data/`. `data_dir_origin` says which of the three it was, for error messages.
Imports nothing else of the data layer, so every loader may import it.
"""

from __future__ import annotations

import os
from pathlib import Path


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: `data_dir`, else `$NCF_DATA_DIR`, else `data/`."""
    return Path(data_dir or os.environ.get("NCF_DATA_DIR") or "data")


def data_dir_origin(data_dir: str | os.PathLike | None = None) -> str:
    """How the data folder was chosen, for messages, e.g. "from $NCF_DATA_DIR".

    The CLI passes on the folder it resolved itself, so a `data_dir` that is the
    folder $NCF_DATA_DIR names (or, with $NCF_DATA_DIR unset, `data/`) counts as
    chosen that way.
    """
    env = os.environ.get("NCF_DATA_DIR")
    default = "the default data/, as neither --data-dir nor $NCF_DATA_DIR is set"
    if data_dir:
        folder = Path(data_dir).resolve()
        if env and folder == Path(env).resolve():
            return "from $NCF_DATA_DIR"
        if not env and folder == Path("data").resolve():
            return default
        return "from --data-dir"
    return "from $NCF_DATA_DIR" if env else default
