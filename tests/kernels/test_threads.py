"""numba's parallel kernels called from two Python threads at once (a notebook's thread pool, say).

numba runs parallel=True kernels on a threading layer: tbb and omp take launches from several threads,
while workqueue, its fallback when neither loads, aborts the process on the second one. So each case runs in
a fresh interpreter, and the thread counts each sweep worker runs with are checked in
tests/sweeps/test_run.py (test_each_worker_runs_its_trial_with_the_drivers_thread_count).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

PROBE = """
import json, threading
import nnrun
import numba
import numpy as np
from nnrun.kernels import activations, pool

def work(seed, wrong):
    rng = np.random.default_rng(seed)
    for _ in range(150):
        x = rng.standard_normal((8, 3, 16, 16)).astype(np.float32)
        y, argmax = np.empty((8, 3, 8, 8), np.float32), np.empty((8, 3, 8, 8), np.int64)
        pool.maxpool_forward(x, 2, 2, 2, 2, y, argmax)  # a prange over the examples, always
        if not np.array_equal(y, x.reshape(8, 3, 8, 2, 8, 2).max(axis=(3, 5))):
            wrong.append("maxpool")
        big = rng.standard_normal(activations.PARALLEL_ELEMENTS).astype(np.float32)  # large enough to split
        out = np.empty_like(big)
        activations.relu_forward(big, out)
        if not np.array_equal(out, np.maximum(big, 0)):
            wrong.append("relu")

wrong = []
threads = [threading.Thread(target=work, args=(seed, wrong)) for seed in (1, 2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"layer": numba.threading_layer(), "threads": numba.get_num_threads(), "wrong": wrong}))
"""


def probe(**env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", **env}
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=600)


def test_parallel_kernels_from_two_threads_at_once_give_numpys_results():
    done = probe()
    assert done.returncode == 0, done.stderr  # an abort is -SIGABRT, with numba's reason on stderr
    seen = json.loads(done.stdout)
    assert seen["wrong"] == []
    assert seen["threads"] == 2
    assert seen["layer"] in ("tbb", "omp"), seen  # the layers that take launches from several threads


def test_the_probe_launches_at_once_which_workqueue_cannot_take():
    # the same probe on the layer numba falls back to: it must abort, or the probe never overlapped launches
    done = probe(NUMBA_THREADING_LAYER="workqueue")
    assert done.returncode == -signal.SIGABRT, done.stderr
    assert "workqueue threading layer is terminating" in done.stderr
