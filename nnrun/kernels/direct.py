"""Direct stride-1 2-D correlation on zero-padded, flattened image planes, register-blocked for SIMD.

The layout ("grid"). A batch of C-channel images is held as planes: (N, C * L). Channel c of example n
is its zero-padded Hp x Wp image flattened row by row, followed by zeros up to L. An output pixel
(oh, ow) is computed at grid position p = oh * Wp + ow, so for kernel tap (c, i, j) the inputs of all
pixels are planes[n, c*L + i*Wp + j + p]: one unit-stride run, with no bounds tests and no im2col
copy. Positions with ow >= OW, and the tail up to a multiple of PIXELS, are computed too and thrown
away: (Wp - OW) / OW more arithmetic (29% for a 5x5 kernel on 14x14) buys contiguous vector loads.

Blocks. `correlate` keeps CHANNELS x PIXELS sums (4 x 64 floats: 16 AVX-512 registers) in registers
while it runs over every tap; `correlate_weights` keeps 4 taps x 4 channels x LANES partial sums.
The accumulators live in a stack array (`_registers`) that LLVM promotes to registers once the
constant-trip loops over them are unrolled, and the kernels ask for 512-bit vectors, which LLVM
otherwise avoids on AVX-512 CPUs (it prefers 256-bit ones). One thread per core: the parallel loops
are over examples (forward) and over blocks of taps (weight gradient), so every sum is added in the
same order whatever the thread count, and results are identical with 1 or 2 threads.

16@5x5 over 32x14x14, forward of a batch of 50: im2col + sgemm (OpenBLAS, 2 threads) 6.25 ms; this
kernel on one core 4.2 ms with 256-bit vectors, 2.4 ms with 512-bit ones (101 GFLOP/s of useful work),
on two cores 1.2 ms.
"""

from __future__ import annotations

import llvmlite.ir as llvm_ir
import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

CHANNELS = 4  # output channels per register block
PIXELS = 64  # grid positions per register block of `correlate`
LANES = 16  # vector lanes of `correlate_weights`' partial sums
TAPS = 4  # kernel taps per register block of `correlate_weights`
EXAMPLES = 8  # examples `correlate_weights` runs through before it stores its partial sums


@intrinsic
def _registers(typingctx, like, size):
    """A stack array of `size` (a literal) elements of like.dtype, as a pointer for numba.carray.

    Also marks the calling function to prefer 512-bit vectors ("prefer-vector-width"="512", an LLVM
    function attribute that llvmlite's attribute set does not list, hence set.add).
    """
    if not isinstance(size, types.IntegerLiteral):
        return None
    dtype = like.dtype
    count = size.literal_value

    def codegen(context, builder, signature, args):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        element = context.get_value_type(dtype)
        array = cgutils.alloca_once(builder, llvm_ir.ArrayType(element, count))
        return builder.bitcast(array, element.as_pointer())

    return types.CPointer(dtype)(like, size), codegen


@numba.njit(cache=True, parallel=True, fastmath={"contract"})
def correlate(planes, weight_t, offsets, out):
    """out[n, f, p] = sum over r of weight_t[r, f] * planes[n, offsets[r] + p], for every p < out.shape[2].

    planes: (N, S), S >= max(offsets) + out.shape[2]; weight_t: (R, F) with F a multiple of CHANNELS;
    offsets: (R,) int64; out: (N, F, P) with P a multiple of PIXELS.
    """
    n_batch = planes.shape[0]
    rows, filters = weight_t.shape
    grid = out.shape[2]
    for n in numba.prange(n_batch):
        acc = numba.carray(_registers(out, 256), (4, 64))
        x = planes[n]
        for f0 in range(0, filters, 4):
            for p0 in range(0, grid, 64):
                for a in range(4):
                    for b in range(64):
                        acc[a, b] = 0
                for r in range(rows):
                    start = offsets[r] + p0
                    xs = x[start : start + 64]
                    w = weight_t[r]
                    w0, w1, w2, w3 = w[f0], w[f0 + 1], w[f0 + 2], w[f0 + 3]
                    for b in range(64):
                        v = xs[b]
                        acc[0, b] += w0 * v
                        acc[1, b] += w1 * v
                        acc[2, b] += w2 * v
                        acc[3, b] += w3 * v
                for a in range(4):
                    dst = out[n, f0 + a]
                    for b in range(64):
                        dst[p0 + b] = acc[a, b]


