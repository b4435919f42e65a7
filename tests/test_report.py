"""The benchmark report: benchmarks/report.py and the tables it builds from the result files."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def load(name: str) -> ModuleType:
    """benchmarks/NAME.py as a module (the scripts import each other by their bare names)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def report() -> ModuleType:
    return load("report")


@pytest.fixture(scope="module")
def quality() -> ModuleType:
    return load("quality_tables")


@pytest.fixture(scope="module")
def benchmark() -> ModuleType:
    return load("quality")


@pytest.fixture(scope="module")
def speed() -> ModuleType:
    return load("speed_tables")


def cells(line: str) -> list[str]:
    """The cells of one Markdown table line."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def record(seed: int, hr: float, alpha: float | None = None, new: bool = True) -> dict:
    """A trained run as quality.py stores it (pre-trained NeuMF when alpha is given)."""
    settings = {"optimizer": "adam", "lr": 0.003, "l2": 0.0, "batch_size": 1024}
    settings |= {"negatives": 8, "epochs": 40, "patience": 8}
    if alpha is not None:
        settings |= {"optimizer": "sgd", "lr": 0.001, "alpha": "validation"}
    if new:
        settings["validation_negatives"] = "never touched"
    metrics = {"hr@10": hr, "ndcg@10": hr / 2}
    return {
        "model": "neumf-pretrained" if alpha is not None else "mlp",
        "factors": 8,
        "seed": seed,
        "settings": settings,
        **({"alpha": alpha} if alpha is not None else {}),
        "seconds": 100.0 + 10 * seed,
        "validation": metrics,
        "test": {"epoch": seed + 3, **metrics},
        "best_test_epoch": {"epoch": seed + 3, **metrics},
        "final": {"epoch": 40, **metrics},
        "full": {"hr@10": hr / 8, "ndcg@10": hr / 16},
    }


def mf(seed: int, factors: int, hr: float, ndcg: float, backend: str = "jax") -> dict:
    """An MF run at `factors` on `backend`, with its test HR@10 and NDCG@10."""
    test = {"epoch": 19, "hr@10": hr, "ndcg@10": ndcg}
    return record(seed, hr) | {"model": "mf", "factors": factors, "backend": backend, "test": test}


def ials(seed: int, hr: float) -> dict:
    """An iALS run as quality.py stores it: its grid, what validation chose, no epochs."""
    metrics = {"hr@10": hr, "ndcg@10": hr / 2}
    settings = {"regularization": [0.01, 0.1, 1.0], "alpha": [1.0, 4.0, 16.0], "iterations": 15}
    return {
        "model": "ials",
        "factors": 64,
        "seed": seed,
        "backend": "implicit",
        "settings": settings | {"validation_negatives": "never touched"},
        "chosen": {"factors": 64, "regularization": 0.1, "alpha": 4.0 * (seed + 1)},
        "seconds": 70.0,
        "fit_seconds": 7.0 + seed,
        "validation": metrics,
        "test": metrics,
        "full": {"hr@10": hr / 8, "ndcg@10": hr / 16},
        "grid": [],
    }


def itempop(factors: int) -> dict:
    """ItemPop's record: no seed, no settings, no validation."""
    metrics = {"hr@10": 0.453, "ndcg@10": 0.254}
    return {"model": "itempop", "factors": factors, "seed": None, "test": metrics, "full": metrics}


# --- Quality ----------------------------------------------------------------------------------


def test_quality_table_rows_are_mean_and_std_over_seeds_in_seed_order(quality):
    table = quality.quality_table({"runs": [record(1, 0.70), record(0, 0.68), itempop(8)]})
    header, separator, first, row = table.splitlines()
    assert separator.count("---|") == header.count("|") - 1
    assert "backend" not in header  # every row ran on TensorFlow
    assert cells(first)[:4] == ["8", "ItemPop", "-", "0.453"]
    assert cells(first)[-2:] == ["-", "-"]  # ItemPop costs nothing and has no settings
    assert cells(row)[:5] == ["8", "MLP", "2", "0.690 ± 0.014", "0.345 ± 0.007"]
    assert cells(row)[6] == "0.671 / 0.399"  # the paper's
    assert cells(row)[10] == "3, 4"  # the epochs validation chose, seed 0 first
    assert cells(row)[12] == "105"  # fit s: the mean of the runs' seconds
    assert "†" not in table


