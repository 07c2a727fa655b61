"""Killed at random moments, over and over, a run never leaves half a file: every results file reads whole,
`nnrun plot` ignores the temporary files a kill leaves behind, and resuming ends at the uninterrupted result."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

import nnrun
from nnrun.io import read_csv, read_npz
from nnrun.results import METRIC_COLUMNS
from tests.helpers import small_config

CONFIG = small_config(train={"epochs": 1500, "batch_size": 64})  # about 4 ms an epoch: it writes all the time


def whole(folder):
    """Each results file there is, read as a whole; returns the temporary files beside them."""
    if (folder / "config.yaml").is_file():
        assert yaml.safe_load((folder / "config.yaml").read_text())["name"] == "small"
    if (folder / "metrics.csv").is_file():
        rows = read_csv(folder / "metrics.csv")
        assert all(list(row) == METRIC_COLUMNS and row["test_acc"] is not None for row in rows)
    if (folder / "summary.json").is_file():
        assert json.loads((folder / "summary.json").read_text())["name"] == "small"
    for name in ("checkpoint.npz", "model.npz"):
        if (folder / name).is_file():
            assert read_npz(folder / name)
    return sorted(path.name for path in folder.glob(".*.tmp"))


@pytest.mark.slow  # about a minute; CI runs it
def test_kill_during_writes_again_and_again(tmp_path, cli):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(CONFIG))
    clean = nnrun.train(CONFIG, out=tmp_path / "clean", plot=False)
    run = tmp_path / "run"
    rng = np.random.default_rng(0)
    leftovers, mid_run = [], 0
    for _ in range(8):
        resumable = (run / "checkpoint.npz").is_file()
        if not resumable:
            shutil.rmtree(run, ignore_errors=True)
        args = ["--resume", str(run)] if resumable else [str(tmp_path / "c.yaml"), "--out", str(run)]
        process = subprocess.Popen([sys.executable, "-m", "nnrun", "train", *args, "--quiet", "--no-plot"])
        time.sleep(rng.uniform(1.0, 2.5))  # start-up is about 1 s: most kills land while training writes
        process.send_signal(signal.SIGKILL)
        process.wait()
        if run.is_dir():
            leftovers += whole(run)
            # a kill between the folder's mkdir and its config.yaml leaves it empty: the run had not started
            started = (run / "config.yaml").is_file() or any(run.iterdir())
            mid_run += started and nnrun.load_run(run).status == "running"
    assert mid_run >= 6  # the kills landed while it trained, not before it started or after it ended
    if (run / "metrics.csv").is_file():
        result = cli("plot", run, "--out", "figs")
        assert result.returncode == 0, result.stderr
        assert sorted(path.name for path in (tmp_path / "figs").iterdir()) == ["curves.png"]
    result = cli("train", "--resume", run, "--quiet", "--no-plot")
    if "already finished" not in result.stderr:
        assert result.returncode == 0, result.stderr
    whole(run)
    assert (run / "metrics.csv").read_bytes() == (clean.path / "metrics.csv").read_bytes()
