"""`train` removes or replaces only what it can prove it wrote, and a kill while it replaces
a run loses neither the old run nor the new one."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
from helpers import error_line, train_args

from ncf_keras.cli.main import main
from ncf_keras.errors import DataError
from ncf_keras.runs import atomic, ownership
from ncf_keras.runs.atomic import old_path, partial_path, writing


def snapshot(root: Path) -> dict[str, object]:
    """Every path under `root` (itself excluded): file bytes, link targets, or "dir"."""
    seen: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            seen[key] = ("link", os.readlink(path))
        elif path.is_dir():
            seen[key] = "dir"
        else:
            seen[key] = path.read_bytes()
    return seen


def write_run(folder: Path, label: str, *, overwrite: bool = False) -> None:
    """A stand-in run written through `writing`: two files that say which run it is."""
    with writing(folder, overwrite=overwrite) as partial:
        (partial / "metrics.json").write_text(json.dumps({"run": label}))
        (partial / "model.keras").write_bytes(label.encode() * 100)


def label_of(folder: Path) -> str:
    assert ownership.not_ours(folder) is None, ownership.not_ours(folder)
    return json.loads((folder / "metrics.json").read_text())["run"]


def beside(folder: Path) -> list[str]:
    """The names in `folder`'s parent: the run and whatever partial, old or lock it left."""
    return sorted(p.name for p in folder.parent.iterdir())


# --- a user's folder ---------------------------------------------------------------------


