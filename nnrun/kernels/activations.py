"""Elementwise activation kernels (and the row-wise softmax) for nnrun.layers.activations.

Arrays are contiguous; the elementwise kernels take flat views (`x.reshape(-1)`) so one kernel serves
every input shape. Outputs are written into arrays the caller allocates in the input's dtype.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# relu splits arrays of at least this many elements across numba's threads (figures in benchmarks/README.md).
# Smaller ones, such as the MLP's 100x1000 hidden layer, stay on one thread, where they run between two BLAS
# calls whose threads are still spinning.
PARALLEL_ELEMENTS = 1 << 18


@numba.njit(cache=True, parallel=True)
def relu_forward(x, y):
    # `0 if v <= 0` rather than `v if v > 0`: a NaN fails both tests, and must come out NaN, as in torch
    if x.size < PARALLEL_ELEMENTS:
        for i in range(x.size):
            v = x[i]
            y[i] = 0 if v <= 0 else v
    else:
        for i in numba.prange(x.size):
            v = x[i]
            y[i] = 0 if v <= 0 else v


@numba.njit(cache=True, parallel=True)
def relu_backward(x, dy, dx):
    # the derivative at exactly 0 is taken as 0, and at NaN as 1 (dy passes), as torch does
    if x.size < PARALLEL_ELEMENTS:
        for i in range(x.size):
            dx[i] = 0 if x[i] <= 0 else dy[i]
    else:
        for i in numba.prange(x.size):
            dx[i] = 0 if x[i] <= 0 else dy[i]


@numba.njit(cache=True)
def bias_relu_rows(y, bias):
    """y = max(y + bias, 0) in place, y: (N, F), bias: (F,) or (0,) for none: a dense layer's epilogue.

    The same sums and comparisons as the bias add and relu_forward apart, so the same bits.
    """
    n, f = y.shape
    zero = np.zeros(1, y.dtype)[0]  # a literal 0 would make numba compute the select in float64
    for i in range(n):
        row = y[i]
        if bias.size:
            for j in range(f):
                v = row[j] + bias[j]
                row[j] = zero if v <= 0 else v
        else:
            for j in range(f):
                v = row[j]
                row[j] = zero if v <= 0 else v


@numba.njit(cache=True)
def relu_backward_rows(y, dy, dx, dbias):
    """dx = dy where y > 0 or is NaN, else 0, and dbias = the column sums of dx (when dbias has F entries,
    else none).

    y is the relu's output: y > 0 or NaN exactly where its input was. The column sums add row after row, in
    the order of NumPy's sum over axis 0, so they match it bit for bit. With a zero of dx's dtype rather
    than a literal 0 (which numba unifies with float32 as float64) the loop with the sums vectorises
    (figures in benchmarks/README.md).
    """
    n, f = y.shape
    zero = np.zeros(1, dx.dtype)[0]
    if dbias.size == 0:
        for i in range(n):
            for j in range(f):
                dx[i, j] = zero if y[i, j] <= 0 else dy[i, j]
        return
    dbias[:] = zero
    for i in range(n):
        for j in range(f):
            g = zero if y[i, j] <= 0 else dy[i, j]
            dx[i, j] = g
            dbias[j] += g


@numba.njit(cache=True)
def leaky_relu_forward(x, alpha, y):
    # alpha arrives as a scalar of x's dtype, so float32 stays float32
    for i in range(x.size):
        v = x[i]
        y[i] = v if v > 0 else alpha * v


@numba.njit(cache=True)
def leaky_relu_backward(x, alpha, dy, dx):
    for i in range(x.size):
        dx[i] = dy[i] if x[i] > 0 else alpha * dy[i]


@numba.njit(cache=True)
def sigmoid_forward(x, y):
    # exp of a non-positive number only: no overflow for large |x|
    for i in range(x.size):
        v = x[i]
        if v >= 0:
            y[i] = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            y[i] = e / (1.0 + e)


@numba.njit(cache=True)
def sigmoid_backward(y, dy, dx):
    for i in range(y.size):
        s = y[i]
        dx[i] = dy[i] * s * (1 - s)


@numba.njit(cache=True)
def tanh_forward(x, y):
    for i in range(x.size):
        y[i] = math.tanh(x[i])


@numba.njit(cache=True)
def tanh_backward(y, dy, dx):
    for i in range(y.size):
        t = y[i]
        dx[i] = dy[i] * (1 - t * t)


@numba.njit(cache=True)
def softmax_forward(x, y):
    """Softmax of each row of x: (N, D), shifted by the row max so exp never overflows."""
    n, d = x.shape
    for r in range(n):
        top = x[r, 0]
        for j in range(1, d):
            if x[r, j] > top:
                top = x[r, j]
        total = 0.0  # float64 accumulator for float32 rows too
        for j in range(d):
            e = math.exp(x[r, j] - top)
            y[r, j] = e
            total += e
        inv = 1.0 / total
        for j in range(d):
            y[r, j] = y[r, j] * inv


@numba.njit(cache=True)
def softmax_backward(y, dy, dx):
    """Jacobian-vector product of softmax per row: dx = y * (dy - sum(dy * y))."""
    n, d = y.shape
    for r in range(n):
        dot = 0.0
        for j in range(d):
            dot += dy[r, j] * y[r, j]
        for j in range(d):
            dx[r, j] = y[r, j] * (dy[r, j] - dot)