def test_best_test_epoch_column_gives_the_mean_test_metrics_at_each_runs_best_epoch(quality):
    """The paper's protocol: HR@10 and NDCG@10 of each run's best test epoch, not the chosen one."""
    runs = [record(0, 0.68), record(1, 0.70), record(2, 0.69)]
    for run, (hr, ndcg) in zip(runs, [(0.70, 0.41), (0.71, 0.43), (0.72, 0.42)], strict=True):
        run["best_test_epoch"] = {"epoch": 30, "hr@10": hr, "ndcg@10": ndcg}
    with_ials = quality.quality_table({"runs": [*runs, ials(0, 0.72) | {"factors": 8}]})
    header, _, row = with_ials.splitlines()[:3]
    assert dict(zip(cells(header), cells(row), strict=True))[quality.PAPER_PROTOCOL] == "-"  # iALS
    table = quality.quality_table({"runs": runs})
    header, _, row = table.splitlines()
    row = dict(zip(cells(header), cells(row), strict=True))
    assert (row["HR@10"], row[quality.PAPER_PROTOCOL]) == ("0.690 ± 0.010", "0.710 / 0.420")
    assert quality.paper_protocol_notes(table) == [quality.PAPER_PROTOCOL_NOTE, ""]
    assert quality.paper_protocol_notes(quality.tuning_table({"q.json": {"runs": runs}})) == []
    del runs[1]["best_test_epoch"]  # recorded without it: no mean over the other seeds
    table = quality.quality_table({"runs": runs})
    assert "| 0.690 ± 0.010 | 0.345 ± 0.005 | n/a | 0.671 / 0.399 |" in table
    note = quality.paper_protocol_notes(table)[0]
    assert note == f"{quality.PAPER_PROTOCOL_NOTE} {quality.MISSING_NOTE}"


def test_runs_from_before_the_validation_fix_are_marked(quality):
    table = quality.quality_table({"runs": [record(0, 0.68), record(1, 0.70, new=False)]})
    assert "| MLP † |" in table
    assert quality.footnote(table) == [quality.OLD_VALIDATION, ""]
    assert quality.footnote(quality.quality_table({"runs": [record(0, 0.68)]})) == []


def test_alphas_chosen_on_validation_are_listed_per_seed(quality):
    runs = [record(1, 0.73, alpha=0.7), record(0, 0.72, alpha=0.6)]
    table = quality.quality_table({"runs": runs})
    assert "patience 8, batch 1024, alpha by validation (0.6, 0.7) |" in table


def test_ials_row_shows_what_validation_chose_and_its_fit_seconds_but_no_epochs(quality):
    runs = [record(0, 0.68) | {"model": "mf", "factors": 64}, ials(1, 0.72), ials(0, 0.70)]
    header, _, first, second = quality.quality_table({"runs": runs}).splitlines()
    row = dict(zip(cells(header), cells(first), strict=True))
    assert cells(second)[1] == "MF (dot product, biases)"  # iALS comes before the neural rows
    assert [row[c] for c in ("model", "backend", "seeds", "HR@10", "validation HR@10")] == [
        "iALS",
        "implicit",
        "2",
        "0.710 ± 0.014",
        "0.710 ± 0.014",
    ]
    assert [row[c] for c in ("epoch (by validation)", "HR@10 at final epoch")] == ["-", "-"]
    assert row["fit s"] == "7.50"  # the final fits' seconds, not the grid search's
    assert row["settings"] == (
        "15 ALS iterations, regularization from 0.01, 0.1, 1 and alpha from 1, 4, 16 "
        "by validation (0.1 and 4, 0.1 and 8)"
    )


