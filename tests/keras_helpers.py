"""Test helpers that need Keras, apart from `helpers.py`: conftest imports that one, and
so does pytest-xdist's controller, which runs no test and need not start a backend."""

from __future__ import annotations

import keras


class Interrupt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at the end of one epoch (0-based), as Ctrl-C would."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt
