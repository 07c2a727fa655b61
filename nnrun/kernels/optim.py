"""Fused in-place optimizer updates: one pass over a flattened parameter, its gradient and its state.

Every kernel reads g = grad + weight_decay * w without writing grad. The caller passes every scalar
already cast to the parameter's dtype, so a float32 parameter is updated in float32 arithmetic
(numba promotes float32 * float64 to float64). The formulas follow torch.optim's single-tensor code.

error_model="numpy" lets a division by zero give inf/nan as NumPy does instead of raising, which drops the
per-element check that kept LLVM from vectorising (figures in benchmarks/README.md). It changes no result;
it is not fastmath.

State that decays geometrically (momentum, running averages of g and g²) is flushed to zero once it falls
below `tiny`, the smallest normal number of the dtype. A first moment whose gradient stays 0 (a pixel that
is almost always black) shrinks by beta1 every step and becomes subnormal within a few hundred steps;
x86 computes on subnormals through slow microcode, so a long run slows down once they appear (figures in
benchmarks/README.md). A value below 1.2e-38 (float32) moves no weight: the update it would make is some
30 orders of magnitude below a weight's last bit.
"""

from __future__ import annotations

import numba
import numpy as np

PARALLEL_ELEMENTS = 1 << 18  # parameters at least this large are updated by all of numba's threads (adam_step)


@numba.njit(cache=True, error_model="numpy")
def sgd_step(w, grad, lr, weight_decay):
    """w -= lr * g."""
    for i in range(w.size):
        g = grad[i] + weight_decay * w[i]
        w[i] -= lr * g


@numba.njit(cache=True, error_model="numpy")
def momentum_step(w, grad, velocity, lr, weight_decay, mu, nesterov, tiny):
    """torch SGD(momentum=mu): v = mu*v + g; w -= lr*v, or w -= lr*(g + mu*v) when nesterov."""
    for i in range(w.size):
        g = grad[i] + weight_decay * w[i]
        v = mu * velocity[i] + g
        if abs(v) < tiny:  # flush a subnormal to zero (module docstring); v - v is a zero of v's dtype
            v = v - v
        velocity[i] = v
        if nesterov:
            w[i] -= lr * (g + mu * v)
        else:
            w[i] -= lr * v


@numba.njit(cache=True, error_model="numpy")
def adagrad_step(w, grad, sum_sq, lr, weight_decay, eps):
    """s += g²; w -= lr * g / (sqrt(s) + eps)."""
    for i in range(w.size):
        g = grad[i] + weight_decay * w[i]
        s = sum_sq[i] + g * g
        sum_sq[i] = s
        w[i] -= lr * (g / (np.sqrt(s) + eps))


@numba.njit(cache=True, error_model="numpy")
def adadelta_step(w, grad, square_avg, acc_delta, lr, weight_decay, rho, one_minus_rho, eps, tiny):
    """Zeiler's Adadelta: the step is g scaled by RMS(past steps) / RMS(past gradients), times lr."""
    for i in range(w.size):
        g = grad[i] + weight_decay * w[i]
        s = rho * square_avg[i] + one_minus_rho * g * g
        if s < tiny:
            s = s - s
        square_avg[i] = s
        delta = np.sqrt(acc_delta[i] + eps) / np.sqrt(s + eps) * g
        a = rho * acc_delta[i] + one_minus_rho * delta * delta
        if a < tiny:
            a = a - a
        acc_delta[i] = a
        w[i] -= lr * delta


@numba.njit(cache=True, error_model="numpy")
def rmsprop_step(w, grad, square_avg, lr, weight_decay, alpha, one_minus_alpha, eps, tiny):
    """s = alpha*s + (1-alpha)*g²; w -= lr * g / (sqrt(s) + eps)  (eps outside the root, as torch)."""
    for i in range(w.size):
        g = grad[i] + weight_decay * w[i]
        s = alpha * square_avg[i] + one_minus_alpha * g * g
        if s < tiny:
            s = s - s
        square_avg[i] = s
        w[i] -= lr * (g / (np.sqrt(s) + eps))


@numba.njit(cache=True, error_model="numpy", inline="always")
def _adam_entry(w, g, m, v, step_size, one_minus_beta1, beta2, one_minus_beta2, sqrt_bc2, eps, tiny):
    """One entry of adam_step: (new w, new m, new v). Inlined, so the loops around it still vectorise."""
    m = m + one_minus_beta1 * (g - m)
    if abs(m) < tiny:  # flush a subnormal to zero (module docstring); m - m is a zero of m's dtype
        m = m - m
    v = beta2 * v + one_minus_beta2 * g * g
    if v < tiny:
        v = v - v
    return w - step_size * (m / (np.sqrt(v) / sqrt_bc2 + eps)), m, v


@numba.njit(cache=True, error_model="numpy", parallel=True)
def adam_step(w, grad, m, v, step_size, weight_decay, one_minus_beta1, beta2, one_minus_beta2, sqrt_bc2, eps, tiny):
    """Adam with torch's bias correction: w -= step_size * m / (sqrt(v) / sqrt_bc2 + eps).

    step_size = lr / (1 - beta1**t) and sqrt_bc2 = sqrt(1 - beta2**t) are computed once per step by the
    caller. m moves toward g by (1 - beta1) as torch's lerp does. Parameters of PARALLEL_ELEMENTS or more
    are split across numba's threads by one prange over the entries: a prange over blocks that each call a
    serial loop lost the loop's vectors. Figures in benchmarks/README.md.
    """
    if w.size < PARALLEL_ELEMENTS:
        for i in range(w.size):
            g = grad[i] + weight_decay * w[i]
            w[i], m[i], v[i] = _adam_entry(
                w[i], g, m[i], v[i], step_size, one_minus_beta1, beta2, one_minus_beta2, sqrt_bc2, eps, tiny
            )
    else:
        for i in numba.prange(w.size):
            g = grad[i] + weight_decay * w[i]
            w[i], m[i], v[i] = _adam_entry(
                w[i], g, m[i], v[i], step_size, one_minus_beta1, beta2, one_minus_beta2, sqrt_bc2, eps, tiny
            )


@numba.njit(cache=True, error_model="numpy")
def sum_squares(x):
    """Σ x², accumulated in float64 so a float32 gradient of millions of entries keeps its precision.

    Eight independent partial sums break the chain of dependent adds, which one running sum waits on
    (figures in benchmarks/README.md).
    """
    partial = np.zeros(8)
    whole = x.size - x.size % 8
    for i in range(0, whole, 8):
        for k in range(8):
            value = np.float64(x[i + k])
            partial[k] += value * value
    total = 0.0
    for i in range(whole, x.size):
        value = np.float64(x[i])
        total += value * value
    return total + partial.sum()
