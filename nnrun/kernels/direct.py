"""Direct stride-1 2-D correlation, register-blocked for SIMD: the numerical core of conv2d.

Inputs ("planes"). A batch of C-channel images is held as (N, C * plane): channel c of example n is
its zero-padded Hp x Wp image flattened row by row, then a few zeros. Output pixel (oh, ow) sits at
p = oh * Wp + ow, so the input of kernel tap (c, i, j) for it is planes[n, c*plane + i*Wp + j + p]:
every tap is an offset, and the kernels need no im2col copy and no bounds tests.

Outputs are channels-last, vectorised over 16 output channels: `correlate` keeps PIXELS = 14
consecutive output pixels x 16 channels of sums in registers (14 of the 32 AVX-512 registers) while
it runs over every tap, one broadcast input value and one vector of weights at a time;
`correlate_weights` keeps 14 taps x 16 channels while it runs over every example and pixel. Rows are
computed PIXELS at a time, so a row of OW pixels costs ceil(OW / 14) * 14 (the benchmark's 28 and 14
wide rows: no waste). The accumulators live in a stack array (`_registers`) that LLVM promotes to
registers once the constant-trip loops over them are unrolled, and the kernels ask for 512-bit
vectors, which LLVM otherwise avoids on AVX-512 CPUs (it prefers 256-bit ones). The parallel loops
are over examples (forward) and over blocks of taps (weight gradient), so every sum is added in the
same order whatever the thread count: results are identical with 1 or 2 threads. Every kernel loads by
unsigned index (U) rather than through slices, whose bounds numba wraps and clamps on every tap: 2-15%
faster on the Xeon and on AVX2, the same sums (figures in benchmarks/README.md).

The blocks above fit AVX-512's 32 registers of 16 floats. Where numba compiles without AVX-512 (AVX2:
16 registers of 8 floats), 14 x 16 sums would need 28 registers and LLVM spills them to the stack, so
the layers take `correlate_narrow` (5 pixels x 16 channels, rows computed 5 at a time) and
`correlate_weights_narrow` (6 taps x 16) instead: `forward_kernel` and `weight_kernel` pick.

Channels rather than pixels fill the vectors so that no lane is spent on a row's padding. Figures against
im2col + sgemm, pixel-vectorised kernels, 256-bit vectors and the narrow blocks: benchmarks/README.md.
"""

from __future__ import annotations

import llvmlite.binding as llvm_binding
import llvmlite.ir as llvm_ir
import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 16  # output channels per register block: channel counts are padded to a multiple of this
PIXELS = 14  # output pixels per register block of `correlate` (`correlate_wide`: 7)
TAPS = 14  # kernel taps per register block of `correlate_weights`; tap lists are padded to a multiple of it
WIDE_TAPS = 7  # taps per register block of `correlate_weights_wide` (7 taps x 32 channels)
NARROW_PIXELS = 5  # output pixels per register block of `correlate_narrow`
NARROW_TAPS = 6  # taps per register block of `correlate_weights_narrow`
EXAMPLES = 8  # the weight gradients sum this many examples in registers, then add the sum to their output
# Unsigned constants for the kernels' index arithmetic: an index of type uintp skips numba's wraparound
# of negative indices, and uintp + uintp stays unsigned where uintp + a literal 1 becomes int64.
U = tuple(np.uintp(k) for k in range(LANES))
HALF = np.uintp(LANES)  # the second vector of a 32-channel block


def _has_avx512() -> bool:
    """Whether numba compiles for AVX-512 here: the host CPU's features, or NUMBA_CPU_FEATURES when set."""
    features = numba.config.CPU_FEATURES
    if features is None:
        features = llvm_binding.get_host_cpu_features().flatten()
    return "+avx512f" in features.split(",")


# The register blocks suit the machine's vectors: with AVX-512's 32 registers of 16 floats, blocks of
# 14 x 16 or 7 x 32 sums; with 16 registers of 8 floats (AVX2 and others), 5 or 6 x 16.
WIDE_VECTORS = _has_avx512()
# Output rows are computed in blocks of ROW_PIXELS: every forward kernel the running CPU uses divides it.
ROW_PIXELS = PIXELS if WIDE_VECTORS else NARROW_PIXELS