def test_mf_rows_appear_at_every_factor_with_their_backend(quality):
    runs = [mf(0, 128, 0.72, 0.44), mf(0, 192, 0.73, 0.45), record(0, 0.70) | {"model": "mf"}]
    table = quality.quality_table({"runs": runs}, quality.COMPACT_COLUMNS)
    rows = [cells(line) for line in table.splitlines()]
    assert rows[0] == [*quality.COMPACT_COLUMNS]
    assert [row[:3] for row in rows[2:]] == [
        ["8", "MF (dot product, biases)", "tensorflow"],  # recorded before "backend" was
        ["128", "MF (dot product, biases)", "jax"],
        ["192", "MF (dot product, biases)", "jax"],
    ]
    assert quality.costs_note({"runs": runs}, table).startswith("backend: the Keras backend")


def test_costs_note_explains_the_backend_column_only_when_shown_and_gives_the_ials_search(
    quality,
):
    runs = [record(0, 0.68), ials(0, 0.70), ials(1, 0.72)]
    one_backend = quality.quality_table({"runs": runs[:1]})
    assert quality.costs_note({"runs": runs[:1]}, one_backend).startswith("fit s: mean wall")
    note = quality.costs_note({"runs": runs}, quality.quality_table({"runs": runs}))
    assert "or iALS's final fit (with its grid search: 70.00 s at factor 64)." in note


def mf_targets(quality, runs: list[dict]) -> dict:
    """The check of the MF-128-or-192 target over `runs`."""
    return quality.quality_targets({"runs": runs})[0]


def test_quality_targets_pass_at_the_limit_at_either_factor_over_three_seeds(quality):
    at_limit = [mf(seed, 192, 0.73, 0.45) for seed in range(3)]
    below = [mf(seed, 128, 0.74, 0.4499) for seed in range(3)]
    check = mf_targets(quality, below + at_limit)
    assert check["pass"]
    assert [(m["factors"], m["seeds"]) for m in check["measured"]] == [(128, 3), (192, 3)]
    assert not mf_targets(quality, below)["pass"]
    assert not mf_targets(quality, at_limit[:2])["pass"]  # 2 seeds are too few
    notes = quality.targets_notes(quality.quality_targets({"runs": below + at_limit[:2]}))
    assert notes == [
        "- MF at factor 128 or 192, HR@10 ≥ 0.73 and NDCG@10 ≥ 0.45: MISS (factor 128, 3 "
        "seeds: HR@10 0.7400, NDCG@10 0.4499; factor 192, 2 seeds: HR@10 0.7300, NDCG@10 0.4500).",
        "- Pre-trained NeuMF-64, HR@10 ≥ 0.735 and NDCG@10 ≥ 0.45: not run.",
        "- NeuMF-8 without pre-training, HR@10 ≥ 0.688: not run.",
    ]
    few = quality.targets_notes([mf_targets(quality, at_limit[:2])])
    assert few[0].endswith(": too few seeds (factor 192, 2 seeds: HR@10 0.7300, NDCG@10 0.4500).")
    one = quality.targets_notes([mf_targets(quality, at_limit[:1])])
    assert one[0].endswith(": too few seeds (factor 192, 1 seed: HR@10 0.7300, NDCG@10 0.4500).")


def test_neumf_targets_judge_the_right_rows(quality):
    neumf8 = [record(seed, 0.688) | {"model": "neumf"} for seed in range(3)]
    pretrained = [record(seed, 0.7349, alpha=0.6) | {"factors": 64} for seed in range(3)]
    for run in pretrained:
        run["test"] = run["test"] | {"ndcg@10": 0.46}
    checks = quality.quality_targets({"runs": neumf8 + pretrained})
    assert [check["pass"] for check in checks] == [False, False, True]
    assert checks[1]["measured"][0]["hr@10"] == pytest.approx(0.7349)


def test_tuning_table_has_one_row_per_file_model_and_settings(quality):
    other = record(0, 0.66) | {"settings": record(0, 0.66)["settings"] | {"lr": 0.001}}
    files = {"quality-a.json": {"runs": [record(1, 0.70), record(0, 0.68), other, itempop(8)]}}
    rows = [cells(line) for line in quality.tuning_table(files).splitlines()[2:]]
    assert [row[4] for row in rows] == [
        "adam 0.001, 8 negatives, L2 0.0, ≤ 40 epochs, patience 8, batch 1024",
        "adam 0.003, 8 negatives, L2 0.0, ≤ 40 epochs, patience 8, batch 1024",
    ]
    assert rows[1][:4] == ["`quality-a.json`", "8", "MLP", "0, 1"]


