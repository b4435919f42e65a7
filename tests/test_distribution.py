"""Training on many devices: `--distribute data|model`, multi-host flags, their errors.

Every run happens in a subprocess: JAX must see `KERAS_BACKEND=jax` and
`XLA_FLAGS=--xla_force_host_platform_device_count=4` (four CPU devices) before
it is imported, and the test session may run another backend.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import error_line, read_metrics, train_args

ROOT = Path(__file__).resolve().parents[1]
# Float sums are ordered differently on 1, 2 and 4 devices; the runs here agree exactly,
# and a tolerance of 1e-5 (loss) and 1 user in 200 (HR, NDCG) allows for another CPU.
LOSS_TOLERANCE = 1e-5
RANK_TOLERANCE = 1 / 200
XLA_FLAGS = os.environ.get("XLA_FLAGS", "")  # the session's own (conftest.py), one device


def run_python(code: str, devices: int = 4, backend: str = "jax", timeout: int = 240):
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "XLA_FLAGS": f"{XLA_FLAGS} --xla_force_host_platform_device_count={devices}",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(*argv: str, backend: str = "jax", timeout: int = 240):
    code = f"import sys; from ncf_keras.cli.main import main; sys.exit(main({list(argv)!r}))"
    return run_python(code, backend=backend, timeout=timeout)


def last_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


SETTINGS = [("adam", "host"), ("lazy-adam", "host"), ("adam", "device")]
SAME_RUNS = """
import json
from ncf_keras.training import distribution as D
from ncf_keras.runs.train_run import train_run
from ncf_keras.data.sources import synthetic

ds = synthetic(num_users=200, num_items=120, interactions_per_user=10)
out = {}
for optimizer, sample_on in SETTINGS:
    for label, dist in [("none", None), ("data1", D.data_parallel(1)),
                        ("data2", D.data_parallel(2)), ("data4", "data"), ("model4", "model")]:
        m = train_run("neumf", ds, f"{ROOT}/{optimizer}-{sample_on}/{label}", layers=[16, 8, 4],
                      epochs=1, batch_size=256, negatives=3, verbose=0, distribute=dist,
                      optimizer=optimizer, sample_on=sample_on)
        out.setdefault(f"{optimizer}-{sample_on}", {})[label] = {
            "devices": m["config"]["devices"], "history": m["history"]
        }
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def same_runs(tmp_path_factory) -> tuple[Path, dict]:
    """SAME_RUNS's folder, and its runs' devices and histories by setting and label: every
    setting trained in one process, which starts JAX once."""
    root = tmp_path_factory.mktemp("same-runs")
    result = run_python(f"ROOT = {str(root)!r}\nSETTINGS = {SETTINGS!r}\n" + SAME_RUNS)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return root, json.loads(line[len("RESULT ") :])


@pytest.mark.parametrize("optimizer, sample_on", SETTINGS)
def test_same_metrics_on_1_2_and_4_devices(same_runs, optimizer, sample_on):
    """negatives=3: 4 rows per positive, so no row is cut from a last batch on 4 devices.

    Lazy Adam too: its row updates work on sharded tables (`--distribute model`). And
    negatives drawn in the step: the same draws whichever devices run it.
    """
    root, settings = same_runs
    runs = settings[f"{optimizer}-{sample_on}"]
    assert {label: run["devices"] for label, run in runs.items()} == {
        "none": 1,
        "data1": 1,
        "data2": 2,
        "data4": 4,
        "model4": 4,
    }
    reference = runs["none"]["history"]
    for label, run in runs.items():
        for one, other in zip(reference, run["history"], strict=True):
            assert abs(one["loss"] - other["loss"]) <= LOSS_TOLERANCE, label
            for key in ("hr@10", "ndcg@10"):
                assert abs(one[key] - other[key]) <= RANK_TOLERANCE, (label, key)
    assert read_metrics(root / f"{optimizer}-{sample_on}" / "data4")["config"]["devices"] == 4


LAYOUTS = """
import json
import keras
from ncf_keras.training import distribution as D
from ncf_keras.models import build_model
from ncf_keras.training.fit import compile_model, train
from ncf_keras.data.sources import synthetic

ds = synthetic(num_users=200, num_items=121, interactions_per_user=10)
build = lambda: build_model("mf", ds.num_users, ds.num_items, 8)
dist = D.make_distribution("model", build)
with dist.scope():
    model = compile_model(build())
train(model, ds, epochs=1, batch_size=250, verbose=0, distribute=dist)
print("LAYOUTS " + json.dumps(D.variable_layouts(model)))
print("DEVICES " + json.dumps({v.path: len(v.value.sharding.device_set) for v in model.weights}))
"""


