"""Neural Collaborative Filtering (He et al., WWW 2017) in Keras 3.

Importing the package imports no backend and touches no file descriptor; each
module imports what it needs. One concept per module:

* `dataset`: the `Dataset` form, leave-one-out and the validation hold-out.
* `sources`: where datasets come from: the data folder, a dataset by name,
  synthetic data and your own file.
* `grouplens`: GroupLens MovieLens-1M, -20M, -25M and -32M, with titles.
* `paper_split`: the NCF paper's split of ML-1M, with titles mapped from GroupLens.
* `generator`: synthetic interaction logs shaped like ML-20M, at any size.
* `parsing`: reading delimited tables (dialect sniffed) with errors that name the line.
* `download`: fetching files into the data folder, checksum-verified.
* `sampling`: uniform negative sampling and the seeded random streams.
* `models`: GMF, MLP, NeuMF and MF, and the registry that builds them by name.
* `baselines`: ItemPop and iALS, the non-neural baselines.
* `pretraining`: NeuMF initialised from trained GMF and MLP.
* `metrics`: HR@K and NDCG@K, sampled or full ranking.
* `callbacks`: per-epoch ranking metrics, timings, history and checkpoints.
* `batches`: an epoch's training rows as Keras batches, the next epoch drawn ahead.
* `step_sampling`: negatives drawn inside the compiled training step instead.
* `training`: `compile_model` and `train`.
* `lazy`: lazy Adam, which updates only the embedding rows a batch looks up.
* `runs`: the run folders that `train_run` writes, and reading them back.
* `distribution`: many devices and hosts with `keras.distribution` (JAX).
* `atomic`: folders that appear complete or not at all: lock, partial folder, rename.
* `recommend`: the top unseen items for a user.
* `plots`, `diagrams`: hit-rate curves, and pictures of a model's layers.
* `notebook`: helpers the notebooks use to show and check their work.
* `settings`, `errors`, `backend`, `paper`: defaults and checks, exceptions,
  a quiet Keras import, and the paper's numbers.
* `cli`, `arguments`: `python -m ncf_keras`, and its flags.
"""

__version__ = "0.1.0"