def test_quality_table_gives_every_trained_row_its_batch(quality, benchmark):
    """--optimizer sgd reaches the record; each row's settings end with its own batch."""
    args = benchmark.build_parser().parse_args(
        ["--optimizer", "sgd", "--lr", "491.52", "--batch-size", "16384"]
    )
    sgd = mf(0, 128, 0.72, 0.45)
    sgd["settings"] = sgd["settings"] | benchmark.settings_for("mf", args)
    header, _, *rows = quality.quality_table({"runs": [record(0, 0.68), sgd]}).splitlines()
    column = cells(header).index("settings")
    adam, sgd_row = (cells(row)[column] for row in rows)
    assert adam.endswith("patience 8, batch 1024")
    assert sgd_row.startswith("sgd 491.52, 4 negatives") and "patience 4, batch 16384" in sgd_row


def test_tuning_table_names_lazy_adam_and_betas_set_apart_from_the_defaults(quality, benchmark):
    """--betas and --optimizer reach the record, and the table shows them."""
    args = benchmark.build_parser().parse_args(
        ["--optimizer", "lazy-adam", "--lr", "0.01", "--betas", "0.25,0.5"]
    )
    settings = benchmark.settings_for("neumf", args)
    assert (settings["optimizer"], settings["betas"]) == ("lazy-adam", [0.25, 0.5])
    assert "betas" not in benchmark.settings_for("neumf", benchmark.build_parser().parse_args([]))
    run = record(0, 0.66) | {"settings": record(0, 0.66)["settings"] | settings}
    row = cells(quality.tuning_table({"quality-b.json": {"runs": [run]}}).splitlines()[2])
    assert row[4].startswith("lazy-adam 0.01 (betas 0.25, 0.5), 4 negatives")


def test_tuning_table_names_the_schedule_tower_dropout_and_sampler_set_apart_from_the_defaults(
    quality, benchmark
):
    """--schedule, --layers, --dropout and --sample-on reach the record; the table shows them."""
    parser = benchmark.build_parser()
    options = ["--schedule", "cosine", "--layers", "128,32,16,8", "--dropout", "0.2"]
    settings = benchmark.settings_for(
        "neumf", parser.parse_args([*options, "--sample-on", "device"])
    )
    assert settings["schedule"] == "cosine"
    assert (settings["layers"], settings["dropout"]) == ([128, 32, 16, 8], 0.2)
    assert settings["sample_on"] == "device"
    plain = benchmark.settings_for("neumf", parser.parse_args([]))
    assert not {"schedule", "layers", "dropout", "sample_on"} & set(plain)  # older records match
    run = record(0, 0.66) | {"settings": record(0, 0.66)["settings"] | settings}
    row = cells(quality.tuning_table({"quality-c.json": {"runs": [run]}}).splitlines()[2])
    assert row[4].startswith("adam 0.003 cosine, 4 negatives")
    tail = "batch 1024, tower 128-32-16-8, dropout 0.2, negatives drawn on the device"
    assert row[4].endswith(tail)


def test_cosine_decay_falls_from_the_learning_rate_to_half_way_then_near_zero(benchmark):
    schedule = benchmark.cosine_decay(0.01, epochs=4).schedule
    assert [round(schedule(epoch), 6) for epoch in range(4)] == [0.01, 0.008536, 0.005, 0.001464]


def test_tuning_table_lists_ials_with_its_grid_and_no_batch_or_epochs(quality):
    table = quality.tuning_table({"quality-ials.json": {"runs": [ials(0, 0.70)]}})
    row = cells(table.splitlines()[2])
    assert row[4] == (
        "15 ALS iterations, regularization from 0.01, 0.1, 1 and alpha from 1, 4, 16 "
        "by validation (0.1 and 4)"
    )
    assert row[-2:] == ["-", "-"]  # no epochs


