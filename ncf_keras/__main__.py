"""`python -m ncf_keras`: the command line, named so in its usage and error lines."""

from ncf_keras.cli.main import main

raise SystemExit(main(prog="python -m ncf_keras"))
