"""`pip install .` gives a working package and the `ncf-keras` command, from any folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import ncf_keras

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project's wheel, built as `pip install .` builds it and installed into a folder.

    Built from a copy of the project's sources, so that no `build/` or `*.egg-info` left in
    the checkout (an editable install writes one) can add files the wheel would lack.
    """
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "ncf_keras", source / "ncf_keras", ignore=shutil.ignore_patterns("__pycache__")
    )
    build = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", work]
    subprocess.run(build, check=True, capture_output=True, timeout=600)
    (wheel,) = work.glob("ncf_keras-*.whl")
    target = work / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "-t", target, wheel]
    subprocess.run(install, check=True, capture_output=True, timeout=600)
    return target


def test_the_wheel_holds_every_module_of_the_package(installed):
    (wheel,) = installed.parent.glob("ncf_keras-*.whl")
    in_wheel = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    in_tree = {str(path.relative_to(ROOT)) for path in (ROOT / "ncf_keras").rglob("*.py")}
    assert in_tree <= in_wheel


def test_the_ncf_keras_command_runs_the_installed_package_from_another_folder(installed, tmp_path):
    """Outside the checkout, `ncf-keras` answers with the installed copy, not the source tree."""
    env = {**os.environ, "PYTHONPATH": str(installed)}
    command = installed / "bin" / "ncf-keras"
    done = subprocess.run(
        [command, "--version"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"ncf-keras {ncf_keras.__version__}\n",
        "",
    )
    where = subprocess.run(
        [sys.executable, "-c", "import ncf_keras.cli.main as m; print(m.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert where.stdout.startswith(str(installed))
    usage = subprocess.run(
        [command, "train"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == 2 and usage.stderr.startswith("usage: ncf-keras train")
