"""The public API: `import ncf_keras as ncf` offers what a notebook or script needs, lazily."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import ncf_keras

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_importing_the_package_imports_no_backend_until_a_name_is_used():
    """`import ncf_keras` and `dir()` load no Keras; the first use of `train` loads it."""
    code = (
        "import sys\n"
        "import ncf_keras as ncf\n"
        "names = dir(ncf)\n"
        "print('keras' in sys.modules, 'train' in names)\n"
        "ncf.train\n"
        "print('keras' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["False", "True", "True"]


@pytest.mark.parametrize("name", [n for n in ncf_keras.__all__ if n != "__version__"])
def test_every_public_name_is_the_object_its_module_defines(name):
    value = getattr(ncf_keras, name)
    if name in ncf_keras._MODULES:
        assert value is importlib.import_module(f"ncf_keras.{name}")
    else:
        module = importlib.import_module(ncf_keras._EXPORTS[name])
        assert value is getattr(module, name)
        assert getattr(value, "__module__", module.__name__) == module.__name__


def test_no_module_of_the_package_hides_a_public_name():
    """Importing a submodule sets it as its package's attribute, which PEP 562's `__getattr__`
    never overrides: a module named like a public function (`ncf_keras/recommend.py`) would
    replace the function once anything imported it."""
    modules = [
        info.name
        for info in pkgutil.walk_packages(ncf_keras.__path__, "ncf_keras.")
        if not info.name.endswith("__main__")
    ]
    for name in modules:
        importlib.import_module(name)
    hidden = [
        name for name in ncf_keras._EXPORTS if isinstance(getattr(ncf_keras, name), ModuleType)
    ]
    assert hidden == []


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="'ncf_keras' has no attribute 'trian'"):
        ncf_keras.trian  # noqa: B018


def test_all_lists_each_name_once_and_dir_shows_them():
    assert len(ncf_keras.__all__) == len(set(ncf_keras.__all__))
    assert set(ncf_keras.__all__) <= set(dir(ncf_keras))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebooks_import_the_package_in_at_most_three_lines(notebook):
    """A notebook reads `import ncf_keras as ncf`: the package, not its module paths."""
    cells = json.loads(notebook.read_text())["cells"]
    lines = [
        line
        for cell in cells
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if line.startswith(("import ncf_keras", "from ncf_keras"))
    ]
    assert 1 <= len(lines) <= 3, lines
    assert all(line.startswith(("import ncf_keras", "from ncf_keras import")) for line in lines)
