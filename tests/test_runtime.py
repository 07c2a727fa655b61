"""Thread pools: the waits nnrun sets before OpenBLAS and OpenMP load, and how many threads numba's kernels get.

Each case runs in a fresh interpreter, because OpenBLAS reads its settings once, when numpy is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nnrun
from nnrun import bench

PROBE = """
import json, os, sys
{first}
import nnrun
from nnrun.runtime import configure_threads
import numba
configure_threads(2)
keys = ("OPENBLAS_THREAD_TIMEOUT", "GOMP_SPINCOUNT")
print(json.dumps({{"env": {{k: os.environ.get(k) for k in keys}}, "set": nnrun.thread_defaults_set,
                  "numba": numba.get_num_threads()}}))
"""


def probe(first: str = "", **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "GOMP_SPINCOUNT")}
    clean.pop("NNRUN_THREAD_DEFAULTS", None)
    clean["NUMBA_NUM_THREADS"] = "2"  # numba's pool size, whatever this machine has
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(first=first)], env={**clean, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_nnrun_first_sets_both_waits_and_numba_gets_the_threads():
    result = probe()
    spin = nnrun.spin_count(Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else "")
    assert result["env"] == {"OPENBLAS_THREAD_TIMEOUT": "18", "GOMP_SPINCOUNT": spin}
    assert result["set"] == ["OPENBLAS_THREAD_TIMEOUT", "GOMP_SPINCOUNT"]
    assert result["numba"] == 2


def test_openmp_spins_longer_on_avx512_cpus():
    assert nnrun.spin_count("flags\t: fpu sse2 avx2 fma avx512f avx512bw") == "10000"
    assert nnrun.spin_count("flags\t: fpu sse2 avx2 fma avx512_bf16") == "1000"  # no avx512f
    assert nnrun.spin_count("") == "1000"


def test_numpy_first_leaves_openblas_alone_and_numba_kernels_serial():
    result = probe(first="import numpy")
    assert result["env"]["OPENBLAS_THREAD_TIMEOUT"] is None
    assert result["set"] == ["GOMP_SPINCOUNT"]  # OpenMP has not loaded yet: still in time
    assert result["numba"] == 1


def test_values_already_set_are_kept():
    result = probe(first="import numpy", OPENBLAS_THREAD_TIMEOUT="6", GOMP_SPINCOUNT="5")
    assert result["env"] == {"OPENBLAS_THREAD_TIMEOUT": "6", "GOMP_SPINCOUNT": "5"}
    assert result["set"] == []
    assert result["numba"] == 2  # the user chose OpenBLAS's wait


def test_defaults_can_be_turned_off():
    result = probe(NNRUN_THREAD_DEFAULTS="0")
    assert result["env"] == {"OPENBLAS_THREAD_TIMEOUT": None, "GOMP_SPINCOUNT": None}
    assert result["numba"] == 1


@pytest.mark.parametrize("framework", ["nnrun", "torch"])
def test_benchmark_torch_worker_gets_the_environment_without_nnrun(framework, monkeypatch):
    import nnrun

    monkeypatch.setattr(nnrun, "thread_defaults_set", ["GOMP_SPINCOUNT"])
    monkeypatch.setenv("GOMP_SPINCOUNT", "10000")
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "7")  # as if the user had set it: kept for both
    env = bench.worker_env(framework)
    assert env["OPENBLAS_THREAD_TIMEOUT"] == "7"
    if framework == "torch":
        assert "GOMP_SPINCOUNT" not in env and env["NNRUN_THREAD_DEFAULTS"] == "0"
    else:
        assert env["GOMP_SPINCOUNT"] == "10000" and "NNRUN_THREAD_DEFAULTS" not in env
