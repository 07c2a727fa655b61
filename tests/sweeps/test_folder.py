"""The sweep folder's own rules: one driver at a time, and nothing but a sweep folder is taken over."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import yaml

from nnrun.errors import ConfigError, RunError
from nnrun.results import load_sweep
from nnrun.sweeps.folder import SweepFolder
from nnrun.sweeps.run import open_study


def test_a_second_driver_on_the_same_folder_is_refused(tmp_path):
    folder = SweepFolder(tmp_path / "sweep")
    with folder.locked():
        with pytest.raises(RunError, match="another nnrun sweep .* is running in"):
            with SweepFolder(tmp_path / "sweep").locked():
                pass
    assert not (tmp_path / "sweep" / "sweep.lock").exists()
    with folder.locked():  # released: it can be taken again
        pass


def test_the_lock_of_a_driver_that_died_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "sweep.lock").write_text(f"{socket.gethostname()} {dead.stdout.strip()}")
    with SweepFolder(tmp_path / "sweep").locked():
        assert (tmp_path / "sweep" / "sweep.lock").read_text().endswith(str(os.getpid()))


def test_a_folder_that_is_not_a_sweep_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.csv").write_text("epoch\n")
    with pytest.raises(RunError, match="is not a sweep folder"):
        SweepFolder(tmp_path / "run").saved()
    assert SweepFolder(tmp_path / "new").saved() is None


def test_a_trial_id_of_digits_stays_the_folder_name(tmp_path):
    """Ids are 12 hex digits: about one in 280 has no letter, and '0123…' or '12e4…' must not become a number."""
    folder = tmp_path / "sweep"
    (folder / "trials").mkdir(parents=True)
    (folder / "sweep.yaml").write_text(
        yaml.safe_dump({"source": "c.yaml", "overrides": [], "spec": {"parameters": {}}, "base": {}, "config": {}})
    )
    (folder / "trials.csv").write_text("trial,point,seed,status\n012345678901,1,0,completed\n1234e5678901,1,1,failed\n")
    assert [row["trial"] for row in load_sweep(folder).trials] == ["012345678901", "1234e5678901"]
    assert set(SweepFolder(folder).previous_trials()) == {"012345678901", "1234e5678901"}


def test_resume_and_out_together_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="drop --out"):
        open_study(None, resume=tmp_path / "a", out=tmp_path / "b")
