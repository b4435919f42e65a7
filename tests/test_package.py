"""The package as a whole: a side-effect-free import, one model registry, a checked backend."""

from __future__ import annotations

import ast
import platform
import subprocess
import sys
from pathlib import Path

import keras
import pytest

import ncf_keras
from ncf_keras import checks, defaults, diagrams, keras_startup, models
from ncf_keras.data.download import DownloadError
from ncf_keras.errors import ArgumentError, DataError, NcfError, Terminated, WriteError
from ncf_keras.training import fit


def run_python(code: str, **env: str) -> str:
    """Run `code` in a fresh interpreter; its stdout."""
    import os

    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, **env},
    )
    return done.stdout.strip()


def test_import_loads_no_backend_and_keeps_stderr():
    """`import ncf_keras` (and the CLI module) import no Keras, TensorFlow or JAX, and leave
    file descriptor 2 where it was."""
    out = run_python(
        "import os, sys\n"
        "before = os.fstat(2)\n"
        "import ncf_keras, ncf_keras.cli.main, ncf_keras.defaults\n"
        "after = os.fstat(2)\n"
        "heavy = sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch', 'pandas') "
        "if m in sys.modules)\n"
        "print(heavy, (before.st_ino, before.st_dev) == (after.st_ino, after.st_dev))"
    )
    assert out == "[] True"