def test_ials_settings_survive_the_json_file_so_resuming_compares_them(benchmark):
    parser = benchmark.build_parser()
    settings = benchmark.settings_for("ials", parser.parse_args([]))
    assert settings["regularization"] == [1.0, 10.0, 100.0, 1000.0]
    assert settings["alpha"] == [4.0, 16.0, 64.0]
    assert json.loads(json.dumps(settings)) == settings
    other = benchmark.settings_for("ials", parser.parse_args(["--ials-alpha", "1,4"]))
    assert other != settings
    assert benchmark.settings_for("itempop", parser.parse_args([])) is None


def test_quality_section_gives_each_backend_and_the_targets(report):
    runs = [mf(seed, 128, 0.73, 0.45) for seed in range(3)] + [record(0, 0.68)]
    machine = "AMD EPYC, 2 cores, keras 3.15.1 (jax)"  # the latest invocation's backend only
    section = report.quality_section({"runs": runs, "machine": machine, "commands": []})
    assert "Machine: AMD EPYC, 2 cores, keras 3.15.1; Keras backend: jax, tensorflow." in (
        "\n".join(section)
    )
    assert (
        "- MF at factor 128 or 192, HR@10 ≥ 0.73 and NDCG@10 ≥ 0.45: PASS (factor 128, 3 seeds: "
        "HR@10 0.7300, NDCG@10 0.4500)."
    ) in section


def test_readme_table_is_the_compact_columns_with_the_footnote_where_due(report, quality, tmp_path):
    runs = [itempop(8), record(0, 0.68), record(1, 0.70, new=False)]
    (tmp_path / "quality.json").write_text(json.dumps({"runs": runs}))
    lines = report.readme_text(tmp_path).splitlines()
    compact = "factors|model|seeds|HR@10|NDCG@10|{}|paper HR@10 / NDCG@10|full-ranking HR@10|fit s"
    assert cells(lines[0]) == compact.format(quality.PAPER_PROTOCOL).split("|")
    mlp = ["8", "MLP †", "2", "0.690 ± 0.014", "0.345 ± 0.007", "0.690 / 0.345", "0.671 / 0.399"]
    assert cells(lines[3]) == [*mlp, "0.086 ± 0.002", "105"]
    assert lines[5] == quality.PAPER_PROTOCOL_NOTE  # the one sentence, beside the table
    assert lines[7].startswith("fit s: mean wall seconds per run")
    assert lines[9] == quality.OLD_VALIDATION


# --- Speed --------------------------------------------------------------------------------------


def package_run(
    backend: str, model: str, epoch_s: float, factors: int = 8, train_epoch_s: float | None = None
) -> dict:
    """A speed.py run: 1 s sampling, fit at 1,000,000 rows/s, 0.1 s and 2 s evaluations;
    `train_epoch_s` only where given, as in runs from before it was measured."""
    run = {
        "backend": backend,
        "model": model,
        "factors": factors,
        "batch_size": 16384,
        "sample_s": 1.0,
        "fit_s": 4.0,
        "samples_per_s": 1_000_000.0,
        "sampled_eval_s": 0.1,
        "full_eval_s": 2.0,
        "epoch_s": epoch_s,
        "hr@10": 0.6346,
        "peak_rss_mib": 1394.6,
    }
    return run if train_epoch_s is None else run | {"train_epoch_s": train_epoch_s}


def speed_results(runs: list[dict]) -> dict:
    """speed.py's results with a classic reference of NeuMF, 10x slower at everything."""
    reference = {
        "batch_size": 256,
        "sample_s": 10.0,
        "peak_rss_mib": 1226.7,
        "measured": {"positives": 99_417, "fraction": 0.1, "rows": 497_085}
        | {"users": 200, "full_users": 50},
        "models": [
            {
                "model": "neumf",
                "fit_s": 107.0,
                "samples_per_s": 100_000.0,
                "sampled_eval_s": 490.0,
                "full_eval_s": 20.0,
                "epoch_s": 607.0,
            }
        ],
    }
    environment = {"cpu": "AMD EPYC", "cores": 2, "load_average_at_start": 2.23}
    environment |= {"versions": {"tensorflow": "2.21.0", "keras": "3.15.1", "jax": "0.10.2"}}
    environment |= {"command": "python benchmarks/speed.py --data-dir ../shared/data"}
    results = {"runs": runs, "reference": reference, "skipped": [], "settings": {"repeats": 3}}
    return results | {"environment": environment}


def test_speed_table_derives_speed_ups_and_marks_extrapolated_numbers(speed):
    runs = [package_run("tensorflow", "neumf", 9.25, train_epoch_s=6.07)]
    runs += [package_run("tensorflow", "neumf", 30, 64)]
    results = speed_results([*runs, {"backend": "jax", "model": "gmf", "error": "x"}])
    lines = speed.speed_table(results).splitlines()
    assert cells(lines[2]) == [
        "tensorflow",
        "neumf",
        "8",
        "16384",
        "1.00",
        "4.00",
        "1,000,000",
        "0.100",
        "2.00",
        "9.25",
        "6.07",
        "0.635",
        "1,395",
        "10x / 10x / 4,900x / 10x / 66x",
    ]
    assert cells(lines[3])[:3] + cells(lines[3])[-1:] == ["tensorflow", "neumf", "64", ""]
    assert cells(lines[3])[10] == "-"  # no train epoch measured
    assert cells(lines[4]) == ["jax", "gmf", "8", "FAILED", *[""] * 10]
    classic = ["classic (tf)", "neumf", "8", "256", "10.00\\*", "107\\*", "100,000"]
    assert cells(lines[5])[:7] == classic
    assert cells(lines[5])[-1] == ""  # no speed-up of the classic line over itself


def test_runs_from_before_the_factors_key_count_as_factor_8(speed):
    run = package_run("jax", "neumf", 6.07)
    del run["factors"]
    (ratio,) = speed.speedups(speed_results([run]))
    assert (ratio["factors"], round(ratio["epoch"])) == (8, 100)


def test_targets_pass_at_the_limit_and_miss_above_it(speed):
    runs = [package_run("tensorflow", "neumf", 3.0), package_run("jax", "neumf", 2.0)]
    checks = speed.targets(speed_results(runs))
    assert {(c["backend"], c["target"]): c["pass"] for c in checks} == {
        (backend, target): True
        for backend in ("tensorflow", "jax")
        for target in (
            "one epoch (sampling + fit + sampled eval)",
            "sampling one epoch",
            "sampled evaluation, 6,040 users",
            "full-ranking evaluation",
        )
    }
    slow = [package_run("jax", "neumf", 2.01), package_run("jax", "gmf", 99)]
    slow += [package_run("jax", "neumf", 99, 64), package_run("torch", "neumf", 2.0)]
    checks = speed.targets(speed_results(slow))
    # jax NeuMF-8: the epoch misses; torch NeuMF-8: no epoch target, the other three pass
    assert [c["pass"] for c in checks] == [False, True, True, True, True, True, True]
    note = speed.targets_note(checks, speed.speedups(speed_results(slow)))
    assert "jax one epoch (sampling + fit + sampled eval) 2.01 s (<= 2: MISS)" in note
    assert "jax epoch 302x the classic approach's (>= 100x: PASS)" in note
    assert "torch one epoch" not in note  # no epoch target there; its other targets hold
    assert "train epoch" not in note  # not measured in these runs


def test_the_epoch_as_train_runs_it_has_the_same_limits_and_its_own_speed_up(speed):
    runs = [package_run("jax", "neumf", 9.0, train_epoch_s=2.0)]
    runs += [package_run("tensorflow", "neumf", 9.0, train_epoch_s=3.01)]
    results = speed_results(runs)
    checks = speed.targets(results)
    as_train = "one epoch as train runs it (next draw overlapped)"
    verdicts = {c["backend"]: c["pass"] for c in checks if c["target"] == as_train}
    assert verdicts == {"jax": True, "tensorflow": False}
    note = speed.targets_note(checks, speed.speedups(results))
    assert "jax train epoch 304x the classic approach's (>= 100x: PASS)" in note
    assert "tensorflow train epoch 202x" in note and "tensorflow epoch 67x" in note


