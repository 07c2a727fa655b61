"""A trial that kills its worker (a segfault) or eats its memory fails alone, after bounded retries, with the
reason in trials.csv; the other trials finish. The local pool and a Dask LocalCluster (on 127.0.0.1)."""

from __future__ import annotations

import pytest

from nnrun.sweeps.local import LocalPool
from nnrun.sweeps.run import sweep
from tests.helpers import sweep_targets
from tests.sweeps.studies import tiny_study


def check(result, marker, error_part, attempts=None):
    rows = {row["optimizer.lr"]: row for row in result.trials}
    dead = rows.pop(marker)
    assert dead["status"] == "failed" and error_part in dead["error"], dead["error"]
    if attempts is not None:
        assert dead["attempts"] == attempts
    assert [row["status"] for row in rows.values()] == ["completed", "completed"]


def test_a_segfault_in_the_local_pool(tmp_path):
    config = tiny_study({"optimizer.lr": [0.01, sweep_targets.SEGFAULT_LR, 0.003]}, seeds=[0])
    result = sweep(config, out=tmp_path / "out", executor=LocalPool(2, 1, target=sweep_targets.segfault_on_marker))
    check(result, sweep_targets.SEGFAULT_LR, "its worker process died 2 times (last: killed by SIGSEGV)", attempts=2)


def test_a_segfault_on_dask(tmp_path):
    pytest.importorskip("distributed")
    from nnrun.sweeps.cluster import DaskPool

    config = tiny_study({"optimizer.lr": [0.01, sweep_targets.SEGFAULT_LR, 0.003]}, seeds=[0])
    pool = DaskPool("local", workers=2, retries=1, target=sweep_targets.segfault_on_marker)
    check(sweep(config, out=tmp_path / "out", executor=pool), sweep_targets.SEGFAULT_LR, "KilledWorker")


def test_a_trial_past_its_dask_workers_memory_limit_is_killed_for_memory(tmp_path):
    pytest.importorskip("distributed")
    from nnrun.sweeps.cluster import DaskPool

    config = tiny_study({"optimizer.lr": [0.01, sweep_targets.GREEDY_LR, 0.003]}, seeds=[0])
    pool = DaskPool("local", workers=2, retries=1, target=sweep_targets.greedy_on_marker, memory_limit="600MiB")
    result = sweep(config, out=tmp_path / "out", executor=pool)
    check(result, sweep_targets.GREEDY_LR, "killed for memory: its Dask worker tcp://127.0.0.1:")
