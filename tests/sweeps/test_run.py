"""A sweep run on the local pool: its folder and tables, reproducing a trial, failures, dying workers, threads."""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import sys

import yaml

import nnrun
from nnrun.io import read_csv
from nnrun.sweeps.local import LocalPool
from nnrun.sweeps.plan import plan_sweep
from nnrun.sweeps.run import sweep
from tests.helpers import sweep_targets
from tests.sweeps.studies import tiny_study, trial_rows, write_config


def test_a_local_sweep_writes_run_folders_trials_and_summary(finished):
    folder = finished.folder
    plan = plan_sweep(finished.config)
    assert len(plan.trials) == 4
    assert (folder / "sweep.yaml").is_file() and (folder / "summary.md").is_file()
    saved = yaml.safe_load((folder / "sweep.yaml").read_text())
    assert saved["source"] == "study.yaml" and saved["spec"]["seeds"] == [0, 1] and saved["base"] == plan.base

    rows = trial_rows(folder)
    assert list(rows) == [trial.id for trial in plan.trials]  # one row per trial, in the plan's order
    threads = 1  # every trial, whatever the workers (tests/sweeps/test_determinism.py)
    for trial in plan.trials:
        row = rows[trial.id]
        lr = trial.params["optimizer.lr"]
        assert (row["point"], row["seed"], row["optimizer.lr"]) == (trial.point, trial.seed, lr)
        assert row["status"] == "completed" and row["error"] is None and row["attempts"] == 1
        assert row["threads"] == threads
        assert row["run_dir"] == f"trials/{trial.id}"
        history = read_csv(folder / row["run_dir"] / "metrics.csv")
        assert len(history) == 1 and row["best_test_acc"] == history[0]["test_acc"]
        command = shlex.split(row["command"])
        assert command[:3] == ["nnrun", "train", "study.yaml"]
        sets = command[4::2]
        assert command[3::2] == ["--set"] * len(sets)
        assert sets == [f"optimizer.lr={lr}", f"seed={trial.seed}", f"train.threads={threads}"]

    summary = read_csv(folder / "summary.csv")
    assert [row["point"] for row in summary] == [1, 2]
    assert [row["optimizer.lr"] for row in summary] == [0.01, 0.003]
    for point in summary:
        accuracies = [row["best_test_acc"] for row in rows.values() if row["point"] == point["point"]]
        assert point["seeds"] == 2 and point["failed"] == 0
        assert point["test_acc_mean"] == statistics.fmean(accuracies)
        assert point["test_acc_std"] == statistics.stdev(accuracies)
    best = [row for row in summary if row["best"] == 1]
    assert len(best) == 1 and sum(row["best"] for row in summary) == 1
    assert best[0]["val_acc_mean"] == max(row["val_acc_mean"] for row in summary)
    bold = [line for line in (folder / "summary.md").read_text().splitlines() if line.startswith("| **")]
    assert len(bold) == 1 and bold[0].startswith(f"| **{best[0]['point']}** |")

    loaded = nnrun.load_sweep(folder)
    assert isinstance(finished.result, nnrun.Sweep)
    assert loaded.trials == finished.result.trials and loaded.summary == finished.result.summary
    assert loaded.parameters == ["optimizer.lr"] and loaded.failed == []
    assert loaded.best["point"] == best[0]["point"]
    run = loaded.run(plan.trials[0].id)
    assert run.status == "completed" and run.config["seed"] == plan.trials[0].seed


