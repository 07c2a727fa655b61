"""Memory bandwidth at T threads: a STREAM-like triad over float32 arrays far larger than the last-level cache.

Bytes are counted as STREAM counts them, 12 per element of a triad (b and c read, a written): the read of
a's cache lines before they are written (write-allocate) is not counted, nor is it in the roofline's bytes
(nnrun/bench/roofline.py), so bandwidth and bytes are in the same units.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def triad(a, b, c, s):
    """a = b + s * c over flat float32 arrays of one size; s is a float32, so no value becomes a float64."""
    for i in numba.prange(a.size):
        a[i] = b[i] + s * c[i]


def triad_bandwidth(threads: int, megabytes: int = 128, repeats: int = 20) -> float:
    """Best GB/s (1e9 bytes) of `repeats` triads over three arrays of `megabytes` MB each, at `threads` threads.

    numba's threads; the first triad, untimed, compiles the kernel (or loads it from numba's cache) and
    touches a's pages from the threads that write them.
    """
    n = megabytes * 2**20 // 4
    a = np.empty(n, dtype=np.float32)
    b = np.full(n, 1.0, dtype=np.float32)
    c = np.full(n, 2.0, dtype=np.float32)
    s = np.float32(3.0)
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        triad(a, b, c, s)
        best = math.inf
        for _ in range(repeats):
            tick = time.perf_counter()
            triad(a, b, c, s)
            best = min(best, time.perf_counter() - tick)
    finally:
        numba.set_num_threads(before)
    return 3 * a.itemsize * n / best / 1e9
