"""Neural Collaborative Filtering (He et al., WWW 2017) in Keras 3.

Modules, one idea each:

* `datasets`: MovieLens-1M, the NCF paper's split, synthetic data and your own
  file, all as a leave-one-out `Dataset`.
* `sampling`: uniform negative sampling, vectorised.
* `models`: the GMF, MLP and NeuMF builders, and NeuMF pre-training.
* `metrics`: HR@K and NDCG@K, sampled or full ranking.
* `training`: the per-epoch data, the evaluation callback and `train`.
* `plots`: hit-rate curves with the paper's values.
* `paper`: the numbers the paper reports.
* `cli`: `python -m ncf_keras`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out

__version__ = "0.1.0"
