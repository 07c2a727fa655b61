"""Sweeps on Dask (the optional extra): a LocalCluster on 127.0.0.1, a scheduler that is not there, no Dask."""

from __future__ import annotations

import sys
import time

import pytest

from nnrun.errors import RunError
from nnrun.sweeps.run import sweep
from tests.helpers import closed_port, sweep_targets
from tests.sweeps.studies import metrics_bytes, summary_rows, tiny_study, trial_rows

pytest.importorskip("distributed")


def test_dask_local_gives_the_local_pools_results(finished, tmp_path):
    result = sweep(finished.config, out=tmp_path / "dask", dask="local", workers=2)
    assert [row["status"] for row in result.trials] == ["completed"] * 4
    assert summary_rows(tmp_path / "dask") == summary_rows(finished.folder)
    assert metrics_bytes(tmp_path / "dask") == metrics_bytes(finished.folder)
    assert len(metrics_bytes(finished.folder)) == 4
    local = trial_rows(finished.folder)
    assert {row["trial"]: row["threads"] for row in result.trials} == {k: row["threads"] for k, row in local.items()}


def test_an_unreachable_scheduler_fails_fast_naming_it(tmp_path):
    address = f"tcp://127.0.0.1:{closed_port()}"
    tick = time.monotonic()
    with pytest.raises(RunError) as failed:
        sweep(tiny_study(), out=tmp_path / "out", dask=address)
    assert time.monotonic() - tick < 15
    assert address in failed.value.message()
    assert "--dask local" in failed.value.hint


def test_without_dask_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now raises ImportError
    with pytest.raises(RunError) as failed:
        sweep(tiny_study(), out=tmp_path / "out", dask="local", workers=2)
    assert "pip install 'nnrun[dask]'" in failed.value.hint
    assert "Dask" in failed.value.what


def test_a_trial_that_kills_its_dask_worker_fails_and_the_others_complete(tmp_path):
    from nnrun.sweeps.cluster import DaskPool

    config = tiny_study({"optimizer.lr": [0.01, sweep_targets.ALWAYS_DIES_LR, 0.003]}, seeds=[0])
    pool = DaskPool("local", workers=2, retries=1, target=sweep_targets.die_on_marker)
    result = sweep(config, out=tmp_path / "out", executor=pool)
    rows = {row["optimizer.lr"]: row for row in result.trials}
    dead = rows.pop(sweep_targets.ALWAYS_DIES_LR)
    assert dead["status"] == "failed"
    assert "KilledWorker" in dead["error"]
    assert [row["status"] for row in rows.values()] == ["completed", "completed"]
    assert [(row["seeds"], row["failed"]) for row in result.summary] == [(1, 0), (0, 1), (1, 0)]
