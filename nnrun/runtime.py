"""The process around a run: thread pools, versions and the git commit recorded in summary.json."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

_limits = None  # the active threadpoolctl limiter, kept alive for the process


def configure_threads(threads: int | None) -> int:
    """Give BLAS and numba's parallel kernels `threads` threads each (all cores when None).

    The two pools take turns, never running at once, which works only when each one's idle threads
    stop spinning soon (nnrun/__init__.py sets that up before numpy loads OpenBLAS). When OpenBLAS was
    loaded with its default wait (numpy imported before nnrun, OPENBLAS_THREAD_TIMEOUT unset), numba's
    kernels get one thread: with both pools at 2 threads a CNN7 step took 64-70 ms, with numba at 1
    thread 30 ms, and with the short waits 16-19 ms.
    """
    global _limits
    from threadpoolctl import threadpool_limits

    count = threads or os.cpu_count() or 1
    _limits = threadpool_limits(limits=count, user_api="blas")
    try:
        import numba

        kernels = count if blas_waits_briefly() else 1
        numba.set_num_threads(min(kernels, numba.config.NUMBA_NUM_THREADS))
    except (ImportError, ValueError):
        pass
    return count


def blas_waits_briefly() -> bool:
    """Whether OpenBLAS's idle threads were told to stop spinning soon (OPENBLAS_THREAD_TIMEOUT set)."""
    return "OPENBLAS_THREAD_TIMEOUT" in os.environ


def versions() -> dict[str, str]:
    import numba
    import numpy

    from nnrun import __version__

    return {
        "nnrun": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
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
