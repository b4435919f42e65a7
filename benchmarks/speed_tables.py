"""The speed tables: speed.py's, classic.py's and time_to_quality.py's measurements, shown.

Everything here is derived from the numbers in the result files: the rows, the
speed-ups over the classic reference (ratios measured in one run), the PASS or
MISS of each target, and the notes that say how the numbers were measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from common import Result, markdown_table

# NeuMF-8 on a 2-core CPU, default settings: (what, at most this many seconds, on
# every backend or per backend).
EPOCH_LIMITS = {"jax": 2.0, "tensorflow": 3.0}  # seconds, either way of counting an epoch
TARGETS = {
    "epoch_s": ("one epoch (sampling + fit + sampled eval)", EPOCH_LIMITS),
    "train_epoch_s": ("one epoch as train runs it (next draw overlapped)", EPOCH_LIMITS),
    "sample_s": ("sampling one epoch", 1.0),
    "sampled_eval_s": ("sampled evaluation, 6,040 users", 0.5),
    "full_eval_s": ("full-ranking evaluation", 10.0),
}
EPOCH_SPEEDUP_TARGET = 100  # NeuMF-8's epoch against the classic approach's, in one run
REFERENCE_FACTORS = 8  # the classic reference's predictive factors
SPEED_COLUMNS = [
    "backend",
    "model",
    "factors",
    "batch",
    "sampling s",
    "fit s",
    "fit rows/s",
    "sampled eval s",
    "full eval s",
    "epoch s",
    "train epoch s",
    "HR@10",
    "peak RSS MiB",
]
SPEEDUP_COLUMN = "speed-up vs classic: sampling / fit / sampled eval / full eval / epoch"
RATIO_KEYS = ("sampling", "fit_rows_per_s", "sampled_eval", "full_eval", "epoch")
TIME_TO_QUALITY_COLUMNS = [
    "backend",
    "batch",
    "negatives",
    "seed",
    "epochs",
    "wall s",
    "best HR@10",
    "s/epoch",
]


def seconds(value: float) -> str:
    """Seconds with a precision that suits their size: '0.834', '2.58', '395'."""
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def hr_text(hr: float) -> str:
    """HR@10 truncated to 4 decimals, never rounded up: 4,107/6,040 = 0.67997 shows as
    0.6799, not as 0.6800, which would look like it met the 0.68 target."""
    return f"{math.floor(hr * 10_000 + 1e-9) / 10_000:.4f}"  # 1e-9: float error, not a hit


def seconds_or_dash(value: float | None) -> str:
    """`seconds(value)`, or "-" for a time that was not measured."""
    return "-" if value is None else seconds(value)


def arm_text(run: Result) -> str:
    """A time-to-quality arm in words: 'batch 1024, 8 negatives, seed 0'."""
    return f"batch {run['batch_size']}, {run['negatives']} negatives, seed {run['seed']}"


# --- Speed -------------------------------------------------------------------------------


def speedups(speed: Result) -> list[Result]:
    """Classic time / package time per (backend, model); for fit, the ratio of rows per second."""
    reference = speed.get("reference")
    if not reference or "error" in reference:
        return []
    by_model = {ref["model"]: ref for ref in reference["models"]}
    ratios = []
    for run in speed.get("runs", []):
        ref = by_model.get(run["model"])
        if ref is None or "error" in run or factors_of(run) != REFERENCE_FACTORS:
            continue
        ratios.append(
            {
                "backend": run["backend"],
                "model": run["model"],
                "factors": REFERENCE_FACTORS,
                "sampling": reference["sample_s"] / run["sample_s"],
                "fit_rows_per_s": run["samples_per_s"] / ref["samples_per_s"],
                "sampled_eval": ref["sampled_eval_s"] / run["sampled_eval_s"],
                "full_eval": ref["full_eval_s"] / run["full_eval_s"]
                if run["full_eval_s"]
                else None,
                "epoch": ref["epoch_s"] / run["epoch_s"],
                "train_epoch": ref["epoch_s"] / run["train_epoch_s"]
                if run.get("train_epoch_s")
                else None,
            }
        )
    return ratios


def factors_of(run: Result) -> int:
    """A run's predictive factors; runs measured before `--factors` existed had 8."""
    return run.get("factors", 8)


def targets(speed: Result) -> list[Result]:
    """PASS or MISS of every target of TARGETS, for every backend's NeuMF-8 run."""
    checks = []
    for run in speed.get("runs", []):
        if run["model"] != "neumf" or factors_of(run) != 8 or "error" in run:
            continue
        for key, (what, limits) in TARGETS.items():
            limit = limits.get(run["backend"]) if isinstance(limits, dict) else limits
            if limit is None or run.get(key) is None:
                continue
            checks.append(
                {
                    "backend": run["backend"],
                    "target": what,
                    "limit_s": limit,
                    "measured_s": run[key],
                    "pass": run[key] <= limit,
                }
            )
    return checks