def test_help_imports_no_backend():
    """`python -m ncf_keras --help` answers without importing Keras."""
    out = run_python(
        "import runpy, sys\n"
        "sys.argv = ['ncf_keras', '--help']\n"
        "try:\n    runpy.run_module('ncf_keras', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    assert out.endswith("False False")
    assert "train" in out and "recommend" in out


MALLOC_OF_A_64_MIB_BLOCK = (
    "import ctypes, numpy as np\n"
    "from ncf_keras.keras_startup import import_keras_quietly\n"
    "import_keras_quietly()\n"
    "{before}"
    "class Info(ctypes.Structure):  # glibc's struct mallinfo (mallinfo2 needs glibc 2.33)\n"
    "    _fields_ = [(n, ctypes.c_int) for n in ('arena ordblks smblks hblks hblkhd '\n"
    "                'usmblks fsmblks uordblks fordblks keepcost').split()]\n"
    "info = ctypes.CDLL('libc.so.6').mallinfo\n"
    "info.restype = Info\n"
    "block = np.ones(2**24, 'float32')\n"
    "mapped = info().hblkhd  # bytes in blocks mapped apart from the heap\n"
    "del block\n"
    "print(mapped >> 20, info().fordblks >> 20)  # MiB mapped; MiB freed and kept"
)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")
def test_a_program_keeps_freed_memory_for_reuse():
    """After `import_keras_quietly`, glibc serves a 64 MiB block from its heap and keeps
    it when freed; where the user sets a MALLOC_ variable, it maps and unmaps it."""

    def malloc(**env: str) -> list[int]:
        out = run_python(MALLOC_OF_A_64_MIB_BLOCK.format(before=""), KERAS_BACKEND="numpy", **env)
        return [int(n) for n in out.split()]

    mapped, kept = malloc()
    assert mapped < 64 <= kept
    mapped, kept = malloc(MALLOC_ARENA_MAX="8")
    assert mapped >= 64 > kept


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")
def test_training_on_tensorflow_keeps_freed_memory_for_reuse():
    """TensorFlow's `from_generator` op sets glibc's mmap threshold to 128 KiB when it is
    built; `train` applies the settings again, so a 64 MiB block is still kept after it."""
    training = (
        "import ncf_keras as ncf\n"
        "data = ncf.load_dataset('synthetic:users=300,items=200,interactions=6000')\n"
        "model = ncf.compile_model(ncf.build_model('gmf', data.num_users, data.num_items))\n"
        "ncf.train(model, data, epochs=2, verbose=0)\n"
    )

    def malloc(**env: str) -> list[int]:
        code = MALLOC_OF_A_64_MIB_BLOCK.format(before=training)
        return [int(n) for n in run_python(code, KERAS_BACKEND="tensorflow", **env).split()]

    mapped, kept = malloc()
    assert mapped < 64 <= kept
    mapped, _ = malloc(MALLOC_ARENA_MAX="8")  # the user's own tuning: glibc's defaults stay
    assert mapped >= 64


def test_restoring_changes_nothing_where_the_settings_were_never_applied(monkeypatch):
    """`restore_freed_memory_reuse` applies the settings only where this process applied
    them (not where a MALLOC_ variable, or no `import_keras_quietly`, left glibc's own)."""
    applied = []
    monkeypatch.setattr(keras_startup, "reuse_freed_memory", lambda: applied.append(1))
    monkeypatch.setattr(keras_startup, "_reusing_freed_memory", False)
    keras_startup.restore_freed_memory_reuse()
    assert applied == []
    monkeypatch.setattr(keras_startup, "_reusing_freed_memory", True)
    keras_startup.restore_freed_memory_reuse()
    assert applied == [1]


def test_the_registry_builds_every_model_by_name():
    """One registry: every name in defaults.MODEL_NAMES builds a model of that name."""
    assert tuple(models.MODELS) == defaults.MODEL_NAMES
    assert tuple(fit.OPTIMIZERS) == defaults.OPTIMIZER_NAMES
    for name in defaults.MODEL_NAMES:
        model = models.build_model(name, 7, 11, factors=4)
        assert model.name == name
        assert model.get_layer("prediction") is not None
    mlp = models.build_model("mlp", 7, 11, factors=4)
    assert [layer.units for layer in mlp.layers if layer.name.startswith("mlp_layer")] == [
        16,
        8,
        4,
    ]
    with pytest.raises(ArgumentError, match=r"^model must be one of gmf, mlp, neumf, mf"):
        models.build_model("bpr", 7, 11)


def test_mf_is_a_dot_product_plus_biases():
    """MF scores sigmoid(p_u . q_i + b_u + b_i)."""
    import numpy as np

    model = models.mf(3, 4, factors=2)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    p = model.get_layer("mf_user_embedding").get_weights()[0]
    q = model.get_layer("mf_item_embedding").get_weights()[0]
    bu = model.get_layer("mf_user_bias").get_weights()[0][:, 0]
    bi = model.get_layer("mf_item_bias").get_weights()[0][:, 0]
    users, items = np.array([0, 2], np.int32), np.array([3, 1], np.int32)
    expected = 1 / (1 + np.exp(-((p[users] * q[items]).sum(1) + bu[users] + bi[items])))
    got = model.predict({"user": users, "item": items}, verbose=0)[:, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "message"),
    [("cntk", "is not a Keras backend"), ("torch", "torch is not installed: pip install torch")],
)
def test_an_unusable_backend_is_refused_before_import(monkeypatch, name, message):
    monkeypatch.setenv("KERAS_BACKEND", name)
    monkeypatch.setattr(keras_startup.importlib.util, "find_spec", lambda package: None)
    with pytest.raises(DataError, match=message):
        keras_startup.require_backend()


