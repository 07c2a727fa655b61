"""Running a sweep again: nothing to do, more seeds, a changed base; and after a killed or interrupted driver."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

import pytest

from nnrun.errors import ConfigError
from nnrun.io import read_csv
from nnrun.sweeps.progress import SilentSweep
from nnrun.sweeps.run import sweep
from tests.sweeps.studies import metrics_bytes, metrics_stamps, summary_rows, tiny_study, trial_rows, write_config


class Starts(SilentSweep):
    """Keeps what the driver planned to run."""

    def start(self, sweep):
        self.to_run, self.trials = sweep.to_run, sweep.trials


def test_running_again_extending_seeds_and_changing_the_base(finished, tmp_path):
    folder = shutil.copytree(finished.folder, tmp_path / "sweep")
    config = write_config(tmp_path / "study.yaml", tiny_study())
    first_summary, first_trials, stamps = summary_rows(folder), trial_rows(folder), metrics_stamps(folder)
    assert len(stamps) == 4

    starts = Starts()
    again = sweep(config, out=folder, workers=2, reporter=starts)
    assert (starts.to_run, starts.trials) == (0, 4)
    assert metrics_stamps(folder) == stamps
    assert summary_rows(folder) == first_summary
    assert [row["trial"] for row in again.trials] == list(first_trials)
    assert all(row["status"] == "completed" and row["attempts"] == 1 for row in again.trials)

    more = sweep(config, ["sweep.seeds=[0,1,2]"], out=folder, workers=2, reporter=starts)
    assert (starts.to_run, starts.trials) == (2, 6)
    after = metrics_stamps(folder)
    assert {trial: after[trial] for trial in stamps} == stamps  # the first four did not run again
    new = [row for row in more.trials if row["trial"] not in stamps]
    assert sorted((r["point"], r["seed"], r["status"]) for r in new) == [(1, 2, "completed"), (2, 2, "completed")]
    assert [row["seeds"] for row in more.summary] == [3, 3]
    seeds_run = more.trials

    with pytest.raises(ConfigError) as refused:
        sweep(config, ["train.epochs=3"], out=folder, workers=2)
    lines = refused.value.message().splitlines()
    assert "-  epochs: 1" in lines and "+  epochs: 3" in lines
    assert "--force" in refused.value.hint
    assert metrics_stamps(folder) == after and read_csv(folder / "trials.csv", text=["trial"]) == seeds_run

    forced = sweep(config, ["train.epochs=3"], out=folder, workers=2, force=True)
    current = [row for row in forced.trials if row["status"] != "stale"]
    stale = [row for row in forced.trials if row["status"] == "stale"]
    assert sorted(row["trial"] for row in stale) == sorted(row["trial"] for row in seeds_run)
    assert len(current) == 4 and not set(row["trial"] for row in current) & set(after)
    assert all(row["status"] == "completed" and row["last_epoch"] == 3 for row in current)
    assert all((folder / row["run_dir"] / "metrics.csv").is_file() for row in stale)  # kept, only not counted
    assert forced.base["train"]["epochs"] == 3
    for point in forced.summary:
        mine = [row["best_test_acc"] for row in current if row["point"] == point["point"]]
        assert point["seeds"] == 2 and point["test_acc_mean"] == statistics.fmean(mine)


def test_a_trial_killed_before_its_config_was_written_runs_again(finished, tmp_path):
    # a kill in the moment after the trial's folder got its log and before its config.yaml
    folder = shutil.copytree(finished.folder, tmp_path / "sweep")
    trial = next(iter(trial_rows(folder)))
    run_dir = folder / "trials" / trial
    for path in run_dir.iterdir():
        if path.name != "train.log":
            path.unlink()
    resumed = sweep(None, resume=folder, workers=2)
    assert [row["status"] for row in resumed.trials] == ["completed"] * 4
    assert (run_dir / "config.yaml").is_file() and (folder / "attempts" / f"{trial}-1" / "train.log").is_file()


def start_sweep(tmp_path, out, *args):
    """`python -m nnrun sweep c.yaml --workers 1 --quiet --out OUT` in its own process group, with Ctrl-C's
    signal at its default: pytest started in the background by a script (`.ci/run &`) ignores SIGINT, and
    a child inherits that, so the sweep would rightly not stop."""
    with open(tmp_path / f"{out}.err", "w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "nnrun", "sweep", "c.yaml", "--workers", "1", "--quiet", "--out", out, *args],
            cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL, stderr=stderr,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip


def wait_for(process, condition, what, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"the sweep ended (exit code {process.returncode}) before {what}")
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail(f"timed out waiting for {what}")


def statuses(folder):
    """trials.csv's status by trial id, {} while the file is not there yet."""
    try:
        return {row["trial"]: row["status"] for row in read_csv(folder / "trials.csv", text=["trial"])}
    except FileNotFoundError:
        return {}


