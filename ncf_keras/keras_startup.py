"""Importing Keras without the backend's native start-up noise, for the CLI and notebooks.

Importing `ncf_keras` imports no backend. Where a program is about to use one,
`import_keras_quietly()` imports Keras with TensorFlow's C++ start-up lines
hidden ("All log messages before absl::InitializeLog()...", "failed call to
cuInit" on a machine without a GPU driver), which ignore Python's logging,
and first has glibc's malloc keep freed memory for reuse (`reuse_freed_memory`).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

from ncf_keras.errors import DataError

BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}
# mallopt's options (<malloc.h>) and the values `reuse_freed_memory` gives them.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MALLOC_OPTIONS = {M_MMAP_THRESHOLD: 256 << 20, M_TRIM_THRESHOLD: 256 << 20, M_ARENA_MAX: 1}


_reusing_freed_memory = False  # whether `reuse_freed_memory` applied its settings here


def reuse_freed_memory() -> bool:
    """Have glibc's malloc keep freed blocks of up to 256 MiB for reuse.

    XLA, under JAX and TensorFlow on the CPU, allocates each training step's
    buffers afresh: tens of MiB at large batches. By default glibc maps fresh
    pages for every block above 32 MiB and for blocks in a thread's own arena,
    and unmaps them when they are freed, so every step faults its pages in
    again, and large-batch fits spend much of their time in the kernel
    (benchmarks/README.md, *Reusing freed memory*). This serves blocks of up to 256 MiB
    from one heap (`M_MMAP_THRESHOLD`, `M_ARENA_MAX` 1) and keeps up to 256 MiB
    of freed memory (`M_TRIM_THRESHOLD`), so the steps reuse their pages.
    Larger blocks, such as the 400 MB of user ids in an ML-20M-sized epoch's
    rows, are still returned when freed.

    It must run before the backend starts its threads: `import_keras_quietly`
    calls it first. It changes nothing where the C library is not glibc, or
    where a `MALLOC_*` variable is set in the environment: the user's own
    tuning wins (`MALLOC_ARENA_MAX=8` turns this off).

    Returns whether the settings were applied.
    """
    global _reusing_freed_memory
    if platform.libc_ver()[0] != "glibc" or any(name.startswith("MALLOC_") for name in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    applied = all(mallopt(option, value) == 1 for option, value in MALLOC_OPTIONS.items())
    _reusing_freed_memory = applied
    return applied


def restore_freed_memory_reuse() -> None:
    """Apply `reuse_freed_memory`'s settings again, where they were applied in this process.

    TensorFlow undoes them: when it first builds the op of a `tf.data`
    `from_generator` pipeline (`tensorflow::data::ApplyPython311MemoryPatch`),
    it sets glibc's `M_MMAP_THRESHOLD` to 128 KiB, after which every block over
    128 KiB is mapped afresh and unmapped when freed, and a NeuMF-8 epoch at
    batch 16,384 takes up to 1.4 million page faults (benchmarks/README.md,
    *TensorFlow's slow epochs that were left*). Where `reuse_freed_memory` was
    not applied, this changes nothing.
    """
    if _reusing_freed_memory:
        reuse_freed_memory()


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration; Python's sys.stderr is kept."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def selected_backend() -> str:
    """The backend Keras will load: `$KERAS_BACKEND`, else keras.json's, else "tensorflow"."""
    if "KERAS_BACKEND" in os.environ:
        return os.environ["KERAS_BACKEND"]
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    try:
        return json.loads((home / "keras.json").read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def require_backend() -> str:
    """The backend `$KERAS_BACKEND` names, checked to be installed, without importing it.

    Raises DataError when it is not a Keras backend or its package is missing.
    """
    backend = selected_backend()
    package = BACKEND_PACKAGES.get(backend)
    if package is None:
        raise DataError(
            f"KERAS_BACKEND={backend!r} is not a Keras backend: use one of "
            f"{', '.join(BACKEND_PACKAGES)}"
        )
    if importlib.util.find_spec(package) is None:
        raise DataError(
            f"KERAS_BACKEND={backend} but {package} is not installed: "
            f"pip install {package}, or choose another backend"
        )
    return backend


def import_keras_quietly() -> None:
    """Import Keras and start its backend with native start-up lines hidden.

    First has glibc keep freed memory for reuse (`reuse_freed_memory`), which
    makes large-batch steps on the CPU faster.

    Raises DataError, before anything is imported, when the backend named by
    `$KERAS_BACKEND` is not installed (`require_backend`).
    """
    if "keras" in sys.modules:
        return
    require_backend()
    reuse_freed_memory()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_silenced():
        import keras

        keras.ops.zeros(1)  # the backend's first op starts its devices, with more such lines
        if importlib.util.find_spec("tensorflow") is not None:
            # On every backend, keras.utils.set_random_seed seeds TensorFlow too where it
            # is installed, importing it: its start-up lines would come then.
            import tensorflow  # noqa: F401
