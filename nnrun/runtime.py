"""The process around a run: thread pools, versions and the git commit recorded in summary.json."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

_limits = None  # the active threadpoolctl limiter, kept alive for the process


def configure_threads(threads: int | None) -> int:
    """Give BLAS `threads` threads (all cores when None) and keep numba's pool at the same count.

    nnrun's numba kernels are serial, so the two pools never run at once; a prototype with both
    pools at 2 threads on 2 cores ran a CNN step 3.4x slower than BLAS alone.
    """
    global _limits
    from threadpoolctl import threadpool_limits

    count = threads or os.cpu_count() or 1
    _limits = threadpool_limits(limits=count, user_api="blas")
    try:
        import numba

        numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    except (ImportError, ValueError):
        pass
    return count


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
