"""Neural Collaborative Filtering (He et al., WWW 2017) in Keras 3.

Modules, one idea each:

* `datasets`: MovieLens-1M, the NCF paper's split, synthetic data and your own
  file, all as a leave-one-out `Dataset`.
* `download`: fetching files into the data folder, checksum-verified.
* `errors`: `DataError`, the one exception for bad input.
* `sampling`: uniform negative sampling, vectorised, and the seeded random streams.
* `models`: the GMF, MLP and NeuMF builders, and NeuMF pre-training.
* `metrics`: HR@K and NDCG@K, sampled or full ranking.
* `training`: the per-epoch data, the evaluation callback and `train`.
* `runs`: the run folders that training writes.
* `recommend`: the top unseen items for a user.
* `plots`, `diagrams`: hit-rate curves, and pictures of a model's layers.
* `paper`: the numbers the paper reports.
* `cli`: `python -m ncf_keras`.
"""

import contextlib
import os

__version__ = "0.1.0"


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null: TensorFlow's C++ start-up lines
    ("All log messages before absl::InitializeLog()...", "failed call to cuInit"
    on a machine without a GPU driver) ignore its log level."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with _native_stderr_silenced():
    import keras  # loads the backend, TensorFlow by default

    keras.ops.zeros(1)  # the backend's first op starts its devices, with more such lines
