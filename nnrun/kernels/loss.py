"""The softmax cross-entropy's value and gradient in one pass over the logits (nnrun.losses).

NumPy needed eight passes and as many temporaries for it (max, subtract, exp, sum, log, gather,
divide, scatter), on a small batch mostly per-call overhead (figures in benchmarks/README.md). Here each
row is read once into its exponentials.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def softmax_cross_entropy(logits, y, dlogits):
    """-mean log softmax(logits)[y], with dlogits = (softmax(logits) - onehot(y)) / N written in place.

    logits and dlogits: (N, K) of one float dtype; y: (N,) int64 in 0..K-1 (anything else raises
    IndexError before any row is written). Each row is shifted by its maximum (log-sum-exp), so large
    logits do not overflow; the exponentials are summed and the loss accumulated in float64, and the
    gradient is rounded once, into the logits' dtype. A NaN or +inf logit gives a NaN loss, as the formula
    does; a label's logit of -inf gives +inf.
    """
    n, k = logits.shape
    for i in range(n):
        if y[i] < 0 or y[i] >= k:
            raise IndexError("a label is outside 0..K-1 for K logits")
    total = 0.0
    for i in range(n):
        row, out = logits[i], dlogits[i]
        top = row[0]
        for j in range(1, k):
            top = max(top, row[j])
        sum_exp = 0.0
        for j in range(k):
            out[j] = np.exp(row[j] - top)
            sum_exp += out[j]
        label = y[i]
        total += (row[label] - top) - np.log(sum_exp)
        scale = 1.0 / sum_exp
        for j in range(k):
            grad = out[j] * scale  # in float64, rounded once to the logits' dtype below
            if j == label:
                grad -= 1.0
            out[j] = grad / n
    return -total / n
