"""Training on many devices and many hosts with Keras's own `keras.distribution` API.

* `"data"`: synchronous data parallelism (`keras.distribution.DataParallel`).
  Every device holds the whole model; each global batch is split evenly over
  the devices, and the gradients are summed across them, so one step is the
  step one device would take on the whole batch (up to float summation order).
* `"model"`: the embedding tables are sharded over the devices
  (`keras.distribution.ModelParallel` with a `LayoutMap`), everything else is
  replicated. The device mesh is (1, n), axes ("batch", "model"): each device
  holds 1/n of every table and the whole batch is fed to all of them.

  A table is split along its rows, the user or item ids, where n divides the
  number of rows: that is the axis that grows with the catalogue, and it can
  be split over as many devices as there are ids (the columns, the factors,
  number 8 to 32). JAX shards only evenly, so a table whose rows n does not
  divide is split along its columns instead, and one that neither divides
  (an MF bias, one column) is replicated.

Keras's distribution API works on the JAX backend only; `check_backend` says
so in one line on any other. `initialize` joins several processes, one per
host, into one set of devices (`jax.distributed.initialize`, which
`keras.distribution.initialize` wraps, here with a timeout).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Sequence

import keras

from ncf_keras.errors import ArgumentError, DataError

KINDS = ("data", "model")  # the values of `distribute`
BATCH_AXIS, MODEL_AXIS = "batch", "model"  # the device mesh's axis names
COORDINATOR_TIMEOUT = 300  # seconds to wait for the other processes, JAX's default


def check_backend() -> None:
    """ArgumentError on `distribute` unless Keras runs on JAX."""
    backend = keras.backend.backend()
    if backend != "jax":
        raise ArgumentError(
            "distribute",
            f"needs KERAS_BACKEND=jax: Keras's distribution API is JAX-only, and "
            f"this run uses {backend}",
        )


def devices(count: int | None = None) -> list[str]:
    """The first `count` devices of `keras.distribution.list_devices()` (default: all).

    In a multi-process run these are every process's devices.
    """
    available = keras.distribution.list_devices()
    if count is None:
        return available
    if not 1 <= count <= len(available):
        raise ArgumentError(
            "devices", f"must be between 1 and the {len(available)} devices here, got {count}"
        )
    return available[:count]


def data_parallel(count: int | None = None) -> keras.distribution.DataParallel:
    """DataParallel over the first `count` devices (default: all).

    Each process serves its own part of every batch (`TrainingSamples`'s
    `shard`), so Keras is told not to shard the data itself.
    """
    check_backend()
    return keras.distribution.DataParallel(devices=devices(count), auto_shard_dataset=False)


def table_layout(shape: Sequence[int], count: int) -> tuple[str | None, ...]:
    """How one (rows, columns) embedding table is split over `count` devices.

    Rows where `count` divides them, else columns where it divides those, else
    replicated (None, None).
    """
    rows, columns = shape
    if rows % count == 0:
        return (MODEL_AXIS, None)
    if columns % count == 0:
        return (None, MODEL_AXIS)
    return (None, None)


def model_parallel(
    tables: dict[str, Sequence[int]], count: int | None = None
) -> keras.distribution.ModelParallel:
    """ModelParallel that shards the embedding tables over the first `count` devices.

    Args:
        tables: {variable path: shape} of the tables to shard, as
            `embedding_tables` returns them.
        count: the devices (default: all).
    """
    check_backend()
    chosen = devices(count)
    mesh = keras.distribution.DeviceMesh((1, len(chosen)), (BATCH_AXIS, MODEL_AXIS), chosen)
    layout_map = keras.distribution.LayoutMap(mesh)
    for path, shape in tables.items():
        layout_map[path] = table_layout(shape, len(chosen))
    return keras.distribution.ModelParallel(
        layout_map=layout_map, batch_dim_name=BATCH_AXIS, auto_shard_dataset=False
    )


def embedding_tables(build: Callable[[], keras.Model]) -> dict[str, tuple[int, ...]]:
    """{variable path: shape} of every embedding table of the model `build()` returns.

    The model is built in a `keras.StatelessScope`, where Keras allocates no
    variable, only to read the tables' paths and shapes.
    """
    with keras.StatelessScope():
        model = build()
    return {
        v.path: tuple(v.shape)
        for v in model.weights
        if v.path.endswith("/embeddings") and len(v.shape) == 2
    }


def make_distribution(
    kind: str,
    build: Callable[[], keras.Model] | None = None,
    count: int | None = None,
) -> keras.distribution.Distribution:
    """The distribution `kind` names, "data" or "model", over `count` devices (default: all).

    Args:
        kind: "data" or "model".
        build: for "model": builds the model, to find its embedding tables.
        count: the devices to use, the first of `keras.distribution.list_devices()`.
    """
    if kind not in KINDS:
        raise ArgumentError("distribute", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "data":
        return data_parallel(count)
    if build is None:
        raise ArgumentError("distribute", '"model" needs the model\'s builder to find its tables')
    check_backend()
    return model_parallel(embedding_tables(build), count)


def scope(
    distribution: keras.distribution.Distribution | None,
) -> contextlib.AbstractContextManager:
    """`distribution.scope()`, or a scope that changes nothing for None."""
    return contextlib.nullcontext() if distribution is None else distribution.scope()


def device_count(distribution: keras.distribution.Distribution | None) -> int:
    """The devices a distribution spans; 1 for None."""
    return 1 if distribution is None else int(distribution.device_mesh.devices.size)


def replicas(distribution: keras.distribution.Distribution | None) -> int:
    """Into how many parts each global batch is split: the devices along the batch axis."""
    return 1 if distribution is None else int(distribution.num_model_replicas)


def data_shard(distribution: keras.distribution.Distribution | None) -> tuple[int, int]:
    """(index, count): this process's part of every global batch; (0, 1) in one process."""
    if distribution is None or distribution.num_processes == 1:
        return (0, 1)
    return (distribution.data_shard_id, min(replicas(distribution), distribution.num_processes))