def test_a_run_without_full_ranking_shows_a_dash_and_checks_the_rest(speed):
    run = package_run("jax", "neumf", 2.0) | {"full_eval_s": None}
    run["one_off"] = {"load_s": 1, "unseen_index_s": 0.1, "warmup_epoch_s": 5}
    run["one_off"] |= {"sampled_eval_first_call_s": 0.5, "full_eval_first_call_s": None}
    run["one_off"] |= {"rss_after_load_mib": 400}
    results = speed_results([run])
    row = cells(speed.speed_table(results).splitlines()[2])
    assert row[8] == "-"
    assert row[-1] == "10x / 10x / 4,900x / - / 304x"
    targets = [c["target"] for c in speed.targets(results)]
    assert "full-ranking evaluation" not in targets and len(targets) == 3
    assert cells(speed.one_off_table(results).splitlines()[2])[7] == "-"


def test_the_epoch_speed_up_target_is_100x(speed):
    ratios = speed.speedups(speed_results([package_run("jax", "neumf", 6.08)]))
    note = speed.targets_note([], ratios)
    assert note.endswith("jax epoch 100x the classic approach's (>= 100x: MISS).")


def test_speed_notes_give_the_machine_and_what_the_classic_numbers_come_from(speed):
    notes = speed.speed_notes(speed_results([package_run("tensorflow", "neumf", 9.25)]))
    assert notes[0].startswith("- Machine: AMD EPYC, 2 cores, load average 2.2 at the start;")
    assert "99,417 seeded-random positives (10.0% of an epoch, 497,085 rows)" in notes[1]
    assert "at batch 256" in notes[1]
    assert notes[2].startswith("- Targets for NeuMF-8: tensorflow one epoch")


def test_seconds_keep_three_significant_figures_or_whole_seconds(speed):
    assert [speed.seconds(s) for s in (0.8336, 2.5787, 92.123, 107.4)] == [
        "0.834",
        "2.58",
        "92.12",
        "107",
    ]


# --- Time to quality -------------------------------------------------------------------------


def time_to_quality_run(batch: int, negatives: int, seed: int, hrs: list[float], reached: bool):
    """One arm of time_to_quality.py; 10 wall seconds per epoch."""
    history = [{"epoch": e, "hr@10": hr, "wall_s": 10.0 * e} for e, hr in enumerate(hrs, 1)]
    return {
        "backend": "tensorflow",
        "batch_size": batch,
        "negatives": negatives,
        "seed": seed,
        "learning_rate": 0.001 if batch == 256 else 0.003,
        "reached": reached,
        "epochs": len(hrs) if reached else None,
        "wall_s": history[-1]["wall_s"] if reached else None,
        "history": history,
    }


@pytest.fixture
def time_to_quality_results() -> dict:
    runs = [
        time_to_quality_run(1024, 4, 0, [0.60, 0.67997], reached=False),
        time_to_quality_run(256, 4, 1, [0.60, 0.65, 0.6806], reached=True),
        {"backend": "tensorflow", "batch_size": 1024, "negatives": 8, "seed": 2, "error": "boom"},
    ]
    return {
        "runs": runs,
        "skipped": [{"backend": "jax", "reason": "not installed"}],
        "settings": {"max_epochs": 2, "seeds": [0, 1, 2], "target_hr@10": 0.68},
        "environment": {
            "command": "python benchmarks/time_to_quality.py --data-dir /data/x --json t.json",
            "load_average_at_start": 0.5,
        },
    }


def test_time_to_quality_rows_name_each_arm_and_never_round_up_to_the_target(
    speed, time_to_quality_results
):
    lines = speed.time_to_quality_table(time_to_quality_results).splitlines()
    assert cells(lines[0]) == speed.TIME_TO_QUALITY_COLUMNS
    assert [cells(line) for line in lines[2:]] == [
        ["tensorflow", "1024", "4", "0", "not reached in 2", "> 20.00", "0.6799", "10.00"],
        ["tensorflow", "256", "4", "1", "3", "30.00", "0.6806", "10.00"],
        ["tensorflow", "1024", "8", "2", "FAILED", "", "", ""],
    ]


