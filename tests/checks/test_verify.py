"""`nnrun verify`: a finished run trained again gives its saved bits; an edited folder is caught, and where."""

from __future__ import annotations

import numpy as np
import pytest

import nnrun
from nnrun.checks.verify import verify
from nnrun.errors import RunError
from nnrun.io import atomic_savez, read_npz
from tests.helpers import small_config


@pytest.fixture
def run(tmp_path):
    return nnrun.train(small_config(train={"epochs": 2, "batch_size": 64}), out=tmp_path / "run", plot=False)


def test_a_finished_run_is_identical(run, cli):
    verdict = verify(run.path)
    assert verdict.identical and verdict.metrics_rows == 2 and verdict.arrays == 5  # 4 weights and the config
    result = cli("verify", run.path, "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"identical: metrics.csv (2 rows, sha256 {verdict.metrics_hash[:12]})")


def test_an_edited_metric_is_named_with_its_row_and_column(run, cli):
    path = run.path / "metrics.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")
    column = header.index("test_acc")
    cells[column] = "0.5"
    path.write_text("\n".join([*lines[:2], ",".join(cells), *lines[3:]]) + "\n")
    result = cli("verify", run.path, "--quiet")
    assert result.returncode == 1
    assert "differs: metrics.csv row 2 (epoch 2, step" in result.stdout and "test_acc saved 0.5, again" in result.stdout


def test_an_edited_weight_is_named_with_its_array(run):
    arrays = read_npz(run.path / "model.npz")
    key = next(key for key in arrays if key.endswith("hidden.weight"))
    arrays[key] = arrays[key].copy()
    arrays[key][3, 5] += np.float32(1e-3)
    atomic_savez(run.path / "model.npz", arrays)
    verdict = verify(run.path)
    assert not verdict.identical and verdict.metrics_difference is None
    assert verdict.model_difference.startswith(f"model.npz {key}: 1 of {arrays[key].size} values differ")


def test_a_sweeps_trial_and_a_failed_run_verify_too(tmp_path):
    config = small_config(train={"epochs": 1, "batch_size": 64}, optimizer={"type": "sgd", "lr": 0.05})
    config["sweep"] = {"parameters": {"optimizer.lr": [0.05, 1e30]}}  # the second diverges
    study = nnrun.sweep(config, out=tmp_path / "sweep", workers=2, plot=False)
    for row in study.trials:
        verdict = verify(study.path / row["run_dir"])
        assert verdict.identical, (row["status"], verdict)
    assert {row["status"] for row in study.trials} == {"completed", "failed"}


def test_an_unfinished_run_is_refused(run, cli):
    summary = run.path / "summary.json"
    summary.write_text(summary.read_text().replace('"status": "completed"', '"status": "running"'))
    with pytest.raises(RunError, match="has not finished"):
        verify(run.path)
    result = cli("verify", run.path)
    assert result.returncode == 2 and "nnrun train --resume" in result.stderr
