"""The command line, `ncf-keras` or `python -m ncf_keras`: train, evaluate, recommend, plot.

* `main`: the commands, and one `error:` line for every fault.
* `arguments`: the flags.

Dependency rule: the top of the package; nothing imports it.
"""
