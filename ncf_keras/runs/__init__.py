"""Run folders: what `train_run` writes, how it is kept whole, and reading it back.

* `train_run`: `train_run`, which trains a model and writes its run folder, resumably.
* `folder`: `write_run`, `read_run` and `load_run_model`.
* `atomic`: folders that appear complete or not at all: lock, partial folder, rename.
* `ownership`: the marker that proves a folder is a run this tool wrote.
* `locks`: one writer per run folder (`fcntl.flock`).

Dependency rule: this folder may import everything but the CLI.
"""
