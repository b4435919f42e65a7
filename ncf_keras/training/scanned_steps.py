"""On JAX, a compiled call's `steps_per_execution` steps in one `lax.scan`.

Keras's JAX trainer runs `steps_per_execution` steps per call of its train
function as a Python loop over one compiled step, so every step is its own XLA
execution: its buffers allocated, its threads woken, its state handed back. On
a 2-core CPU at batch 16,384 that costs 0.6 to 1.2 ms a step, 6 to 15% of a
NeuMF-8 epoch on `ml-1m-ncf` (*Where an epoch's time goes* in
benchmarks/README.md). `scanned_train_function` stacks the call's batches and
runs the model's own `train_step` over them inside one compiled `lax.scan`:
the same steps, in the same order, on the same state.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import keras

from ncf_keras.training import keras_private


def scanning(model: keras.Model) -> bool:
    """Whether `model`'s train function should scan: JAX, compiled (not eager), more than
    one step per execution, no `keras.distribution` in force (Keras's own
    function places the state and the batches on the devices then), and a Keras
    version whose train function's calling convention was checked
    (`keras_private.is_tested_keras`)."""
    return (
        keras.backend.backend() == "jax"
        and model.jit_compile
        and not model.run_eagerly
        and model.steps_per_execution > 1
        and keras.distribution.distribution() is None
        and keras_private.is_tested_keras()
    )


def scanned_train_function(model: keras.Model) -> Callable:
    """The JAX trainer's train function for `model`, its steps scanned.

    Returns `function(state, iterator) -> (logs, state)`, as Keras's JAX trainer
    calls it: it takes up to `model.steps_per_execution` batches from
    `iterator`. A full set of batches of one shape runs as one compiled
    `lax.scan` of `model.train_step`; the last, shorter set of an epoch runs one
    compiled step at a time, as Keras would run it. The logs are those of the
    last step. StopIteration from `iterator` ends the epoch, as in Keras.
    """
    import jax
    import jax.numpy as jnp

    def steps(state, batches):
        def one(state, batch):
            logs, state = model.train_step(state, batch)
            return state, logs

        state, logs = jax.lax.scan(one, state, batches)
        return jax.tree.map(lambda values: values[-1], logs), state

    scanned = jax.jit(steps, donate_argnums=0)
    single = jax.jit(model.train_step, donate_argnums=0)

    def train_function(state, iterator: Iterator):
        batches = [next(iterator)]  # StopIteration here ends the epoch
        batches += itertools.islice(iterator, model.steps_per_execution - 1)
        shapes = {str(jax.tree.map(jnp.shape, batch)) for batch in batches}
        if len(batches) == model.steps_per_execution and len(shapes) == 1:
            return scanned(state, jax.tree.map(lambda *parts: jnp.stack(parts), *batches))
        for batch in batches:
            logs, state = single(state, batch)
        return logs, state

    return train_function