def completed(folder):
    return [trial for trial, status in statuses(folder).items() if status == "completed"]


def test_a_killed_driver_resumes_to_the_uninterrupted_result(tmp_path):
    # a trial killed after its first epoch has a checkpoint to resume from; twenty epochs (under a second, as a
    # worker runs trial after trial) leave time to kill the sweep with trials still to run
    study = tiny_study({"optimizer.lr": [0.01, 0.006, 0.003, 0.002]}, seeds=[0, 1], epochs=20, threads=1)
    write_config(tmp_path / "c.yaml", study)
    killed = tmp_path / "killed"
    process = start_sweep(tmp_path, "killed")
    wait_for(process, lambda: len(completed(killed)) >= 3, "three trials completed")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = completed(killed)
    assert len(statuses(killed)) == 8 and len(done) < 8, "the sweep finished before it could be killed"
    kept = {trial: (killed / "trials" / trial / "metrics.csv").read_bytes() for trial in done}
    stamps = {trial: (killed / "trials" / trial / "metrics.csv").stat().st_mtime_ns for trial in done}

    resumed = sweep(None, resume=killed, workers=2)
    clean = sweep(tmp_path / "c.yaml", out=tmp_path / "clean", workers=2)
    assert [row["status"] for row in resumed.trials] == ["completed"] * 8
    for trial in done:
        assert (killed / "trials" / trial / "metrics.csv").stat().st_mtime_ns == stamps[trial], trial
        assert (killed / "trials" / trial / "metrics.csv").read_bytes() == kept[trial]
    assert summary_rows(killed) == summary_rows(tmp_path / "clean")
    assert [row["trial"] for row in resumed.trials] == [row["trial"] for row in clean.trials]
    assert metrics_bytes(killed) == metrics_bytes(tmp_path / "clean")
    assert not (killed / "sweep.lock").exists()


def running_trial(folder):
    """The trial whose run folder says it is training and has a checkpoint to resume from, or None."""
    for path in (folder / "trials").glob("*/summary.json"):
        try:
            status = json.loads(path.read_text())["status"]
        except (OSError, ValueError, KeyError):
            continue
        if status == "running" and (path.parent / "checkpoint.npz").is_file():
            return path.parent.name
    return None


def test_ctrl_c_stops_the_sweep_with_its_tables_written_and_it_resumes(tmp_path):
    # long enough trials (about 2 s) that the signal comes while the second one trains
    write_config(tmp_path / "c.yaml", tiny_study(epochs=60))
    out = tmp_path / "out"
    process = start_sweep(tmp_path, "out")
    wait_for(process, lambda: completed(out) and running_trial(out), "a trial completed and the next one checkpointed")
    first, interrupted = completed(out), running_trial(out)
    os.killpg(process.pid, signal.SIGINT)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    # should it fail again: what the sweep saw
    assert code == 130, (
        f"stderr: {(tmp_path / 'out.err').read_text()!r}; before the signal: completed {first}, running "
        f"{interrupted}; after: {statuses(out)}; this process's SIGINT: {signal.getsignal(signal.SIGINT)}, "
        f"blocked: {signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])}; train.logs: "
        + "; ".join(f"{p.parent.name}: {p.read_text().splitlines()[-3:]}" for p in (out / "trials").glob("*/train.log"))
    )
    assert "interrupted" in (tmp_path / "out.err").read_text()

    after = statuses(out)
    assert len(after) == 4 and all(after[trial] == "completed" for trial in first)
    assert after[interrupted] == "interrupted"
    assert json.loads((out / "trials" / interrupted / "summary.json").read_text())["status"] == "interrupted"
    assert list(after.values()).count("pending") == 4 - len(first) - 1
    assert (out / "summary.csv").is_file() and (out / "summary.md").is_file()
    assert sum(row["seeds"] for row in read_csv(out / "summary.csv")) == len(first)
    assert not (out / "sweep.lock").exists()

    resumed = sweep(None, resume=out, workers=2)
    assert [row["status"] for row in resumed.trials] == ["completed"] * 4
    assert [row["seeds"] for row in resumed.summary] == [2, 2]
    history = read_csv(out / "trials" / interrupted / "metrics.csv")
    assert [row["epoch"] for row in history] == list(range(1, 61))
    assert not (out / "attempts").exists()  # it continued from its checkpoint: no attempt was set aside
