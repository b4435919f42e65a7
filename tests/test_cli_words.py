"""The command line's words (`ncf_keras.cli.arguments`): program name, --version, help texts
whose defaults come from the code, and docs/cli.md naming the flags the parser has.

Whatever loads Keras is checked in a fresh process: other test files import it into this one.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ncf_keras
from ncf_keras import defaults
from ncf_keras.cli.arguments import build_parser

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("keras", "tensorflow", "jax", "torch")
# Flags docs/cli.md names that are not ncf-keras's: TensorBoard's, XLA's, `--pretrain-*`.
OTHER_TOOLS_FLAGS = {"--logdir", "--xla_force_host_platform_device_count", "--pretrain"}
# Defaults of None that the usage block of docs/cli.md shows by their value.
CHOSEN_LATER = {"lr": defaults.LEARNING_RATE, "alpha": defaults.ALPHA}


def run_python(*argv: str) -> subprocess.CompletedProcess:
    """`python ARGV...` in a fresh process, from the repository root."""
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def parsers() -> dict[str, argparse.ArgumentParser]:
    """The top-level parser ("") and each command's, by name."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **commands.choices}


def test_version_prints_the_package_version_and_exits_0():
    done = run_python("-m", "ncf_keras", "--version")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"ncf-keras {ncf_keras.__version__}\n",
        "",
    )


@pytest.mark.parametrize("argv", [["--version"], *[[c, "--help"] for c in parsers() if c]])
def test_version_and_each_commands_help_load_no_backend(argv):
    """Parsing --version or COMMAND --help ends in exit status 0 with no backend imported."""
    script = (
        "import sys\nfrom ncf_keras.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as end:\n    status = end.code\n"
        f"print(status, sorted(m for m in {BACKENDS!r} if m in sys.modules), file=sys.stderr)"
    )
    done = run_python("-c", script)
    assert done.stderr.splitlines()[-1] == "0 []", done.stderr
    assert done.stdout.startswith("usage: " if argv[-1] == "--help" else "ncf-keras ")


def test_the_program_is_named_as_it_was_invoked():
    """`python -m ncf_keras` and the console script (pyproject's entry point) each name
    themselves in usage and error lines."""
    module = run_python("-m", "ncf_keras", "train")
    assert module.returncode == 2
    assert module.stderr.startswith("usage: python -m ncf_keras train ")
    assert "\npython -m ncf_keras train: error: the following arguments are required: --model" in (
        module.stderr
    )
    pyproject = (ROOT / "pyproject.toml").read_text()
    target = re.search(r'^ncf-keras = "([\w.]+):(\w+)"$', pyproject, re.MULTILINE)
    assert target, "pyproject.toml: no ncf-keras console script"
    # What pip's console-script wrapper runs: sys.exit(main()), argv[0] the script's path.
    script = (
        f"import sys\nfrom {target[1]} import {target[2]}\n"
        f"sys.argv[0] = '/somewhere/bin/ncf-keras'\nsys.exit({target[2]}())"
    )
    console = run_python("-c", script, "evaluate")
    assert console.returncode == 2
    assert console.stderr.startswith("usage: ncf-keras evaluate ")
    assert "\nncf-keras evaluate: error: the following arguments are required: --run" in (
        console.stderr
    )


def test_help_texts_take_their_defaults_from_the_code(monkeypatch):
    """An option whose default is a number or a word shows it with `%(default)`, so the
    help cannot disagree with the code."""
    for variable in ("JOB_ADDRESSES", "NUM_PROCESSES", "PROCESS_ID"):
        monkeypatch.delenv(f"KERAS_DISTRIBUTION_{variable}", raising=False)
    for name, parser in parsers().items():
        for action in parser._actions:
            default = action.default
            shown = isinstance(default, (int, float, str)) and not isinstance(default, bool)
            if shown and default != argparse.SUPPRESS:
                assert "%(default)" in action.help, f"{name} {action.option_strings[0]}"


def test_train_help_shows_the_values_of_the_code():
    """train --help shows the code's values, rendered: sizes, the lr and the layers."""
    text = " ".join(parsers()["train"].format_help().split())
    assert f"epochs to train (default: {defaults.EPOCHS})" in text
    assert f"(default: {','.join(map(str, defaults.LAYERS))})" in text
    assert f"else {defaults.LEARNING_RATE:g};" in text
    assert "chosen from the data's size" in text
    assert "%(" not in text


def test_docs_name_every_flag_and_only_flags_the_parser_has():
    docs = (ROOT / "docs" / "cli.md").read_text()
    documented = set(re.findall(r"--[a-z][a-z0-9_-]*[a-z0-9]", docs))
    flags = {
        flag for parser in parsers().values() for a in parser._actions for flag in a.option_strings
    }
    assert documented - OTHER_TOOLS_FLAGS - {"--help"} <= flags, "docs/cli.md: unknown flags"
    assert flags - {"-h"} <= documented, "docs/cli.md does not mention these flags"


def test_docs_usage_shows_the_parsers_defaults_and_choices():
    """`[--epochs 20]` in docs/cli.md's usage block is the parser's default (or the value a
    default of None leads to); `[--sample-on host|device]` lists the parser's choices."""
    usage = (ROOT / "docs" / "cli.md").read_text().split("```text")[1].split("```")[0]
    actions = {a.dest: a for p in parsers().values() for a in p._actions if a.option_strings}
    checked = 0
    for flag, value in re.findall(r"\[--([a-z0-9-]+) ([^\]\[ ]+)\]", usage):
        action = actions[flag.replace("-", "_")]
        if "|" in value and action.choices is not None:
            assert sorted(value.split("|")) == sorted(map(str, action.choices)), flag
        elif value[0].isdigit() and "|" not in value:
            convert = action.type or str
            expected = CHOSEN_LATER.get(action.dest, action.default)
            assert convert(value) == expected, f"docs/cli.md: --{flag} {value}"
        checked += 1
    assert checked >= 12