def forward_kernel(lanes: int):
    """The running CPU's correlation for `lanes` output channels (a multiple of LANES): correlate's signature."""
    if not WIDE_VECTORS:
        return correlate_narrow
    return correlate_wide if lanes % (2 * LANES) == 0 else correlate


def weight_kernel(lanes: int):
    """(kernel, taps per block) of the running CPU's weight gradient for `lanes` output channels."""
    if not WIDE_VECTORS:
        return correlate_weights_narrow, NARROW_TAPS
    if lanes % (2 * LANES) == 0:
        return correlate_weights_wide, WIDE_TAPS
    return correlate_weights, TAPS


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
def correlate(planes, weight_t, offsets, width, out):
    """out[n, oh, ow, f] = sum over r of weight_t[r, f] * planes[n, offsets[r] + oh*width + ow].

    planes: (N, S); weight_t: (R, F) with F a multiple of LANES; offsets: (R,) int64; out: (N, OH, OW, F)
    with OW a multiple of PIXELS, and every read inside planes (the caller's planes end with zeros).
    """
    n_batch = planes.shape[0]
    rows, filters = weight_t.shape
    out_h, out_w = out.shape[1], out.shape[2]
    for n in numba.prange(n_batch):
        acc = numba.carray(_registers(out, 224), (14, 16))
        x = planes[n]
        for oh in range(out_h):
            for ow0 in range(0, out_w, 14):
                start = np.uintp(oh * width + ow0)
                for f0 in range(0, filters, 16):
                    for k in range(14):
                        for lane in range(16):
                            acc[k, lane] = 0
                    f = np.uintp(f0)
                    for r in range(rows):
                        p = np.uintp(offsets[r]) + start
                        w = weight_t[r]
                        x0, x1, x2, x3 = x[p], x[p + U[1]], x[p + U[2]], x[p + U[3]]
                        x4, x5, x6, x7 = x[p + U[4]], x[p + U[5]], x[p + U[6]], x[p + U[7]]
                        x8, x9, x10, x11 = x[p + U[8]], x[p + U[9]], x[p + U[10]], x[p + U[11]]
                        x12, x13 = x[p + U[12]], x[p + U[13]]
                        for lane in range(16):
                            v = w[f + U[lane]]
                            acc[0, lane] += x0 * v
                            acc[1, lane] += x1 * v
                            acc[2, lane] += x2 * v
                            acc[3, lane] += x3 * v
                            acc[4, lane] += x4 * v
                            acc[5, lane] += x5 * v
                            acc[6, lane] += x6 * v
                            acc[7, lane] += x7 * v
                            acc[8, lane] += x8 * v
                            acc[9, lane] += x9 * v
                            acc[10, lane] += x10 * v
                            acc[11, lane] += x11 * v
                            acc[12, lane] += x12 * v
                            acc[13, lane] += x13 * v
                    for k in range(14):
                        dst = out[n, oh, ow0 + k, f0 : f0 + 16]
                        for lane in range(16):
                            dst[lane] = acc[k, lane]


@numba.njit(cache=True, parallel=True, fastmath={"contract"})
def correlate_wide(planes, weight_t, offsets, width, out):
    """correlate for F a multiple of 32: blocks of 7 pixels x 32 channels instead of 14 x 16.

    Half the input loads per multiply-add; figures in benchmarks/README.md.
    out: (N, OH, OW, F) with OW a multiple of 7.
    """
    n_batch = planes.shape[0]
    rows, filters = weight_t.shape
    out_h, out_w = out.shape[1], out.shape[2]
    for n in numba.prange(n_batch):
        acc = numba.carray(_registers(out, 224), (7, 32))
        x = planes[n]
        for oh in range(out_h):
            for ow0 in range(0, out_w, 7):
                start = np.uintp(oh * width + ow0)
                for f0 in range(0, filters, 32):
                    for k in range(7):
                        for lane in range(32):
                            acc[k, lane] = 0
                    f = np.uintp(f0)
                    for r in range(rows):
                        p = np.uintp(offsets[r]) + start
                        w = weight_t[r]
                        x0, x1, x2, x3 = x[p], x[p + U[1]], x[p + U[2]], x[p + U[3]]
                        x4, x5, x6 = x[p + U[4]], x[p + U[5]], x[p + U[6]]
                        for lane in range(16):
                            u = w[f + U[lane]]
                            v = w[f + HALF + U[lane]]
                            acc[0, lane] += x0 * u
                            acc[0, 16 + lane] += x0 * v
                            acc[1, lane] += x1 * u
                            acc[1, 16 + lane] += x1 * v
                            acc[2, lane] += x2 * u
                            acc[2, 16 + lane] += x2 * v
                            acc[3, lane] += x3 * u
                            acc[3, 16 + lane] += x3 * v
                            acc[4, lane] += x4 * u
                            acc[4, 16 + lane] += x4 * v
                            acc[5, lane] += x5 * u
                            acc[5, 16 + lane] += x5 * v
                            acc[6, lane] += x6 * u
                            acc[6, 16 + lane] += x6 * v
                    for k in range(7):
                        dst = out[n, oh, ow0 + k, f0 : f0 + 32]
                        for lane in range(32):
                            dst[lane] = acc[k, lane]


