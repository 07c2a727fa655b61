"""Trial targets for the sweep's executors (LocalPool(target=...), DaskPool(target=...)) that misbehave on cue.

Each is a module-level function(job, events=None) -> Outcome, so that a spawned or Dask worker imports it by
name. A trial is picked out by its optimizer.lr: the sweeps in tests/sweeps list these marker values.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nnrun.sweeps.worker import Job, Outcome, run_trial

ALWAYS_DIES_LR = 0.0123  # the worker process dies every time it starts this trial
DIES_ONCE_LR = 0.0321  # the worker process dies on the trial's first attempt only
SEGFAULT_LR = 0.0456  # the worker process segfaults every time it starts this trial
GREEDY_LR = 0.0789  # the trial takes memory until something stops it


def die_on_marker(job: Job, events=None) -> Outcome:
    """Kill the worker process (no outcome, no exception) for the ALWAYS_DIES_LR trial; train the others."""
    if job.config["optimizer"]["lr"] == ALWAYS_DIES_LR:
        os._exit(1)
    return run_trial(job, events)


def die_once(job: Job, events=None) -> Outcome:
    """Kill the worker on the DIES_ONCE_LR trial's first attempt (a marker file beside its run folder
    remembers it), then behave as die_on_marker."""
    if job.config["optimizer"]["lr"] == DIES_ONCE_LR:
        marker = Path(job.run_dir).parent / f".died-{job.trial}"
        if not marker.exists():
            marker.write_text("died once\n")
            os._exit(1)
    return die_on_marker(job, events)


def report_threads(job: Job, events=None) -> Outcome:
    """Run the trial, then report the worker's thread pools and thread settings as JSON in Outcome.error.

    "blas" maps each BLAS library loaded to its thread count: numpy's, and scipy's, which numba loads
    (scipy.linalg.cython_blas) when the first kernel comes from its cache."""
    import numba
    from threadpoolctl import threadpool_info

    outcome = run_trial(job, events)
    seen = {
        "numba": numba.get_num_threads(),
        "blas": {pool["filepath"]: pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"},
        "env": {key: os.environ.get(key) for key in ("GOMP_SPINCOUNT", "OPENBLAS_THREAD_TIMEOUT")},
        "status": outcome.status,
        "error": outcome.error,
    }
    return Outcome(job.trial, outcome.status, json.dumps(seen), outcome.seconds, outcome.threads)


def segfault_on_marker(job: Job, events=None) -> Outcome:
    """Crash the worker with SIGSEGV, as a bad native extension would, for the SEGFAULT_LR trial."""
    if job.config["optimizer"]["lr"] == SEGFAULT_LR:
        import ctypes

        ctypes.string_at(0)  # reads address 0
    return run_trial(job, events)


def greedy_on_marker(job: Job, events=None) -> Outcome:
    """Take memory 64 MiB at a time, touched so it counts, for the GREEDY_LR trial (up to 8 GiB)."""
    if job.config["optimizer"]["lr"] == GREEDY_LR:
        import time

        import numpy as np

        held = []
        for _ in range(128):
            held.append(np.ones(8 * 2**20))  # 64 MiB of float64
            time.sleep(0.02)  # the nanny looks every 100 ms
    return run_trial(job, events)