@numba.njit(cache=True, parallel=True, fastmath={"contract"})
def correlate_weights(planes, grads, offsets, partial, threads):
    """partial[r, f, l] += sum over n and p = l (mod LANES) of grads[n, f, p] * planes[n, offsets[r] + p].

    The weight gradient of `correlate`, before its LANES partial sums are added up (the caller sums
    axis 2). grads: (N, F, P), zero at every grid position that is not an output pixel, F a multiple of
    CHANNELS and P of LANES; offsets: (R,) with R a multiple of TAPS; partial: (R, F, LANES). Each of
    `threads` (numba.get_num_threads(), passed in: reading it here would stop numba caching the kernel)
    owns a range of taps and runs over every example, so nothing is summed across threads.
    """
    n_batch, filters, grid = grads.shape
    blocks = offsets.shape[0] // 4
    threads = max(1, min(threads, blocks))
    for t in numba.prange(threads):
        acc = numba.carray(_registers(partial, 256), (4, 4, 16))
        for first in range(0, n_batch, EXAMPLES):
            last = min(first + EXAMPLES, n_batch)
            for block in range(t * blocks // threads, (t + 1) * blocks // threads):
                r0 = block * 4
                o0, o1, o2, o3 = offsets[r0], offsets[r0 + 1], offsets[r0 + 2], offsets[r0 + 3]
                for f0 in range(0, filters, 4):
                    for b in range(4):
                        for a in range(4):
                            for lane in range(16):
                                acc[b, a, lane] = partial[r0 + b, f0 + a, lane]
                    for n in range(first, last):
                        x = planes[n]
                        g0, g1, g2, g3 = grads[n, f0], grads[n, f0 + 1], grads[n, f0 + 2], grads[n, f0 + 3]
                        x0, x1, x2, x3 = x[o0 : o0 + grid], x[o1 : o1 + grid], x[o2 : o2 + grid], x[o3 : o3 + grid]
                        for step in range(grid // 16):
                            p0 = np.uintp(step * 16)  # unsigned: numba then skips the negative-index wraparound
                            for lane in range(np.uintp(16)):
                                acc[0, 0, lane] += g0[p0 + lane] * x0[p0 + lane]
                                acc[0, 1, lane] += g1[p0 + lane] * x0[p0 + lane]
                                acc[0, 2, lane] += g2[p0 + lane] * x0[p0 + lane]
                                acc[0, 3, lane] += g3[p0 + lane] * x0[p0 + lane]
                                acc[1, 0, lane] += g0[p0 + lane] * x1[p0 + lane]
                                acc[1, 1, lane] += g1[p0 + lane] * x1[p0 + lane]
                                acc[1, 2, lane] += g2[p0 + lane] * x1[p0 + lane]
                                acc[1, 3, lane] += g3[p0 + lane] * x1[p0 + lane]
                                acc[2, 0, lane] += g0[p0 + lane] * x2[p0 + lane]
                                acc[2, 1, lane] += g1[p0 + lane] * x2[p0 + lane]
                                acc[2, 2, lane] += g2[p0 + lane] * x2[p0 + lane]
                                acc[2, 3, lane] += g3[p0 + lane] * x2[p0 + lane]
                                acc[3, 0, lane] += g0[p0 + lane] * x3[p0 + lane]
                                acc[3, 1, lane] += g1[p0 + lane] * x3[p0 + lane]
                                acc[3, 2, lane] += g2[p0 + lane] * x3[p0 + lane]
                                acc[3, 3, lane] += g3[p0 + lane] * x3[p0 + lane]
                    for b in range(4):
                        for a in range(4):
                            for lane in range(16):
                                partial[r0 + b, f0 + a, lane] = acc[b, a, lane]


@numba.njit(cache=True, parallel=True)
def to_grid(x, top, left, width, plane, planes):
    """planes[n, c*plane + (top + h)*width + left + w] = x[n, c, h, w]; x: (N, C, H, W), planes: (N, S).

    Writes only those positions; the caller zeroes planes once, and the rest stays zero.
    """
    n_batch, channels, height, cols = x.shape
    for n in numba.prange(n_batch):
        for c in range(channels):
            for h in range(height):
                start = c * plane + (top + h) * width + left
                dst = planes[n, start : start + cols]
                src = x[n, c, h]
                for w in range(cols):
                    dst[w] = src[w]


@numba.njit(cache=True, parallel=True)
def from_grid(grid, width, bias, out):
    """out[n, f, h, w] = grid[n, f, h*width + w] + bias[f]; out: (N, F, H, W), grid: (N, F' >= F, P)."""
    n_batch, filters, height, cols = out.shape
    for n in numba.prange(n_batch):
        for f in range(filters):
            b = bias[f]
            src = grid[n, f]
            for h in range(height):
                row = src[h * width : h * width + cols]
                dst = out[n, f, h]
                for w in range(cols):
                    dst[w] = row[w] + b


@numba.njit(cache=True)
def sum_lanes(partial, out):
    """out[f, r] = sum over l of partial[r, f, l], for the out.shape[0] filters and out.shape[1] taps."""
    filters, taps = out.shape
    for f in range(filters):
        for r in range(taps):
            total = partial[r, f, 0]
            for lane in range(1, partial.shape[2]):
                total += partial[r, f, lane]
            out[f, r] = total
