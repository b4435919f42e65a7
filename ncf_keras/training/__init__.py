"""Training: fitting a model of `ncf_keras.models` on a `Dataset`.

* `config`: `TrainingConfig`, the settings `train` and `train_run` take (Keras-free).
* `fit`: `compile_model` and `train`.
* `batches`: an epoch's training rows as Keras batches, drawn on the host.
* `device_sampling`: negatives drawn inside the compiled training step instead.
* `callbacks`: per-epoch ranking metrics, timings, history and checkpoints.
* `lazy_adam`: Adam that updates only the embedding rows a batch looks up.
* `distribution`: many devices and hosts with `keras.distribution` (JAX).
* `pretraining`: NeuMF initialised from trained GMF and MLP.

Dependency rule: this folder imports the foundation modules, `data`, `models`
and `metrics`; never `runs` or the CLI.
"""
