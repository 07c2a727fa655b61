"""Writes that fail (disk full) and the modes of what is written: a run ends with one clear line, marked
failed where the disk allows, with every file written before intact and its checkpoint resumable."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

import nnrun
import nnrun.io
from nnrun.errors import WriteError
from nnrun.io import read_npz
from tests.helpers import small_config

CONFIG = small_config(train={"epochs": 4, "batch_size": 64})


def fail_on(monkeypatch, name: str, occurrence: int) -> list[str]:
    """Make the `occurrence`-th fsync of a temporary file for `name` raise ENOSPC, as a full disk does."""
    fsync, seen = os.fsync, []

    def full(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.basename(target).startswith(f".{name}."):
            seen.append(target)
            if len(seen) == occurrence:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fsync(fd)

    monkeypatch.setattr(nnrun.io.os, "fsync", full)
    return seen


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return nnrun.train(CONFIG, out=tmp_path_factory.mktemp("w") / "clean", plot=False)


def test_disk_full_at_a_checkpoint_fails_the_run_and_resume_finishes_it(monkeypatch, tmp_path, uninterrupted):
    fail_on(monkeypatch, "checkpoint.npz", 2)  # the end of epoch 2
    with pytest.raises(WriteError) as raised:
        nnrun.train(CONFIG, out=tmp_path / "run", plot=False)
    error = raised.value
    assert error.errno == errno.ENOSPC and "checkpoint.npz: No space left on device" in error.what
    assert "the disk is full" in error.hint and f"nnrun train --resume {tmp_path / 'run'}" in error.hint
    run = nnrun.load_run(tmp_path / "run")
    assert run.status == "failed" and "No space left on device" in run.summary["error"]
    assert not list((tmp_path / "run").glob(".*.tmp"))  # the half-written file is gone
    _, state = nnrun.runs.folder.RunFolder(run.path).load_checkpoint()
    assert state["step"] == uninterrupted.history[0]["step"]  # epoch 1's checkpoint, intact
    monkeypatch.undo()
    resumed = nnrun.resume(run.path, plot=False)
    assert resumed.status == "completed"
    assert (run.path / "metrics.csv").read_bytes() == (uninterrupted.path / "metrics.csv").read_bytes()
    finals = read_npz(run.path / "model.npz"), read_npz(uninterrupted.path / "model.npz")
    assert all(np.array_equal(finals[0][key], finals[1][key]) for key in finals[1])


def test_disk_full_while_writing_the_metrics_keeps_the_earlier_file(monkeypatch, tmp_path):
    fail_on(monkeypatch, "metrics.csv", 3)
    with pytest.raises(WriteError, match="metrics.csv: No space left on device"):
        nnrun.train(CONFIG, out=tmp_path / "run", plot=False)
    rows = nnrun.load_run(tmp_path / "run").history
    assert [row["epoch"] for row in rows] == [1, 2]  # the second version, whole
    assert nnrun.load_run(tmp_path / "run").status == "failed"


def test_the_cli_says_it_in_one_line_and_exits_1(tmp_path):
    # the same injection in a child process: the CLI's own handling, with no traceback
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(CONFIG))
    script = f"""
import errno, os, sys
import nnrun.io
fsync = os.fsync
def full(fd):
    if os.path.basename(os.readlink(f"/proc/self/fd/{{fd}}")).startswith(".model.npz."):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return fsync(fd)
nnrun.io.os.fsync = full
from nnrun.cli import main
sys.argv = ["nnrun", "train", {str(tmp_path / "c.yaml")!r}, "--out", {str(tmp_path / "run")!r}, "--quiet"]
main()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    first, *rest = result.stderr.strip().splitlines()
    assert first == f"error: cannot write {tmp_path / 'run' / 'model.npz'}: No space left on device"
    assert "the disk is full" in rest[0]
    assert nnrun.load_run(tmp_path / "run").status == "failed"


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs mounted for the test (root only); skipped cleanly where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip() or made.returncode}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_real_full_disk(small_disk, tmp_path, cli):
    # wide enough that the checkpoint outweighs the small files; the disk then holds everything up to
    # epoch 1's checkpoint, and not a second copy of it beside the first (an atomic write needs both)
    config = {**CONFIG, "model": {"input_shape": [64], "layers": [{"type": "dense", "units": 1000}, {"type": "relu"},
                                                                   {"type": "dense", "units": 10}]}}  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    clean = nnrun.train(config, out=tmp_path / "clean", plot=False).path
    checkpoint = (clean / "checkpoint.npz").stat().st_size
    small = sum(path.stat().st_size for path in clean.iterdir() if path.suffix != ".npz")
    size = -(-(checkpoint * 3 // 2 + small + 32 * 1024) // 4096) * 4096
    subprocess.run(["mount", "-o", f"remount,size={size}", str(small_disk)], check=True)
    result = cli("train", "c.yaml", "--out", small_disk / "run", "--quiet", "--no-plot")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[0].endswith("checkpoint.npz: No space left on device")
    run = nnrun.load_run(small_disk / "run")
    assert run.status == "failed" and [row["epoch"] for row in run.history] == [1, 2]
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    result = cli("train", "--resume", small_disk / "run", "--quiet", "--no-plot")
    assert result.returncode == 0, result.stderr
    assert (small_disk / "run" / "metrics.csv").read_bytes() == (clean / "metrics.csv").read_bytes()


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_results_files_get_the_mode_the_umask_gives(tmp_path, mask):
    config = {**CONFIG, "train": {"epochs": 1, "batch_size": 64}}
    config["sweep"] = {"parameters": {"model.hidden.units": [8]}}
    before = os.umask(mask)
    try:
        run = nnrun.train(config, out=tmp_path / "run")
        study = nnrun.sweep(config, out=tmp_path / "sweep", workers=1)
    finally:
        os.umask(before)
    files = [path for folder in (run.path, study.path) for path in folder.rglob("*") if path.is_file()]
    assert {"curves.png", "model.npz", "summary.json", "trials.csv", "train.log"} <= {path.name for path in files}
    modes = {path.name: oct(path.stat().st_mode & 0o777) for path in files}
    assert set(modes.values()) == {oct(0o666 & ~mask)}, modes
    shutil.rmtree(tmp_path / "run")
