"""`NetworkView`: a model's own network under a `keras.Model` subclass that changes how it trains.

Keras's way to change what `fit` does is a `keras.Model` subclass overriding
`train_step` or `call`. The models of `ncf_keras.models` are plain functional
models, and know nothing of training; a subclass of this class is built
functionally on a model's inputs and outputs, so it holds the same layers and
the same weights: fitting it trains the model. Saving it saves the model, so
a checkpoint or backup written during such a fit is the plain model's file.
"""

from __future__ import annotations

import keras

from ncf_keras.training import scanned_steps


class NetworkView(keras.Model):
    """`model`'s layers and weights, as a model whose subclasses override how it trains.

    Args:
        model: a functional model (`ncf_keras.models`); `network()` returns it.
    """

    def __init__(self, model: keras.Model):
        super().__init__(model.inputs, model.outputs, name=model.name)
        self.network = lambda: model  # not a sub-layer: its weights are these already

    def make_train_function(self, force: bool = False) -> None:
        """Keras's train function, its steps scanned on JAX (`scanned_steps`)."""
        if not scanned_steps.scanning(self):
            return super().make_train_function(force)
        if self.train_function is None or force:
            self.train_function = scanned_steps.scanned_train_function(self)

    def save(self, *args, **kwargs):
        """`network().save`: the file holds the plain model, as if it had been fitted."""
        return self.network().save(*args, **kwargs)

    def save_weights(self, *args, **kwargs):
        """`network().save_weights`, as `save`."""
        return self.network().save_weights(*args, **kwargs)


def compiled_like(view: NetworkView, model: keras.Model) -> NetworkView:
    """`view`, compiled as `model` was: its optimizer (the same object), loss, XLA setting
    and steps per execution."""
    view.compile(
        optimizer=model.optimizer,
        loss=model.loss,
        jit_compile=model.jit_compile,
        steps_per_execution=model.steps_per_execution,
    )
    return view


def fitting(model: keras.Model) -> keras.Model:
    """The model whose `fit` trains `model` with its steps scanned where they can be
    (`scanned_steps.scanning`: JAX): `model` itself where it is a `NetworkView`
    already or where they cannot, else a `NetworkView` of it compiled like it."""
    if isinstance(model, NetworkView) or not scanned_steps.scanning(model):
        return model
    return compiled_like(NetworkView(model), model)