@pytest.mark.parametrize("others", [{}, {"notes.txt": "mine", "data.csv": "u,i\n1,2\n"}])
def test_a_users_folder_with_a_stray_metrics_json_is_never_touched(tmp_path, capsys, others):
    """The case that once wiped a home folder: `--overwrite` into a folder that merely holds
    a metrics.json (alone, or beside the user's files) is refused, and nothing changes."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "metrics.json").write_text('{"model": "gmf", "config": {}}')
    for name, text in others.items():
        (folder / name).write_text(text)
    (folder / "sub").mkdir()
    (folder / "sub" / "keep.txt").write_text("keep")
    before = snapshot(tmp_path)
    assert main(train_args("gmf", folder, "--overwrite")) == 2
    assert error_line(capsys) == (
        f"error: {folder}: holds no ncf-keras-run.json marker, so it is no run ncf-keras wrote "
        "(or one older than markers); train replaces only a run folder it wrote itself, "
        "unchanged: choose another --out"
    )
    assert snapshot(tmp_path) == before


def test_a_run_the_user_added_to_or_changed_is_not_replaced(tmp_path):
    run = tmp_path / "run"
    write_run(run, "a")
    assert json.loads((run / ownership.MARKER).read_text())["files"].keys() == {
        "metrics.json",
        "model.keras",
    }
    (run / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"holds files ncf-keras did not write \(notes.txt\)"):
        write_run(run, "b", overwrite=True)
    (run / "notes.txt").unlink()
    (run / "metrics.json").write_text('{"run": "edited by hand"}')
    with pytest.raises(DataError, match=r"metrics\.json changed since ncf-keras wrote it"):
        write_run(run, "b", overwrite=True)
    (run / "metrics.json").unlink()  # a run's own file removed: what is left is still the tool's
    (run / "model.keras").rename(tmp_path / "elsewhere")
    (run / "model.keras").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DataError, match=r"did not write \(model.keras\)"):
        write_run(run, "b", overwrite=True)
    assert (tmp_path / "elsewhere").read_bytes() == b"a" * 100


def test_overwrite_replaces_a_run_it_wrote_and_leaves_nothing_beside(tmp_path):
    run = tmp_path / "run"
    write_run(run, "a")
    with pytest.raises(DataError, match="already holds a complete run; pass --overwrite"):
        write_run(run, "b")
    (run / "metrics.json").unlink()  # a file of its own missing: still the tool's to replace
    write_run(run, "b", overwrite=True)
    assert label_of(run) == "b"
    assert beside(run) == ["run"]


def test_a_link_where_the_run_or_its_partial_folder_stands_is_never_followed(tmp_path):
    target = tmp_path / "target"
    write_run(target, "a")
    before = snapshot(target)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(DataError, match="is a symbolic link, which ncf-keras never replaces"):
        write_run(tmp_path / "link", "b", overwrite=True)
    partial_path(tmp_path / "run").symlink_to(target)
    with pytest.raises(DataError, match=r"\.run\.partial: is in the way .* did not write it"):
        write_run(tmp_path / "run", "b")
    assert snapshot(target) == before


@pytest.mark.parametrize("resume", [False, True])
def test_a_partial_folder_the_tool_did_not_write_is_never_removed(tmp_path, resume):
    partial = partial_path(tmp_path / "run")
    partial.mkdir()
    (partial / "mine.txt").write_text("mine")
    with (
        pytest.raises(DataError, match="is in the way of the run's partial folder"),
        writing(tmp_path / "run", resume=resume),
    ):
        pass
    assert (partial / "mine.txt").read_text() == "mine"


def test_the_working_directory_home_and_root_are_never_written(tmp_path, monkeypatch, capsys):
    home, work = tmp_path / "home", tmp_path / "home" / "work"
    work.mkdir(parents=True)
    (work / "metrics.json").write_text("{}")
    (home / ".bashrc").write_text("# mine")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    before = snapshot(tmp_path)
    for out, what in [
        (".", "the working directory"),
        (str(work), "the working directory"),
        ("..", "your home folder"),
        (str(tmp_path), "a folder above the working directory"),
        ("/", "the root folder"),
    ]:
        assert main(train_args("gmf", Path(out), "--overwrite")) == 2, out
        assert error_line(capsys) == (
            f"error: {out}: is {what}; a run needs a folder of its own, "
            f"such as {Path(out, 'runs', 'neumf')}"
        )
    assert snapshot(tmp_path) == before


# --- a kill between the final renames -----------------------------------------------------


class Killed(BaseException):
    """Stands for the process being killed: nothing after it folder."""


def kill_at_call(monkeypatch, number: int) -> list[str]:
    """Make the `number`-th rename, unlink or rmdir inside `atomic._place` raise Killed.

    Returns the calls made, as names, for the test to see where it landed.
    """
    calls: list[str] = []
    place = atomic._place

    def faulty(name: str, real):
        def call(*args, **kwargs):
            calls.append(name)
            if len(calls) == number:
                raise Killed
            return real(*args, **kwargs)

        return call

    def placing(partial: Path, folder: Path) -> None:
        with monkeypatch.context() as m:
            for name in ("rename", "unlink", "rmdir"):
                m.setattr(os, name, faulty(name, getattr(os, name)))
            place(partial, folder)

    monkeypatch.setattr(atomic, "_place", placing)
    return calls


def test_a_kill_at_each_step_of_the_final_renames_loses_neither_run(tmp_path, monkeypatch):
    """Killed at every rename, unlink and rmdir of replacing run "old" by run "new": both
    runs stay whole, and the next write into the folder puts "new" in place, removes
    "old", and says so."""
    steps = 0
    while True:
        steps += 1
        run = tmp_path / f"run{steps}"
        write_run(run, "old")
        with monkeypatch.context() as m:
            calls = kill_at_call(m, steps)
            try:
                write_run(run, "new", overwrite=True)
            except Killed:
                pass
            else:
                break  # every step has been killed once
        if run.exists() and label_of(run) == "new":  # placed: the old run may be half removed
            old = old_path(run)
            assert not old.exists() or not any(old.iterdir()) or ownership.not_ours(old) is None
        else:  # both whole, one of them not yet in place
            alive = [p for p in (run, partial_path(run), old_path(run)) if p.exists()]
            assert sorted(label_of(p) for p in alive) == ["new", "old"], calls
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            with pytest.raises(DataError, match="already holds a complete run"):
                write_run(run, "later")
        assert label_of(run) == "new", calls
        assert not partial_path(run).exists() and not old_path(run).exists(), calls
        assert not run.with_name(f".{run.name}.lock").exists()
        if calls[-1] != "rmdir":  # only an empty folder was left: removed without a word
            assert said, f"the recovery said nothing after {calls}"
        assert {str(w.message).split(": ", 1)[1].split(",")[0] for w in said} <= {
            "put in place the finished run that an interrupted train left",
            "removed the run it replaced",
        }, [str(w.message) for w in said]
    assert steps > 5, f"the replacement took only {steps - 1} steps: {calls}"


def test_a_stale_old_folder_that_is_not_ours_never_strands_a_finished_run(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep")
    run = tmp_path / "runs" / "run"
    write_run(run, "a")
    old_path(run).symlink_to(elsewhere)
    # In the way before training: refused at once, before any work.
    with pytest.raises(DataError, match=r"\.run\.old: is in the way of replacing"):
        write_run(run, "b", overwrite=True)
    old_path(run).unlink()
    # In the way only once the run is finished: the finished run waits, and is placed later.
    with (
        pytest.raises(DataError, match=r"the next train into .* puts it there"),
        writing(run, overwrite=True) as partial,
    ):
        (partial / "metrics.json").write_text(json.dumps({"run": "b"}))
        old_path(run).symlink_to(elsewhere)
    assert label_of(run) == "a"
    assert ownership.marker_state(partial_path(run)) == ownership.COMPLETE
    old_path(run).unlink()
    with (
        pytest.warns(UserWarning, match="put in place the finished run"),
        pytest.raises(DataError, match="already holds a complete run"),
    ):
        write_run(run, "c")
    assert label_of(run) == "b"
    assert snapshot(elsewhere) == {"precious.txt": b"keep"}
    assert beside(run) == ["run"]


def test_a_stale_old_run_of_its_own_is_removed_with_a_note(tmp_path):
    run = tmp_path / "run"
    write_run(run, "a")
    write_run(old_path(run), "older")  # as a kill before the last step leaves it
    with pytest.warns(UserWarning, match=r"removed the run it replaced, left in .*\.run\.old"):
        write_run(run, "b", overwrite=True)
    assert label_of(run) == "b"
    assert beside(run) == ["run"]


def test_an_old_run_without_its_replacement_is_restored(tmp_path):
    run = tmp_path / "run"
    write_run(old_path(run), "a")
    with (
        pytest.warns(UserWarning, match="restored the run an interrupted train had moved"),
        pytest.raises(DataError, match="already holds a complete run"),
    ):
        write_run(run, "b")
    assert label_of(run) == "a"


# --- lock files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"", b"\x00\xff\xfe\x80 binary", b"not a lock at all\n", b"otherhost 12 34"]
)
def test_a_lock_file_its_writer_left_is_taken_over_whatever_it_holds(tmp_path, content):
    run = tmp_path / "run"
    lock = tmp_path / ".run.lock"
    lock.write_bytes(content)
    write_run(run, "a")
    assert label_of(run) == "a"
    assert not lock.exists()


def test_a_lock_that_is_a_folder_or_a_link_is_one_line(tmp_path, capsys):
    lock = tmp_path / ".run.lock"
    lock.mkdir()
    assert main(train_args("gmf", tmp_path / "run")) == 2
    assert error_line(capsys) == (
        f"error: {tmp_path / 'run'}: cannot write there ({lock}: a folder stands there; "
        "move it away)"
    )
    lock.rmdir()
    (tmp_path / "target.txt").write_text("keep")
    lock.symlink_to(tmp_path / "target.txt")
    with pytest.raises(DataError, match="a symbolic link stands there; remove it"):
        write_run(tmp_path / "run", "a")
    assert (tmp_path / "target.txt").read_text() == "keep"


def test_the_command_refuses_before_it_loads_anything(tmp_path, capsys):
    """A folder it may not write is refused at once: the dataset (missing here) is never read."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    argv = train_args("gmf", folder, "--overwrite")
    argv[argv.index("synthetic")] = str(tmp_path / "missing.csv")
    assert main(argv) == 2
    assert "holds no ncf-keras-run.json marker" in error_line(capsys)
    partial_path(tmp_path / "run").mkdir()
    assert main(train_args("gmf", tmp_path / "run", "--dataset", str(tmp_path / "x.csv"))) == 2
    assert "is in the way of the run's partial folder" in error_line(capsys)