@numba.njit(cache=True, parallel=True, fastmath={"contract"})
def correlate_narrow(planes, weight_t, offsets, width, out):
    """correlate for 256-bit vectors and 16 registers (AVX2): blocks of 5 pixels x 16 channels.

    The 14 x 16 blocks need 28 of AVX2's 16 vector registers, and LLVM spills the sums to the stack.
    5 x 16 is 10 registers of sums, 2 of weights and the pixels' broadcasts (6 x 16 pads the 14-wide rows
    to 18; 7 x 16 spills). Figures in benchmarks/README.md.
    out: (N, OH, OW, F) with OW a multiple of NARROW_PIXELS, F a multiple of LANES.
    """
    n_batch = planes.shape[0]
    rows, filters = weight_t.shape
    out_h, out_w = out.shape[1], out.shape[2]
    for n in numba.prange(n_batch):
        acc = numba.carray(_registers(out, 80), (5, 16))
        x = planes[n]
        for oh in range(out_h):
            for ow0 in range(0, out_w, 5):
                start = np.uintp(oh * width + ow0)
                for f0 in range(0, filters, 16):
                    for k in range(5):
                        for lane in range(16):
                            acc[k, lane] = 0
                    f = np.uintp(f0)
                    for r in range(rows):
                        p = np.uintp(offsets[r]) + start
                        w = weight_t[r]
                        x0, x1, x2, x3, x4 = x[p], x[p + U[1]], x[p + U[2]], x[p + U[3]], x[p + U[4]]
                        for lane in range(8):
                            u = w[f + U[lane]]
                            v = w[f + U[8 + lane]]
                            acc[0, lane] += x0 * u
                            acc[0, 8 + lane] += x0 * v
                            acc[1, lane] += x1 * u
                            acc[1, 8 + lane] += x1 * v
                            acc[2, lane] += x2 * u
                            acc[2, 8 + lane] += x2 * v
                            acc[3, lane] += x3 * u
                            acc[3, 8 + lane] += x3 * v
                            acc[4, lane] += x4 * u
                            acc[4, 8 + lane] += x4 * v
                    for k in range(5):
                        dst = out[n, oh, ow0 + k, f0 : f0 + 16]
                        for lane in range(16):
                            dst[lane] = acc[k, lane]


