"""Training: fitting a model of `ncf_keras.models` on a `Dataset`.

* `config`: `TrainingConfig`, the settings `train` and `train_run` take (Keras-free).
* `fit`: `compile_model` and `train`.
* `batches`: an epoch's training rows as Keras batches, drawn on the host.
* `tf_input`: those batches on TensorFlow, through `tf.data` without its autotuning.
* `device_sampling`: negatives drawn inside the compiled training step instead.
* `callbacks`: per-epoch ranking metrics, timings, history and checkpoints.
* `history`: a fit's rows per epoch, history.csv on resume, and the best epoch.
* `network_view`: a `keras.Model` subclass on a model's own layers, whose
  training step is the subclass's: the base of the next two, and on JAX the
  model `fit` trains, its steps scanned by `scanned_steps`.
* `lazy_adam`: Adam that updates only the embedding rows a batch looks up.
* `distribution`: many devices and hosts with `keras.distribution` (JAX).
* `pretraining`: NeuMF initialised from trained GMF and MLP.
* `keras_private`: the only place that reads Keras's private attributes, and the
  Keras versions that reading was tested with.

Dependency rule: this folder imports the foundation modules, `data`, `models`
and `metrics`; never `runs` or the CLI.
"""
