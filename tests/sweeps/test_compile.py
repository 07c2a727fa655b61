"""The driver compiles the kernels its trials need before the workers start, so the workers only load them.

Proven without timing: in a fresh numba cache, the driver's compile_points writes every compiled kernel a trial
then uses; the trial, run afterwards in another process on the same cache, adds no compiled entry of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import ROOT
from tests.sweeps.studies import tiny_study, write_config

PRECOMPILE = """
import sys
from nnrun.sweeps.plan import plan_sweep
from nnrun.sweeps.run import compile_points
compile_points(plan_sweep(sys.argv[1]).trials)
"""

RUN_ONE = """
import sys
from nnrun.sweeps.plan import plan_sweep
from nnrun.sweeps.worker import Job, run_trial
trial = plan_sweep(sys.argv[1]).trials[0]
outcome = run_trial(Job(trial.id, sys.argv[2], {**trial.config, "train": {**trial.config["train"], "threads": 1}}))
assert outcome.status == "completed", outcome
"""


def compiled(cache) -> set[str]:
    return {path.name for path in cache.rglob("*.nbc")}


def test_the_workers_find_every_kernel_compiled_by_the_driver(tmp_path):
    config = write_config(tmp_path / "study.yaml", tiny_study())
    cache = tmp_path / "numba-cache"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", PRECOMPILE, str(config)], env=env, check=True, cwd=tmp_path, timeout=600)
    before = compiled(cache)
    kernels = {name.split("-")[0] for name in before}
    assert kernels >= {"activations.bias_relu_rows", "loss.softmax_cross_entropy", "optim.adam_step"}
    subprocess.run(
        [sys.executable, "-c", RUN_ONE, str(config), str(tmp_path / "trial")], env=env, check=True, cwd=tmp_path,
        timeout=600,
    )  # fmt: skip
    assert compiled(cache) == before