def test_a_trials_command_reproduces_its_run_folder(finished, tmp_path):
    row = next(row for row in trial_rows(finished.folder).values() if row["point"] == 2 and row["seed"] == 1)
    command = shlex.split(row["command"])
    assert command[0] == "nnrun"
    again = tmp_path / "again"
    result = subprocess.run(
        [sys.executable, "-m", "nnrun", *command[1:], "--quiet", "--out", str(again)],
        cwd=finished.root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    trial = finished.folder / row["run_dir"]
    assert (again / "metrics.csv").read_bytes() == (trial / "metrics.csv").read_bytes()
    assert (again / "config.yaml").read_bytes() == (trial / "config.yaml").read_bytes()


def test_a_diverging_point_fails_and_the_sweep_goes_on(cli, tmp_path):
    write_config(tmp_path / "c.yaml", tiny_study({"optimizer.lr": [0.01, 1.0e30]}))
    result = cli("sweep", "c.yaml", "--workers", "2", "--quiet", "--out", "out")
    assert result.returncode == 1, result.stderr
    assert "2 of 4 trials did not finish" in result.stderr and "Traceback" not in result.stderr

    study = nnrun.load_sweep(tmp_path / "out")
    for row in study.trials:
        if row["optimizer.lr"] == 1.0e30:
            assert row["status"] == "failed"
            assert "training loss became nan" in row["error"]
            assert json.loads((tmp_path / "out" / row["run_dir"] / "summary.json").read_text())["status"] == "failed"
        else:
            assert row["status"] == "completed" and row["error"] is None
    assert [row["trial"] for row in study.failed] == [r["trial"] for r in study.trials if r["point"] == 2]
    good, bad = study.summary
    assert (good["seeds"], good["failed"], good["best"]) == (2, 0, 1)
    assert (bad["seeds"], bad["failed"], bad["best"]) == (0, 2, 0)
    assert bad["test_acc_mean"] is None and bad["val_acc_mean"] is None
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "| 0 (2 failed) |" in markdown


def test_a_dying_worker_is_retried_then_its_trial_fails(tmp_path):
    config = tiny_study({"optimizer.lr": [0.01, sweep_targets.ALWAYS_DIES_LR, sweep_targets.DIES_ONCE_LR]}, seeds=[0])
    retries = 2
    result = sweep(config, out=tmp_path / "out", executor=LocalPool(2, retries, target=sweep_targets.die_once))
    rows = {row["optimizer.lr"]: row for row in result.trials}

    dead = rows[sweep_targets.ALWAYS_DIES_LR]
    assert dead["status"] == "failed"
    assert f"its worker process died {retries + 1} times (last: exit code 1)" in dead["error"]
    assert dead["attempts"] == retries + 1
    once = rows[sweep_targets.DIES_ONCE_LR]
    assert (once["status"], once["attempts"], once["error"]) == ("completed", 2, None)
    assert (tmp_path / "out" / "trials" / f".died-{once['trial']}").is_file()
    assert (rows[0.01]["status"], rows[0.01]["attempts"]) == ("completed", 1)
    assert [(row["seeds"], row["failed"]) for row in result.summary] == [(1, 0), (0, 1), (1, 0)]


def test_each_worker_runs_its_trial_with_the_drivers_thread_count(tmp_path, monkeypatch):
    # unset here, so the worker process must set them itself (nnrun/__init__.py) rather than inherit them
    for key in [*nnrun.THREAD_DEFAULTS, "NNRUN_THREAD_DEFAULTS"]:
        monkeypatch.delenv(key, raising=False)
    config = tiny_study({"optimizer.lr": [0.01]}, seeds=[0, 1])
    result = sweep(config, out=tmp_path / "out", executor=LocalPool(2, target=sweep_targets.report_threads))
    threads = 1  # every trial, whatever the workers (tests/sweeps/test_determinism.py)
    assert len(result.trials) == 2
    for row in result.trials:
        seen = json.loads(row["error"])
        assert row["status"] == "completed" and seen["status"] == "completed", seen["error"]
        assert row["threads"] == threads
        assert read_csv(tmp_path / "out" / row["run_dir"] / "metrics.csv")  # it trained
        assert seen["numba"] == threads
        # numpy's BLAS runs the dense layers; scipy's (numba loads it) is not limited, and nnrun never calls it
        numpy_blas = [count for path, count in seen["blas"].items() if "/numpy" in path]
        assert numpy_blas == [threads], seen["blas"]
        assert seen["env"] == nnrun.THREAD_DEFAULTS


def test_dry_run_prints_the_trials_and_writes_nothing(cli, tmp_path):
    config = write_config(tmp_path / "c.yaml", tiny_study())
    result = cli("sweep", "c.yaml", "--dry-run", "--out", "out")
    assert result.returncode == 0, result.stderr
    assert "dry run" in result.stdout
    for trial in plan_sweep(config).trials:
        assert trial.id in result.stdout
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "results").exists()


def test_a_worker_keeps_the_datasets_of_its_last_trials():
    from nnrun.sweeps import worker

    worker._kept.clear()
    first = worker.kept_dataset({"dataset": "moons", "n": 200}, 0)
    assert worker.kept_dataset({"dataset": "moons", "n": 200}, 0) is first
    other_seed = worker.kept_dataset({"dataset": "moons", "n": 200}, 1)
    assert other_seed is not first and not (other_seed.splits["train"].x == first.splits["train"].x).all()
    worker.kept_dataset({"dataset": "digits"}, 0)  # a third (data, seed) pair: the oldest is let go
    assert worker.kept_dataset({"dataset": "moons", "n": 200}, 1) is other_seed
    assert worker.kept_dataset({"dataset": "moons", "n": 200}, 0) is not first
    worker._kept.clear()
