"""The process around a run: thread pools, versions, the machine and the git commit recorded in summary.json."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numba
import numpy
from threadpoolctl import threadpool_limits

from nnrun import CPU_FLAGS, __version__, has_avx512

_limits = None  # the active threadpoolctl limiter, kept alive for the process


def configure_threads(threads: int | None) -> int:
    """Give BLAS and numba's parallel kernels `threads` threads each (all cores when None).

    The two pools take turns, never running at once, which works only when each one's idle threads
    stop spinning soon (nnrun/__init__.py sets that up before numpy loads OpenBLAS). When OpenBLAS was
    loaded with its default wait (numpy imported before nnrun, OPENBLAS_THREAD_TIMEOUT unset), numba's
    kernels get one thread: that beats two pools spinning against each other, though not the short waits
    (figures in benchmarks/README.md).
    """
    global _limits
    count = threads or os.cpu_count() or 1
    _limits = threadpool_limits(limits=count, user_api="blas")
    kernels = count if blas_waits_briefly() else 1
    try:
        numba.set_num_threads(min(kernels, numba.config.NUMBA_NUM_THREADS))
    except ValueError:
        pass
    return count


def blas_waits_briefly() -> bool:
    """Whether OpenBLAS's idle threads were told to stop spinning soon (OPENBLAS_THREAD_TIMEOUT set)."""
    return "OPENBLAS_THREAD_TIMEOUT" in os.environ


def versions() -> dict[str, str]:
    return {
        "nnrun": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
    }


def machine() -> dict[str, Any]:
    """The CPU a run's timings belong to: its model name, core count and whether it has AVX-512."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model.startswith("Intel"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "avx512": has_avx512(CPU_FLAGS),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def git_commit(where: Path | None = None) -> str | None:
    """The commit of the checkout nnrun runs from, with '-dirty' when it has changes; None outside git."""
    where = where or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit
