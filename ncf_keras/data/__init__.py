"""Data: where interactions come from, and the `Dataset` form the rest of the package uses.

* `dataset`: the `Dataset` form, leave-one-out and the validation hold-out.
* `interaction_log`: a raw log made fit to split: ids, duplicates, short users, time order.
* `sources`: `load_dataset`, from a name, a synthetic spec or your own file.
* `folders`: the data folder, and how it was chosen.
* `grouplens`, `paper_split`: GroupLens MovieLens sets, and the NCF paper's split of ML-1M.
* `synthetic_logs`: interaction logs shaped like ML-20M, at any size.
* `own_file`, `parsing`, `arrow_csv`, `compression`: reading a practitioner's files.
* `download`: fetching files into the data folder, checksum-verified.
* `sampling`: uniform negative sampling and the seeded random streams.

Dependency rule: this folder imports only the top-level foundation modules
(`errors`, `checks`, `defaults`, `digests`), never models, training, runs or the CLI,
and Keras only inside the functions that download.
"""
