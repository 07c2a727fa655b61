"""Inverted-dropout kernel for nnrun.layers.dropout.

The uniforms come from the layer's numpy Generator (numba cannot draw from one), so the same seed
gives the same masks. Keeping the uniforms instead of a mask lets one kernel serve forward and backward.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True)
def dropout_apply(x, u, rate, scale, y):
    """y = x * scale where u >= rate, else 0; flat arrays, rate and scale scalars of x's dtype.

    u is uniform on [0, 1), so each unit is kept with probability 1 - rate.
    """
    for i in range(x.size):
        y[i] = x[i] * scale if u[i] >= rate else 0
