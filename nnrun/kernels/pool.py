"""Max and average pooling over NCHW arrays without padding ("valid" windows).

Windows are kh x kw, stepped by (sh, sw); the output size is read from the output array. Each public
kernel calls its loop with literal sizes for 2x2 and 3x3 windows, which lets LLVM unroll the window.
Max pooling runs one example per thread. Figures for both in benchmarks/README.md.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _maxpool_forward(x, kh, kw, sh, sw, y, argmax):
    width = x.shape[3]
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(y.shape[2]):
                h0 = oh * sh
                for ow in range(y.shape[3]):
                    w0 = ow * sw
                    best = x[n, c, h0, w0]
                    where = h0 * width + w0
                    for i in range(kh):
                        for j in range(kw):
                            value = x[n, c, h0 + i, w0 + j]
                            if value > best or value != value:
                                best = value
                                where = (h0 + i) * width + w0 + j
                    y[n, c, oh, ow] = best
                    argmax[n, c, oh, ow] = where


def maxpool_forward(x, kh, kw, sh, sw, y, argmax):
    """y[n, c, oh, ow] = max of the window; argmax[n, c, oh, ow] = its flat index h*W + w in the plane.

    x: (N, C, H, W), y: (N, C, OH, OW), argmax: int64 (N, C, OH, OW). Ties go to the first maximum in
    row-major window order and a NaN wins over numbers (the comparison torch's max_pool2d makes). Picks
    the kernel in Python, so that only the one a model uses is compiled: compiling all three in one kernel
    was a large part of a cold first batch (figures in benchmarks/README.md).
    """
    if kh == 2 and kw == 2:
        _maxpool_2x2(x, sh, sw, y, argmax)
    elif kh == 3 and kw == 3:
        _maxpool_3x3(x, sh, sw, y, argmax)
    else:
        _maxpool_any(x, kh, kw, sh, sw, y, argmax)


@numba.njit(cache=True, parallel=True)
def _maxpool_2x2(x, sh, sw, y, argmax):
    for n in numba.prange(x.shape[0]):  # one example at a time: a thread each
        _maxpool_forward(x[n : n + 1], 2, 2, sh, sw, y[n : n + 1], argmax[n : n + 1])


@numba.njit(cache=True, parallel=True)
def _maxpool_3x3(x, sh, sw, y, argmax):
    for n in numba.prange(x.shape[0]):
        _maxpool_forward(x[n : n + 1], 3, 3, sh, sw, y[n : n + 1], argmax[n : n + 1])


@numba.njit(cache=True, parallel=True)
def _maxpool_any(x, kh, kw, sh, sw, y, argmax):
    for n in numba.prange(x.shape[0]):
        _maxpool_forward(x[n : n + 1], kh, kw, sh, sw, y[n : n + 1], argmax[n : n + 1])


@numba.njit(cache=True, parallel=True)
def maxpool_backward(dy, argmax, dx):
    """Route dy: (N, C, OH, OW) to the argmax positions in dx: (N, C, H*W), adding where windows overlap.

    dx is a flat-plane view of the input gradient; the kernel zeroes it first, one example per thread,
    which beats a serial np.zeros before it (figures in benchmarks/README.md).
    """
    n_batch, channels, out_h, out_w = dy.shape
    plane = dx.shape[2]
    for n in numba.prange(n_batch):
        for c in range(channels):  # loops, not dx[n] = 0: an array expression here nests a parallel loop
            for i in range(plane):
                dx[n, c, i] = 0
        for c in range(channels):
            for oh in range(out_h):
                for ow in range(out_w):
                    dx[n, c, argmax[n, c, oh, ow]] += dy[n, c, oh, ow]


@numba.njit(cache=True)
def _avgpool_forward(x, kh, kw, sh, sw, area, y):
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(y.shape[2]):
                h0 = oh * sh
                for ow in range(y.shape[3]):
                    w0 = ow * sw
                    total = x[n, c, h0, w0]  # starting from an element keeps x's dtype (a literal 0 is float64)
                    for i in range(kh):
                        for j in range(1 if i == 0 else 0, kw):
                            total += x[n, c, h0 + i, w0 + j]
                    y[n, c, oh, ow] = total / area


@numba.njit(cache=True)
def avgpool_forward(x, kh, kw, sh, sw, area, y):
    """y[n, c, oh, ow] = mean of the kh x kw window. `area` = kh*kw as a scalar of x's dtype."""
    if kh == 2 and kw == 2:
        _avgpool_forward(x, 2, 2, sh, sw, area, y)
    elif kh == 3 and kw == 3:
        _avgpool_forward(x, 3, 3, sh, sw, area, y)
    else:
        _avgpool_forward(x, kh, kw, sh, sw, area, y)


@numba.njit(cache=True)
def _avgpool_backward(dy, kh, kw, sh, sw, area, dx):
    for n in range(dy.shape[0]):
        for c in range(dy.shape[1]):
            for oh in range(dy.shape[2]):
                h0 = oh * sh
                for ow in range(dy.shape[3]):
                    w0 = ow * sw
                    share = dy[n, c, oh, ow] / area
                    for i in range(kh):
                        for j in range(kw):
                            dx[n, c, h0 + i, w0 + j] += share


@numba.njit(cache=True)
def avgpool_backward(dy, kh, kw, sh, sw, area, dx):
    """Spread dy[n, c, oh, ow] / area evenly over its window in dx: (N, C, H, W), which the caller zeroes."""
    if kh == 2 and kw == 2:
        _avgpool_backward(dy, 2, 2, sh, sw, area, dx)
    elif kh == 3 and kw == 3:
        _avgpool_backward(dy, 3, 3, sh, sw, area, dx)
    else:
        _avgpool_backward(dy, kh, kw, sh, sw, area, dx)


def maxpool_channels_last(src, bias, relu, plane_width, kh, kw, sh, sw, y, argmax):
    """Max pooling of a convolution's channels-last sums, after its bias and (when relu) a relu.

    src: (N, H, W' >= plane_width, F' >= F), the sums of nnrun.kernels.direct.correlate; bias: (F' >= F,);
    y, argmax: (N, F, OH, OW), argmax the flat index h*plane_width + w of each winner in the convolution's
    output plane, as maxpool_forward gives it. y and argmax equal maxpool_forward's of relu(conv output):
    relu is applied to every value before the maximum (relu(NaN) is NaN, as nnrun's relu has it), then
    the same ties (the first maximum in row-major window order) and NaN rule.
    """
    if kh == 2 and kw == 2 and sh == 2 and sw == 2:
        _maxpool_channels_last_2x2(src, bias, relu, plane_width, y, argmax)
    else:
        _maxpool_channels_last_any(src, bias, relu, plane_width, kh, kw, sh, sw, y, argmax)


@numba.njit(cache=True, parallel=True)
def _maxpool_channels_last_2x2(src, bias, relu, plane_width, y, argmax):
    """maxpool_channels_last for 2x2 windows, stride 2: the window's four values compared with selects,
    which vectorise over channels, and a row of outputs transposed to NCHW through a small buffer.

    Figures in benchmarks/README.md.
    """
    n_batch, filters, out_h, out_w = y.shape
    for n in numba.prange(n_batch):
        best = np.empty((out_w, filters), dtype=y.dtype)
        where = np.empty((out_w, filters), dtype=np.int64)
        zero = np.zeros_like(bias[:1])[0]  # a 0 of the dtype: a literal 0 would make numba compute in float64
        for oh in range(out_h):
            top = src[n, 2 * oh]
            bottom = src[n, 2 * oh + 1]
            for ow in range(out_w):
                a, b, c, d = top[2 * ow], top[2 * ow + 1], bottom[2 * ow], bottom[2 * ow + 1]
                at = 2 * oh * plane_width + 2 * ow
                best_row = best[ow]
                where_row = where[ow]
                for f in range(filters):
                    v0 = a[f] + bias[f]
                    v1 = b[f] + bias[f]
                    v2 = c[f] + bias[f]
                    v3 = d[f] + bias[f]
                    if relu:
                        v0 = zero if v0 <= 0 else v0  # a NaN stays NaN (relu_forward)
                        v1 = zero if v1 <= 0 else v1
                        v2 = zero if v2 <= 0 else v2
                        v3 = zero if v3 <= 0 else v3
                    m = v0
                    k = at
                    wins = (v1 > m) | (v1 != v1)  # a later value wins when larger or NaN, as in maxpool_forward
                    m = v1 if wins else m
                    k = at + 1 if wins else k
                    wins = (v2 > m) | (v2 != v2)
                    m = v2 if wins else m
                    k = at + plane_width if wins else k
                    wins = (v3 > m) | (v3 != v3)
                    m = v3 if wins else m
                    k = at + plane_width + 1 if wins else k
                    best_row[f] = m
                    where_row[f] = k
            for f in range(filters):
                y_row = y[n, f, oh]
                argmax_row = argmax[n, f, oh]
                for ow in range(out_w):
                    y_row[ow] = best[ow, f]
                    argmax_row[ow] = where[ow, f]


@numba.njit(cache=True, parallel=True)
def _maxpool_channels_last_any(src, bias, relu, plane_width, kh, kw, sh, sw, y, argmax):
    n_batch, filters, out_h, out_w = y.shape
    for n in numba.prange(n_batch):
        best = np.empty_like(bias[:filters])
        where = np.empty(filters, np.int64)
        zero = np.zeros_like(bias[:1])[0]  # a 0 of the dtype: a literal 0 would make numba compute in float64
        for oh in range(out_h):
            for ow in range(out_w):
                h0 = oh * sh
                w0 = ow * sw
                for i in range(kh):
                    for j in range(kw):
                        row = src[n, h0 + i, w0 + j]
                        at = (h0 + i) * plane_width + w0 + j
                        for f in range(filters):
                            value = row[f] + bias[f]
                            if relu:
                                value = zero if value <= 0 else value
                            if (i == 0 and j == 0) or value > best[f] or value != value:
                                best[f] = value
                                where[f] = at
                for f in range(filters):
                    y[n, f, oh, ow] = best[f]
                    argmax[n, f, oh, ow] = where[f]


@numba.njit(cache=True, parallel=True)
def unpool_channels_last(dy, argmax, y, relu, grads):
    """The gradient of maxpool_channels_last, channels-last, for nnrun.kernels.direct.correlate_weights.

    grads[n, h, w, f] = the sum of dy[n, f, oh, ow] over the windows whose winner is h*W + w, leaving out
    (when relu) those whose pooled y is 0 or less (a NaN passes, as in relu_backward); every other entry of
    grads[n] is 0.
    dy, argmax, y: (N, F, OH, OW); grads: (N, H, W, F' >= F). The argmax indexes rows of (H*W, F'), which
    is cheaper than dividing it into the winner's row and column (figures in benchmarks/README.md).
    """
    n_batch, filters, out_h, out_w = dy.shape
    for n in numba.prange(n_batch):
        plane = grads[n].reshape(-1, grads.shape[3])  # (H*W, F'): the argmax indexes its rows, no division
        for p in range(plane.shape[0]):
            for f in range(plane.shape[1]):
                plane[p, f] = 0
        for f in range(filters):
            for oh in range(out_h):
                for ow in range(out_w):
                    if relu and y[n, f, oh, ow] <= 0:
                        continue
                    plane[argmax[n, f, oh, ow], f] += dy[n, f, oh, ow]
