"""Batch normalisation kernels for nnrun.layers.norm.

Every input is seen as x: (N, C, S): C features with S = 1 after a dense layer, or C channels with
S = H*W positions after a convolution. Per-channel statistics are float64 arrays of shape (C,);
sums are accumulated in float64 for float32 inputs too.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True)
def batch_stats(x, mean, var):
    """mean[c] and biased var[c] of x: (N, C, S) over N and S, two-pass for accuracy."""
    n, c, s = x.shape
    count = n * s
    for k in range(c):
        total = 0.0
        for i in range(n):
            for j in range(s):
                total += x[i, k, j]
        mu = total / count
        sq = 0.0
        for i in range(n):
            for j in range(s):
                d = x[i, k, j] - mu
                sq += d * d
        mean[k] = mu
        var[k] = sq / count


@numba.njit(cache=True)
def batchnorm_forward(x, mean, inv_std, gamma, beta, y):
    """y = gamma * (x - mean) * inv_std + beta per channel; x, y: (N, C, S), the rest (C,)."""
    n, c, s = x.shape
    for k in range(c):
        scale = gamma[k] * inv_std[k]
        shift = beta[k] - mean[k] * scale
        for i in range(n):
            for j in range(s):
                y[i, k, j] = x[i, k, j] * scale + shift


@numba.njit(cache=True)
def batchnorm_backward(x, dy, mean, inv_std, gamma, batch_statistics, dx, dgamma, dbeta):
    """Gradients of batchnorm_forward; x, dy, dx: (N, C, S), the rest (C,).

    With batch_statistics (train mode) mean and inv_std depend on x, giving the fused formula
    dx = gamma * inv_std / M * (M * dy - sum(dy) - xhat * sum(dy * xhat)), M = N * S.
    Without (eval mode) they are constants and dx = gamma * inv_std * dy.
    """
    n, c, s = x.shape
    count = n * s
    for k in range(c):
        mu = mean[k]
        istd = inv_std[k]
        sum_dy = 0.0
        sum_dy_xhat = 0.0
        for i in range(n):
            for j in range(s):
                g = dy[i, k, j]
                sum_dy += g
                sum_dy_xhat += g * (x[i, k, j] - mu) * istd
        dgamma[k] = sum_dy_xhat
        dbeta[k] = sum_dy
        scale = gamma[k] * istd
        if batch_statistics:
            mean_dy = sum_dy / count
            mean_dy_xhat = sum_dy_xhat / count
            for i in range(n):
                for j in range(s):
                    xhat = (x[i, k, j] - mu) * istd
                    dx[i, k, j] = scale * (dy[i, k, j] - mean_dy - xhat * mean_dy_xhat)
        else:
            for i in range(n):
                for j in range(s):
                    dx[i, k, j] = scale * dy[i, k, j]