def test_keras_json_names_the_backend_when_the_variable_is_unset(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_startup.selected_backend() == "tensorflow"
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')
    assert keras_startup.selected_backend() == "jax"


def test_every_error_raised_on_purpose_is_an_ncf_error():
    """One `except NcfError` catches every error the package raises on purpose, and bad
    values stay ValueErrors; Terminated is a KeyboardInterrupt, which it must not catch."""
    for error in (DataError, ArgumentError, WriteError, DownloadError):
        assert issubclass(error, NcfError), error
    assert issubclass(DataError, ValueError) and issubclass(DownloadError, DataError)
    assert issubclass(Terminated, KeyboardInterrupt) and not issubclass(Terminated, NcfError)

    class Subclassed(keras.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(NcfError, match="not a functional model"):
        diagrams.layer_graph(Subclassed())


def test_argument_errors_name_the_argument():
    with pytest.raises(ArgumentError) as error:
        checks.check_number("l2", float("nan"))
    assert (error.value.argument, str(error.value)) == ("l2", "l2 must be a finite number, got nan")
    with pytest.raises(ArgumentError, match=r"^lr must be > 0, got 0"):
        checks.check_number("lr", 0, 0, strict=True)
    assert checks.check_number("lr", 0.5, 0, strict=True) == 0.5


PACKAGE = Path(ncf_keras.__file__).parent
# The layers of the dependency rule, lowest first: a module imports its own layer or lower.
FOUNDATION = ("errors", "checks", "defaults", "digests", "paper_results", "keras_startup")
MODEL_LEVEL = ("layers", "models", "metrics", "baselines", "recommendations", "plots", "diagrams")
LAYERS = {
    **dict.fromkeys(FOUNDATION, 0),
    "data": 1,
    **dict.fromkeys(MODEL_LEVEL, 2),
    "training": 3,
    "runs": 4,
    "notebook": 5,  # may use every layer but the CLI
    "cli": 6,
    "__main__": 7,
}
DATA_MAY_IMPORT = ("errors", "checks", "defaults", "digests")  # and data/ itself
KNOWN_EDGES: set[tuple[str, str]] = set()  # (module, import) pairs allowed against the rule


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    """Every module of ncf_keras by dotted name, packages by their __init__.py."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, source: str, modules: dict[str, Path]) -> set[str]:
    """The ncf_keras modules that module `name`, of code `source`, imports anywhere,
    inside functions too.

    `from A import B` counts as an import of module A.B where that is a module,
    else of A; relative imports are resolved against the module's package.
    """
    is_package = modules.get(name, Path()).name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the ncf_keras modules it imports, for every module of the package."""
    modules = package_modules()
    return {
        name: imported_modules(name, path.read_text(), modules) for name, path in modules.items()
    }


def layer(module: str) -> tuple[str, int]:
    """The module's part of the package ("data", "models", ...) and its layer."""
    part = module.split(".")[1]
    if part not in LAYERS:
        pytest.fail(f"{module}: in no layer of the dependency rule; add it to LAYERS")
    return part, LAYERS[part]


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, as the modules along it, or None (depth-first search)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        path.append(module)
        for target in sorted(graph[module]):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def test_import_graph_reads_every_form_of_import():
    """The graph sees imports inside functions, `from package import module`, relative
    imports, and a from-import of a name (the module that holds it)."""
    graph = import_graph()
    assert "ncf_keras.data.grouplens" in graph["ncf_keras.data.sources"]  # from data import x
    assert "ncf_keras.data.sources" in graph["ncf_keras.cli.main"]  # inside a function
    assert "ncf_keras" in graph["ncf_keras.runs.ownership"]  # from ncf_keras import __version__
    source = (
        "from . import folders\n"
        "from .dataset import Dataset\n"
        "def f():\n"
        "    from .. import errors\n"
        "    import ncf_keras.data.sampling\n"
    )
    found = imported_modules("ncf_keras.data.fake", source, package_modules())
    assert found == {
        "ncf_keras.data.folders",
        "ncf_keras.data.dataset",
        "ncf_keras.errors",
        "ncf_keras.data.sampling",
    }
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycles():
    """No module imports itself through others, counting imports inside functions."""
    cycle = cycle_in(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_follow_the_dependency_rule():
    """foundation <- data <- (models, metrics, ...) <- training <- runs <- cli; data/ imports
    only errors, checks, defaults and digests besides itself (GUIDE.md)."""
    broken = []
    for module, targets in import_graph().items():
        if module == "ncf_keras":
            continue  # the public API may gather every layer; its cycles are checked above
        part, rank = layer(module)
        for target in sorted(targets):
            if (module, target) in KNOWN_EDGES:
                continue
            target_part, target_rank = layer(target) if target != "ncf_keras" else ("", 0)
            allowed = target_rank <= rank
            if part == "data":
                allowed = target_part in ("data", *DATA_MAY_IMPORT)
            if not allowed:
                broken.append(f"{module} -> {target}")
    assert not broken, "imports against the dependency rule: " + ", ".join(broken)


def test_loading_data_imports_no_backend():
    """The data layer, and loading the synthetic dataset, import no Keras or backend:
    `download` imports Keras only inside the function that downloads."""
    out = run_python(
        "import sys\n"
        "import ncf_keras.data.sources, ncf_keras.data.grouplens, ncf_keras.data.paper_split\n"
        "ncf_keras.data.sources.load_dataset('synthetic')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('keras', 'tensorflow', 'jax', 'torch')))"
    )
    assert out == "[]"
