"""Quick, side-effect-free settings for validating the notebooks with nbval.

CI runs `python -m pytest -n 2 --nbval-lax tests notebooks` from the project root.
When pytest collects this folder, this file sets, only where they are not set
already (`os.environ.setdefault`):

* `NCF_DATASET=synthetic`: a small seeded dataset generated in memory, so no
  download and no MovieLens files are needed;
* `NCF_EPOCHS=2`: enough to exercise every cell;
* `NCF_FIGURES_DIR` and `NCF_RUNS_DIR`: a fresh temporary folder
  (`tempfile.mkdtemp`), so a test run never overwrites the committed figures in
  `figures/` or a developer's run folders in `runs/`. The notebooks share
  it, so 03 finds the runs that 01 and 02 just saved, and 04 those of 01 to 03.

The notebooks read these variables in their first code cell; nbval's kernels
inherit this process's environment. The temporary folder is removed when the
session ends.

To validate the notebooks on the real data instead, set the variables yourself,
e.g. `NCF_DATASET=ml-1m-ncf NCF_EPOCHS=20 python -m pytest --nbval-lax notebooks`.
Cells marked `# NBVAL_CHECK_OUTPUT` must reproduce their committed output on
any dataset; the others only have to run without error.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_SCRATCH = tempfile.mkdtemp(prefix="ncf-notebooks-")

os.environ.setdefault("NCF_DATASET", "synthetic")
os.environ.setdefault("NCF_EPOCHS", "2")
os.environ.setdefault("NCF_FIGURES_DIR", os.path.join(_SCRATCH, "figures"))
os.environ.setdefault("NCF_RUNS_DIR", os.path.join(_SCRATCH, "runs"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under pytest-xdist (`-n 2`, `--dist loadfile` from pyproject.toml), a file runs in one
    worker, and the notebooks all in one, in order: 03 reuses the runs 01 and 02 saved."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class NotebooksInOrder(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "notebooks" if scope.endswith(".ipynb") else scope

    return NotebooksInOrder(config, log)


def pytest_sessionfinish(session, exitstatus) -> None:
    """Remove the temporary folder (only ours, never a folder the user chose)."""
    shutil.rmtree(_SCRATCH, ignore_errors=True)