def test_a_run_folder_completed_by_write_run_is_the_tools_to_replace(tmp_path, small_synthetic):
    """Notebook 01 fills its run folder itself and completes it with `write_run`: the marker
    lists the run's files, so a later `train_run(..., overwrite=True)` may replace it."""
    from ncf_keras.runs.folder import write_run
    from ncf_keras.runs.train_run import train_run

    run = tmp_path / "gmf"
    first = train_run("gmf", small_synthetic, tmp_path / "first", epochs=1, verbose=0)
    run.mkdir()
    for name in ("model.keras", "history.csv"):
        (run / name).write_bytes((tmp_path / "first" / name).read_bytes())
    (run / "notes.txt").write_text("the user's")
    write_run(run, "gmf", "synthetic", first["config"], first["history"], small_synthetic)
    listed = json.loads((run / ownership.MARKER).read_text())["files"]
    assert sorted(listed) == ["history.csv", "hit_rate.png", "metrics.json", "model.keras"]
    assert "notes.txt" in ownership.not_ours(run)  # the user's file is not the tool's
    (run / "notes.txt").unlink()
    assert ownership.not_ours(run) is None
    train_run("gmf", small_synthetic, run, epochs=1, verbose=0, factors=4, overwrite=True)
    assert json.loads((run / "metrics.json").read_text())["config"]["factors"] == 4


def test_a_kill_after_the_run_is_written_but_before_it_is_sealed_resumes(
    tmp_path, small_synthetic, monkeypatch
):
    """Killed as `train_run` removes its backup: the partial folder is still a partial one
    (not a finished run holding the backup), and resuming completes it."""
    from ncf_keras.runs import train_run as folder

    rmtree = folder.shutil.rmtree

    def killed(path, *args, **kwargs):
        if Path(path).name == "backup":
            raise Killed
        return rmtree(path, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(folder.shutil, "rmtree", killed)
        with pytest.raises(Killed):
            folder.train_run("gmf", small_synthetic, tmp_path / "run", epochs=1, verbose=0)
    partial = partial_path(tmp_path / "run")
    assert ownership.marker_state(partial) == ownership.PARTIAL
    folder.train_run("gmf", small_synthetic, tmp_path / "run", epochs=1, verbose=0, resume=True)
    assert ownership.not_ours(tmp_path / "run") is None
    assert beside(tmp_path / "run") == ["run"]