def speed_rows(speed: Result) -> list[list[str]]:
    """One row per (backend, model) run, then one per classic model; extrapolated ones carry *."""
    rows = []
    for run in speed.get("runs", []):
        if "error" in run:
            rows.append([run["backend"], run["model"], str(factors_of(run)), "FAILED"])
            continue
        rows.append(
            [
                run["backend"],
                run["model"],
                str(factors_of(run)),
                str(run["batch_size"]),
                seconds(run["sample_s"]),
                seconds(run["fit_s"]),
                f"{run['samples_per_s']:,.0f}",
                seconds(run["sampled_eval_s"]),
                seconds_or_dash(run["full_eval_s"]),
                seconds(run["epoch_s"]),
                seconds_or_dash(run.get("train_epoch_s")),
                f"{run['hr@10']:.3f}",
                f"{run['peak_rss_mib']:,.0f}",
            ]
        )
    reference = speed.get("reference")
    if reference and "error" not in reference:
        for ref in reference["models"]:
            rows.append(
                [
                    "classic (tf)",
                    ref["model"],
                    str(REFERENCE_FACTORS),
                    str(reference["batch_size"]),
                    seconds(reference["sample_s"]) + "*",
                    seconds(ref["fit_s"]) + "*",
                    f"{ref['samples_per_s']:,.0f}",
                    seconds(ref["sampled_eval_s"]) + "*",
                    seconds(ref["full_eval_s"]) + "*",
                    seconds(ref["epoch_s"]) + "*",
                    "-",
                    "-",
                    f"{reference['peak_rss_mib']:,.0f}",
                ]
            )
    return [row + [""] * (len(SPEED_COLUMNS) - len(row)) for row in rows]


def speed_table(speed: Result) -> str:
    """Markdown: the speed rows, each package row with its speed-ups over the classic one."""
    ratios = {(r["backend"], r["model"], str(r["factors"])): r for r in speedups(speed)}
    rows = []
    for cells in speed_rows(speed):
        r = ratios.get(tuple(cells[:3]))
        parts = ("-" if r[k] is None else f"{r[k]:,.0f}x" for k in RATIO_KEYS) if r else ()
        ratio_cell = " / ".join(parts)
        # Markdown would read a bare "*" as emphasis.
        rows.append([*(cell.replace("*", "\\*") for cell in cells), ratio_cell])
    return markdown_table([*SPEED_COLUMNS, SPEEDUP_COLUMN], rows)


def machine_note(speed: Result) -> str:
    """The machine, its load, the versions, and what fit, evaluation and epoch count."""
    env = speed["environment"]
    v = env["versions"]
    return (
        f"Machine: {env['cpu']}, {env['cores']} cores, load average "
        f"{env['load_average_at_start']:.1f} at the start; TensorFlow {v['tensorflow']}, "
        f"Keras {v['keras']}, JAX {v['jax']}. Fit: the median of "
        f"{speed['settings']['repeats']} epochs of model.fit after a warm-up epoch (with "
        "tracing and XLA compilation), each one's negative draw excluded; evaluations "
        "after one warm-up call; epoch = sampling + fit + sampled eval; train epoch = the "
        f"median of {speed['settings']['repeats']} epochs of `train` after its first, the "
        "next epoch's draw overlapping the fit. "
        "Ratios measured in one run are the figures that count: absolute times on a "
        "shared machine are noisy."
    )


def reference_note(reference: Result) -> str:
    """How the classic reference was measured, and from how much each number is extrapolated."""
    m = reference["measured"]
    return (
        f"classic (tf) = the paper code's approach on the TensorFlow backend: per-row Python "
        f"loop with set lookups for the negatives, model.fit on numpy arrays at batch "
        f"{reference['batch_size']} with a plain compile (no XLA, 1 batch per call), one "
        f"model.predict per user. Warm-up fit (20 batches) and predict before timing. Numbers "
        f"marked * are extrapolated linearly: sampling and fit from {m['positives']:,} "
        f"seeded-random positives ({m['fraction']:.1%} of an epoch, {m['rows']:,} rows), "
        f"sampled eval from the first {m['users']:,} users, "
        f"full eval from the first {m['full_users']:,} users."
    )


def targets_note(checks: list[Result], ratios: list[Result]) -> str:
    """Every target with its measured seconds and PASS or MISS, then NeuMF-8's epoch speed-ups."""
    verdicts = [
        f"{c['backend']} {c['target']} {seconds(c['measured_s'])} s "
        f"(<= {c['limit_s']:g}: {'PASS' if c['pass'] else 'MISS'})"
        for c in checks
    ]
    verdicts += [
        f"{r['backend']} {what} {r[key]:,.0f}x the classic approach's "
        f"(>= {EPOCH_SPEEDUP_TARGET}x: {'PASS' if r[key] >= EPOCH_SPEEDUP_TARGET else 'MISS'})"
        for r in ratios
        for key, what in (("epoch", "epoch"), ("train_epoch", "train epoch"))
        if r["model"] == "neumf" and r[key] is not None
    ]
    return f"Targets for NeuMF-8: {'; '.join(verdicts)}."


def speed_notes(speed: Result) -> list[str]:
    """The bullets under the speed table: machine, classic reference, targets."""
    notes = [machine_note(speed)]
    reference = speed.get("reference")
    if reference and "error" not in reference:
        notes.append(reference_note(reference))
    checks = targets(speed)
    if checks:
        notes.append(targets_note(checks, speedups(speed)))
    return [f"- {note}" for note in notes]


# --- Time to quality -----------------------------------------------------------------------


def time_to_quality_rows(section: Result) -> list[list[str]]:
    """One row per (backend, arm, seed): epochs and wall seconds to the target HR@10."""
    rows = []
    for run in section["runs"]:
        arm = [run["backend"], str(run["batch_size"]), str(run["negatives"]), str(run["seed"])]
        if "error" in run:
            rows.append([*arm, "FAILED", "", "", ""])
            continue
        last = run["history"][-1]
        reached = run["reached"]
        rows.append(
            [
                *arm,
                str(run["epochs"]) if reached else f"not reached in {last['epoch']}",
                seconds(run["wall_s"]) if reached else f"> {seconds(last['wall_s'])}",
                hr_text(max(h["hr@10"] for h in run["history"])),
                seconds(last["wall_s"] / last["epoch"]),
            ]
        )
    return rows


def time_to_quality_table(section: Result) -> str:
    """Markdown: epochs and wall seconds to the target, per backend, arm and seed."""
    return markdown_table(TIME_TO_QUALITY_COLUMNS, time_to_quality_rows(section))


def time_to_quality_note(section: Result) -> str:
    """What the time-to-quality numbers count, with the arms' settings as the runs recorded them."""
    settings = section["settings"]
    arms = []
    for run in section["runs"]:
        if "learning_rate" in run:
            arm = f"{run['batch_size']} / {run['negatives']} / {run['learning_rate']}"
            arms += [arm] if arm not in arms else []
    load = section["environment"]["load_average_at_start"]
    return (
        f"- Time to quality: NeuMF-8 with compile_model defaults, arms (batch / negatives per "
        f"positive / Adam lr) {', '.join(arms)}, seeds "
        f"{', '.join(map(str, settings['seeds']))}; one model.fit(epochs=1) on TrainingSamples "
        f"and one metrics.evaluate per epoch, at most {settings['max_epochs']} epochs. Wall "
        f"seconds from building the model (data already loaded) until the sampled HR@10 first "
        f"reaches {settings['target_hr@10']}: compilation, sampling, fit and evaluation all "
        f"count. HR@10 values are truncated to 4 decimals. Load average {load:.1f} at the start."
    )


# --- What the scripts print ------------------------------------------------------------------


def one_off_table(speed: Result) -> str:
    """Markdown: the one-off costs of each measured run, which the speed table leaves out."""
    header = ["backend", "model", "factors", "load s", "unseen-item index s", "warm-up epoch s"]
    header += ["1st sampled eval s", "1st full eval s", "RSS after load MiB"]
    rows = []
    for run in speed.get("runs", []):
        if "error" not in run:
            o = run["one_off"]
            rows.append(
                [
                    run["backend"],
                    run["model"],
                    str(factors_of(run)),
                    *(seconds(o[key]) for key in ("load_s", "unseen_index_s", "warmup_epoch_s")),
                    seconds(o["sampled_eval_first_call_s"]),
                    seconds_or_dash(o["full_eval_first_call_s"]),
                    f"{o['rss_after_load_mib']:,.0f}",
                ]
            )
    return markdown_table(header, rows)


def failures(parts: list[Result], name: Callable[[Result], str]) -> list[str]:
    """'NAME FAILED:' and the error, for every part that failed; `name` names a part."""
    failed = [part for part in parts if "error" in part]
    return [line for part in failed for line in (f"{name(part)} FAILED:", part["error"])]


def skipped_lines(section: Result) -> list[str]:
    """'jax: not installed' for every backend the run skipped."""
    return [f"{skipped['backend']}: {skipped['reason']}" for skipped in section.get("skipped", [])]


def speed_printout(speed: Result) -> str:
    """What speed.py and classic.py print: the speed table, its notes and the one-off costs."""
    lines = [speed_table(speed), "", *speed_notes(speed), *skipped_lines(speed)]
    if any("error" not in run for run in speed.get("runs", [])):
        lines += ["", "One-off costs, not in the table:", "", one_off_table(speed)]
    lines += failures(
        speed.get("runs", []), lambda run: f"{run['backend']} {run['model']}-{factors_of(run)}"
    )
    lines += failures([speed.get("reference") or {}], lambda _: "classic reference")
    return "\n".join(lines)


def time_to_quality_printout(section: Result) -> str:
    """What time_to_quality.py prints: the note, the table, and each arm's HR@10 by epoch."""
    lines = [time_to_quality_note(section), "", time_to_quality_table(section), ""]
    for run in section["runs"]:
        if "error" not in run:
            curve = ", ".join(hr_text(h["hr@10"]) for h in run["history"])
            lines.append(f"{run['backend']} {arm_text(run)}: HR@10 by epoch {curve}")
    lines += failures(section["runs"], lambda run: f"{run['backend']} {arm_text(run)}")
    return "\n".join([*lines, *skipped_lines(section)])
