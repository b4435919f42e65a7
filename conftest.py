"""The environment of every process a test run starts (tests, notebooks, subprocesses).

The tests and the notebooks under CI train for a few steps at a time, so XLA's
compilation, not the steps, takes most of their time. Set here, before anything
imports a backend, and inherited by every process the tests start:

* `XLA_FLAGS` gains `--xla_backend_optimization_level=0`: XLA (under JAX and
  under Keras's TensorFlow `jit_compile`) compiles without LLVM's optimisation
  passes, faster (39 against 52 to 54 CPU-seconds for five small runs), for
  code that then runs somewhat slower: the same programs, whose floats may
  differ in the last bits, as between two CPUs. Every process of a test run
  gets the same flags, so runs that must agree still do;
* JAX keeps the programs it compiles in a folder that lasts for the test run
  (`JAX_COMPILATION_CACHE_DIR`, any size and compile time), which the many runs
  of the same small model in separate processes can reuse (the whole suite took
  915 CPU-seconds with it, 996 without, on a 2-core machine).

Flags or a cache folder already set in the environment are kept.
"""

from __future__ import annotations

import os
import shutil
import tempfile

FAST_COMPILE = "--xla_backend_optimization_level=0"

_flags = os.environ.get("XLA_FLAGS", "")
if FAST_COMPILE not in _flags.split():
    os.environ["XLA_FLAGS"] = f"{_flags} {FAST_COMPILE}".strip()

_made_cache = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _made_cache = tempfile.mkdtemp(prefix="ncf-keras-tests-jax-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _made_cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"


def pytest_unconfigure() -> None:
    """Remove the compilation cache this process made (workers inherit the controller's)."""
    if _made_cache is not None:
        shutil.rmtree(_made_cache, ignore_errors=True)