def check_batch_size(batch_size: int, distribution: keras.distribution.Distribution) -> None:
    """ArgumentError on `batch_size` unless the batch splits evenly over the devices."""
    parts = replicas(distribution)
    if batch_size % parts:
        raise ArgumentError(
            "batch_size",
            f"must be a multiple of the {parts} devices each batch is split over, got {batch_size}",
        )


def check_model(model: keras.Model, distribution: keras.distribution.Distribution) -> None:
    """ArgumentError on `model` unless its variables live on the distribution's devices.

    Keras places a variable when it is created, so the model must be built, and
    compiled, under `distribution.scope()`.
    """
    mesh = set(distribution.device_mesh.backend_mesh.devices.flat)
    for variable in [*model.variables, *model.metrics_variables]:
        if set(variable.value.sharding.device_set) != mesh:
            raise ArgumentError(
                "model",
                f"was built outside the distribution ({variable.path} is on "
                f"{len(variable.value.sharding.device_set)} device(s), not "
                f"{len(mesh)}): build and compile it under `distribution.scope()`",
            )


def variable_layouts(model: keras.Model) -> dict[str, str]:
    """{variable path: its sharding spec}, e.g. "PartitionSpec('model', None)"."""
    return {v.path: str(getattr(v.value.sharding, "spec", "replicated")) for v in model.weights}


class Distributed(keras.callbacks.Callback):
    """Sets the global distribution at the end of every epoch: `None` or the fit's.

    Placed around evaluation callbacks, it makes them predict outside the
    distribution, on the sharded weights: Keras's JAX `predict` cannot split a
    last batch that the device count does not divide.
    """

    def __init__(self, distribution: keras.distribution.Distribution | None):
        super().__init__()
        self.distribution = distribution

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        keras.distribution.set_distribution(self.distribution)


def outside(
    distribution: keras.distribution.Distribution, callbacks: Sequence[keras.callbacks.Callback]
) -> list[keras.callbacks.Callback]:
    """`callbacks`, run at the end of every epoch with no distribution set."""
    return [Distributed(None), *callbacks, Distributed(distribution)]


def wait_for(address: str, timeout: float) -> None:
    """Wait until `address` ("HOST:PORT") accepts TCP connections; ArgumentError after `timeout`."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ArgumentError("coordinator", f"must be HOST:PORT, got {address!r}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise ArgumentError(
                    "coordinator",
                    f"{address} did not answer within {timeout:g} s: start process 0 "
                    "(--process-id 0) there first, or check the address",
                ) from None
            time.sleep(0.2)


def initialize(
    coordinator: str, num_processes: int, process_id: int, timeout: float = COORDINATOR_TIMEOUT
) -> None:
    """Join `num_processes` processes, one per host, into one set of devices.

    Call it in every process before Keras runs anything; process 0 serves
    as the coordinator at `coordinator`.

    Args:
        coordinator: "HOST:PORT" of process 0, reachable from every process.
        num_processes: how many processes take part (>= 1).
        process_id: this process's number, 0 to num_processes - 1.
        timeout: seconds to wait for the coordinator and the other processes
            (default 300).

    Keras's `keras.distribution.initialize` does the same without a timeout
    (Keras 3.15); JAX stops the process itself, with a long native message,
    when its own wait times out, so the other processes first wait here for
    the coordinator to answer, and raise ArgumentError in one line if it does
    not.
    """
    check_backend()
    if num_processes < 1:
        raise ArgumentError("num_processes", f"must be >= 1, got {num_processes}")
    if not 0 <= process_id < num_processes:
        raise ArgumentError(
            "process_id", f"must be between 0 and {num_processes - 1}, got {process_id}"
        )
    start = time.monotonic()
    if process_id != 0:
        wait_for(coordinator, timeout)
    import jax

    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU across hosts
        jax.distributed.initialize(
            coordinator,
            num_processes,
            process_id,
            initialization_timeout=max(1, round(timeout - (time.monotonic() - start))),
        )
    except (RuntimeError, ValueError) as error:
        raise DataError(f"cannot join the processes at {coordinator}: {error}") from None