def test_hr_is_truncated_but_float_error_does_not_cost_a_hit(speed):
    assert speed.hr_text(4107 / 6040) == "0.6799"
    assert speed.hr_text(4108 / 6040) == "0.6801"
    assert speed.hr_text(0.6003) == "0.6003"  # 0.6003 * 10,000 is 6002.999... in floating point


def test_time_to_quality_note_and_printout_come_from_the_runs(speed, time_to_quality_results):
    note = speed.time_to_quality_note(time_to_quality_results)
    assert "arms (batch / negatives per positive / Adam lr) 1024 / 4 / 0.003, 256 / 4 / 0.001," in (
        note
    )
    assert "seeds 0, 1, 2;" in note and "at most 2 epochs" in note and "reaches 0.68:" in note
    printout = speed.time_to_quality_printout(time_to_quality_results).splitlines()
    assert "tensorflow batch 256, 4 negatives, seed 1: HR@10 by epoch 0.6000, 0.6500, 0.6806" in (
        printout
    )
    failed = printout.index("tensorflow batch 1024, 8 negatives, seed 2 FAILED:")
    assert printout[failed + 1] == "boom"
    assert printout[-1] == "jax: not installed"


# --- The READMEs -----------------------------------------------------------------------------


def test_commands_point_at_the_data_dir_variable_not_a_development_folder(report):
    command = "python benchmarks/quality.py --data-dir ../shared/data --factors 8 --seeds 0"
    assert report.public_command(command) == (
        'python benchmarks/quality.py --data-dir "$NCF_DATA_DIR" --factors 8 --seeds 0'
    )
    assert report.public_command("python x.py --data-dir=/data --json a.json") == (
        'python x.py --data-dir "$NCF_DATA_DIR" --json a.json'
    )


def test_speed_section_lists_both_commands_after_the_tables(report, time_to_quality_results):
    section = report.speed_section(
        speed_results([package_run("tensorflow", "neumf", 9.25)]), time_to_quality_results
    )
    block = section[section.index("```bash") + 1 : -2]
    assert block == [
        'python benchmarks/speed.py --data-dir "$NCF_DATA_DIR"',
        'python benchmarks/time_to_quality.py --data-dir "$NCF_DATA_DIR" --json t.json',
    ]
    assert section.index("Time to quality:") < section.index("```bash")


def test_only_the_text_between_the_markers_is_replaced(report, tmp_path):
    path = tmp_path / "README.md"
    path.write_text("before\n<!-- results: generated -->\nold\n<!-- end results -->\nafter\n")
    report.replace_generated(path, "new\n")
    assert path.read_text() == (
        "before\n<!-- results: generated -->\nnew\n<!-- end results -->\nafter\n"
    )
    path.write_text("no markers\n")
    with pytest.raises(SystemExit, match="markers not found"):
        report.replace_generated(path, "new\n")
    assert path.read_text() == "no markers\n"


def test_committed_readmes_hold_what_the_result_files_give(report):
    """After a benchmark, `python benchmarks/report.py` must be run (and its output committed)."""
    for path, text in [
        (report.README, report.readme_text()),
        (report.BENCHMARKS_README, report.benchmarks_text()),
    ]:
        generated = report.MARKERS.search(path.read_text())
        assert generated is not None, f"{path}: no results markers"
        assert text in generated[0], f"{path} is out of date: run python benchmarks/report.py"


def test_scale_keeps_the_runs_of_a_file_measured_the_same_way(tmp_path):
    """A later scale.py invocation adds to its JSON file; other settings start afresh."""
    scale = load("scale")
    run = {"backend": "jax", "optimizer": "adam", "batch_size": 1024, "interactions": 10}
    path = tmp_path / "scale.json"
    settings = {"fit_steps": 200, "full_users": 500}
    path.write_text(
        json.dumps(
            {
                "settings": settings | {"sizes": [10]},
                "runs": [run, run | {"error": "boom"}],
                "environment": {"command": "second", "earlier_commands": ["first"]},
            }
        )
    )
    assert scale.kept_runs(path, settings) == ([run], ["first", "second"])
    assert scale.kept_runs(path, settings | {"fit_steps": 100}) == ([], [])
    assert scale.kept_runs(tmp_path / "none.json", settings) == ([], [])