@numba.njit(cache=True, parallel=True, fastmath={"contract"})
def correlate_weights(planes, grads, offsets, width, out, threads):
    """out[r, f] += sum over n, oh, ow of planes[n, offsets[r] + oh*width + ow] * grads[n, oh, ow, f].

    The weight gradient of `correlate`, added to what out holds (a batch may come in chunks).
    grads: (N, OH, OW, F), F a multiple of LANES; offsets: (R,) uint64 (unsigned: numba then skips the
    negative-index wraparound on every load), R a multiple of TAPS; out: (R, F). Each of `threads`
    (numba.get_num_threads(), passed in: reading it here would stop numba caching the kernel) owns a
    range of tap blocks and sums over every example, so nothing is added across threads.
    """
    n_batch, out_h, out_w, filters = grads.shape
    blocks = offsets.shape[0] // 14
    threads = max(1, min(threads, blocks))
    for t in numba.prange(threads):
        acc = numba.carray(_registers(out, 224), (14, 16))
        for first in range(0, n_batch, EXAMPLES):  # a group at a time: its grads stay in cache for every block
            for block in range(t * blocks // threads, (t + 1) * blocks // threads):
                o = offsets[block * 14 : block * 14 + 14]
                o0, o1, o2, o3, o4, o5, o6 = o[0], o[1], o[2], o[3], o[4], o[5], o[6]
                o7, o8, o9, o10, o11, o12, o13 = o[7], o[8], o[9], o[10], o[11], o[12], o[13]
                for f0 in range(0, filters, 16):
                    for k in range(14):
                        for lane in range(16):
                            acc[k, lane] = 0
                    f = np.uintp(f0)
                    for n in range(first, min(first + EXAMPLES, n_batch)):
                        x = planes[n]
                        g = grads[n]
                        for oh in range(out_h):
                            row = np.uintp(oh * width)
                            for ow in range(out_w):
                                p = row + np.uintp(ow)
                                gv = g[oh, ow]
                                x0, x1, x2, x3 = x[o0 + p], x[o1 + p], x[o2 + p], x[o3 + p]
                                x4, x5, x6, x7 = x[o4 + p], x[o5 + p], x[o6 + p], x[o7 + p]
                                x8, x9, x10, x11 = x[o8 + p], x[o9 + p], x[o10 + p], x[o11 + p]
                                x12, x13 = x[o12 + p], x[o13 + p]
                                for lane in range(16):
                                    v = gv[f + U[lane]]
                                    acc[0, lane] += x0 * v
                                    acc[1, lane] += x1 * v
                                    acc[2, lane] += x2 * v
                                    acc[3, lane] += x3 * v
                                    acc[4, lane] += x4 * v
                                    acc[5, lane] += x5 * v
                                    acc[6, lane] += x6 * v
                                    acc[7, lane] += x7 * v
                                    acc[8, lane] += x8 * v
                                    acc[9, lane] += x9 * v
                                    acc[10, lane] += x10 * v
                                    acc[11, lane] += x11 * v
                                    acc[12, lane] += x12 * v
                                    acc[13, lane] += x13 * v
                    for k in range(14):
                        for lane in range(16):
                            out[block * 14 + k, f0 + lane] += acc[k, lane]


@numba.njit(cache=True, parallel=True, fastmath={"contract"})
def correlate_weights_wide(planes, grads, offsets, width, out, threads):
    """correlate_weights for F a multiple of 32: blocks of 7 taps x 32 channels instead of 14 x 16.

    Half the input loads per multiply-add; figures in benchmarks/README.md.
    offsets: (R,) uint64 with R a multiple of WIDE_TAPS.
    """
    n_batch, out_h, out_w, filters = grads.shape
    blocks = offsets.shape[0] // 7
    threads = max(1, min(threads, blocks))
    for t in numba.prange(threads):
        acc = numba.carray(_registers(out, 224), (7, 32))
        for first in range(0, n_batch, EXAMPLES):  # a group at a time: its grads stay in cache for every block
            for block in range(t * blocks // threads, (t + 1) * blocks // threads):
                o = offsets[block * 7 : block * 7 + 7]
                o0, o1, o2, o3, o4, o5, o6 = o[0], o[1], o[2], o[3], o[4], o[5], o[6]
                for f0 in range(0, filters, 32):
                    for k in range(7):
                        for lane in range(32):
                            acc[k, lane] = 0
                    f = np.uintp(f0)
                    for n in range(first, min(first + EXAMPLES, n_batch)):
                        x = planes[n]
                        g = grads[n]
                        for oh in range(out_h):
                            row = np.uintp(oh * width)
                            for ow in range(out_w):
                                p = row + np.uintp(ow)
                                gv = g[oh, ow]
                                x0, x1, x2, x3 = x[o0 + p], x[o1 + p], x[o2 + p], x[o3 + p]
                                x4, x5, x6 = x[o4 + p], x[o5 + p], x[o6 + p]
                                for lane in range(16):
                                    u = gv[f + U[lane]]
                                    v = gv[f + HALF + U[lane]]
                                    acc[0, lane] += x0 * u
                                    acc[0, 16 + lane] += x0 * v
                                    acc[1, lane] += x1 * u
                                    acc[1, 16 + lane] += x1 * v
                                    acc[2, lane] += x2 * u
                                    acc[2, 16 + lane] += x2 * v
                                    acc[3, lane] += x3 * u
                                    acc[3, 16 + lane] += x3 * v
                                    acc[4, lane] += x4 * u
                                    acc[4, 16 + lane] += x4 * v
                                    acc[5, lane] += x5 * u
                                    acc[5, 16 + lane] += x5 * v
                                    acc[6, lane] += x6 * u
                                    acc[6, 16 + lane] += x6 * v
                    for k in range(7):
                        for lane in range(32):
                            out[block * 7 + k, f0 + lane] += acc[k, lane]


@numba.njit(cache=True, parallel=True, fastmath={"contract"})
def correlate_weights_narrow(planes, grads, offsets, width, out, threads):
    """correlate_weights for 256-bit vectors and 16 registers (AVX2): blocks of 6 taps x 16 channels.

    6 x 16 matched 5 x 16 on one benchmark layer and beat it on the other; 7 x 16 spills. The gradients
    are read by unsigned index, not through a slice, which skips numba's bounds arithmetic. Figures in
    benchmarks/README.md.
    offsets: (R,) uint64 with R a multiple of NARROW_TAPS; grads: (N, OH, OW, F), F a multiple of LANES.
    """
    n_batch, out_h, out_w, filters = grads.shape
    blocks = offsets.shape[0] // 6
    threads = max(1, min(threads, blocks))
    for t in numba.prange(threads):
        acc = numba.carray(_registers(out, 96), (6, 16))
        for first in range(0, n_batch, EXAMPLES):  # a group at a time: its grads stay in cache for every block
            for block in range(t * blocks // threads, (t + 1) * blocks // threads):
                o = offsets[block * 6 : block * 6 + 6]
                o0, o1, o2, o3, o4, o5 = o[0], o[1], o[2], o[3], o[4], o[5]
                for f0 in range(0, filters, 16):
                    for k in range(6):
                        for lane in range(16):
                            acc[k, lane] = 0
                    f = np.uintp(f0)
                    for n in range(first, min(first + EXAMPLES, n_batch)):
                        x = planes[n]
                        g = grads[n]
                        for oh in range(out_h):
                            row = np.uintp(oh * width)
                            for ow in range(out_w):
                                p = row + np.uintp(ow)
                                gv = g[oh, ow]
                                x0, x1, x2 = x[o0 + p], x[o1 + p], x[o2 + p]
                                x3, x4, x5 = x[o3 + p], x[o4 + p], x[o5 + p]
                                for lane in range(8):
                                    u = gv[f + U[lane]]
                                    v = gv[f + U[8 + lane]]
                                    acc[0, lane] += x0 * u
                                    acc[0, 8 + lane] += x0 * v
                                    acc[1, lane] += x1 * u
                                    acc[1, 8 + lane] += x1 * v
                                    acc[2, lane] += x2 * u
                                    acc[2, 8 + lane] += x2 * v
                                    acc[3, lane] += x3 * u
                                    acc[3, 8 + lane] += x3 * v
                                    acc[4, lane] += x4 * u
                                    acc[4, 8 + lane] += x4 * v
                                    acc[5, lane] += x5 * u
                                    acc[5, 8 + lane] += x5 * v
                    for k in range(6):
                        for lane in range(16):
                            out[block * 6 + k, f0 + lane] += acc[k, lane]


@numba.njit(cache=True, parallel=True)
def to_planes(x, top, left, width, plane, planes):
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
def to_channels_last(x, out):
    """out[n, h, w, c] = x[n, c, h, w]; x: (N, C, H, W), out: (N, H, W', C') with W' >= W and C' >= C.

    Writes only those positions; the caller zeroes out once, and the rest stays zero.
    """
    n_batch, channels, height, width = x.shape
    for n in numba.prange(n_batch):
        for h in range(height):  # a row at a time: out[n, h] stays in L1 while every channel is written
            dst = out[n, h]
            for c in range(channels):
                src = x[n, c, h]
                for w in range(width):
                    dst[w, c] = src[w]


@numba.njit(cache=True, parallel=True)
def from_channels_last(src, bias, out):
    """out[n, c, h, w] = src[n, h, w, c] + bias[c]; src: (N, H, W' >= W, C' >= C), out: (N, C, H, W)."""
    n_batch, channels, height, width = out.shape
    for n in numba.prange(n_batch):
        for h in range(height):  # a row at a time: src[n, h] stays in L1 while every channel is read
            row = src[n, h]
            for c in range(channels):
                b = bias[c]
                dst = out[n, c, h]
                for w in range(width):
                    dst[w] = row[w, c] + b