def test_model_parallel_shards_the_tables():
    """200 users: rows over 4 devices; 121 items: columns (8 factors), or replicated (biases)."""
    result = run_python(LAYOUTS)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines()}
    layouts, devices = json.loads(lines["LAYOUTS"]), json.loads(lines["DEVICES"])
    assert layouts["mf_user_embedding/embeddings"] == "P('model', None)"
    assert layouts["mf_item_embedding/embeddings"] == "P(None, 'model')"
    assert layouts["mf_user_bias/embeddings"] == "P('model', None)"
    assert layouts["mf_item_bias/embeddings"] in ("P()", "P(None, None)")  # replicated
    assert set(devices.values()) == {4}


def test_batch_the_devices_do_not_divide(tmp_path):
    result = run_cli(
        *train_args("gmf", tmp_path / "run", "--distribute", "data", "--batch-size", "1022")
    )
    assert last_error(result) == (
        "error: --batch-size must be a multiple of the 4 devices each batch is split over, got 1022"
    )
    assert not (tmp_path / "run").exists()


def test_distribute_needs_jax(tmp_path):
    result = run_cli(*train_args("gmf", tmp_path / "run", "--distribute", "data"), backend="numpy")
    assert last_error(result) == (
        "error: --distribute needs KERAS_BACKEND=jax: Keras's distribution API is JAX-only, "
        "and this run uses numpy"
    )


def test_model_built_outside_the_distribution():
    code = """
from ncf_keras.training import distribution as D
from ncf_keras.errors import ArgumentError
from ncf_keras.models import build_model
from ncf_keras.training.fit import compile_model, train
from ncf_keras.data.sources import synthetic
ds = synthetic(num_users=50, num_items=200, interactions_per_user=6)
model = compile_model(build_model("gmf", ds.num_users, ds.num_items, 8))
try:
    train(model, ds, epochs=1, batch_size=64, verbose=0, distribute="data")
except ArgumentError as e:
    print("ERROR", e)
"""
    result = run_python(code)
    assert "ERROR model was built outside the distribution" in result.stdout, result.stderr[-2000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_coordinator(tmp_path):
    port = free_port()  # nobody listens there
    args = train_args("gmf", tmp_path / "run", "--distribute", "data")
    args += ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", "1"]
    result = run_cli(*args, "--coordinator-timeout", "2")
    assert last_error(result) == (
        f"error: --coordinator 127.0.0.1:{port} did not answer within 2 s: start process 0 "
        "(--process-id 0) there first, or check the address"
    )


def test_two_processes_on_one_host(tmp_path):
    """Two processes of one CPU device each train as one device does with the same batch."""
    port = free_port()
    base = train_args("gmf", tmp_path / "single", "--epochs", "1", "--data-dir", str(tmp_path))
    single = run_cli(*base)
    assert single.returncode == 0, single.stderr[-2000:]
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": XLA_FLAGS,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    processes = []
    for process in (0, 1):
        args = train_args("gmf", tmp_path / f"p{process}", "--epochs", "1")
        args += ["--data-dir", str(tmp_path), "--distribute", "data"]
        args += ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
        args += ["--process-id", str(process), "--coordinator-timeout", "60"]
        code = f"import sys; from ncf_keras.cli.main import main; sys.exit(main({args!r}))"
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for process in processes:
        _, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-2000:]
    one = read_metrics(tmp_path / "single")["history"][0]
    two = read_metrics(tmp_path / "p0")
    assert two["config"]["devices"] == 2
    assert abs(one["loss"] - two["history"][0]["loss"]) <= LOSS_TOLERANCE
    for key in ("hr@10", "ndcg@10"):
        assert abs(one[key] - two["history"][0][key]) <= RANK_TOLERANCE


def test_multi_host_flags_go_together(tmp_path, capsys):
    """--num-processes without --coordinator (or without --distribute): one line, no run."""
    from ncf_keras.cli.main import main

    for extra in (["--num-processes", "2", "--distribute", "data"], ["--coordinator", "h:1"]):
        assert main(train_args("gmf", tmp_path / "run", *extra)) == 2
        assert error_line(capsys) == (
            "error: --coordinator and --num-processes go together, with --distribute"
        )
    assert not (tmp_path / "run").exists()
