"""im2col / col2im for 2-D convolution over NCHW arrays; conv2d's im2col engine (nnrun/layers/conv_im2col.py) does
the GEMMs with NumPy's BLAS.

The kernels work on an explicitly zero-padded copy of the image (pad2d / crop2d), so their inner
loops have no bounds tests: branch-free copies beat clipping each row against the border (figures in
benchmarks/README.md).
"""

from __future__ import annotations

import numba


@numba.njit(cache=True)
def pad2d(x, top, left, xp):
    """Copy x: (N, C, H, W) into xp[:, :, top:top+H, left:left+W]; the border of xp is left untouched."""
    n_batch, channels, height, width = x.shape
    for n in range(n_batch):
        for c in range(channels):
            for h in range(height):
                src = x[n, c, h]
                dst = xp[n, c, top + h]
                for w in range(width):
                    dst[left + w] = src[w]


@numba.njit(cache=True)
def crop2d(xp, top, left, x):
    """Copy xp[:, :, top:top+H, left:left+W] into x: (N, C, H, W) (the adjoint of pad2d's interior)."""
    n_batch, channels, height, width = x.shape
    for n in range(n_batch):
        for c in range(channels):
            for h in range(height):
                src = xp[n, c, top + h]
                dst = x[n, c, h]
                for w in range(width):
                    dst[w] = src[left + w]


@numba.njit(cache=True)
def im2col(xp, kh, kw, sh, sw, cols):
    """Unfold a padded xp: (N, C, Hp, Wp) into cols: (N, R, OH, OW), R >= C*kh*kw.

    cols[n, (c*kh + i)*kw + j, oh, ow] = xp[n, c, oh*sh + i, ow*sw + j]. Rows from C*kh*kw on are left
    untouched (the conv layer keeps a row of ones there, which folds the bias into the GEMM).
    """
    n_batch, channels = xp.shape[0], xp.shape[1]
    out_h, out_w = cols.shape[2], cols.shape[3]
    for n in range(n_batch):
        for c in range(channels):
            for i in range(kh):
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    for oh in range(out_h):
                        src = xp[n, c, oh * sh + i]
                        dst = cols[n, row, oh]
                        if sw == 1:  # a contiguous copy the compiler vectorises
                            for ow in range(out_w):
                                dst[ow] = src[j + ow]
                        else:
                            for ow in range(out_w):
                                dst[ow] = src[j + ow * sw]


@numba.njit(cache=True)
def col2im(dcols, kh, kw, sh, sw, dxp):
    """Fold dcols: (N, R, OH, OW) onto a padded dxp: (N, C, Hp, Wp), summing overlaps (im2col's adjoint).

    Adds into dxp, so the caller zeroes it first.
    """
    n_batch, channels = dxp.shape[0], dxp.shape[1]
    out_h, out_w = dcols.shape[2], dcols.shape[3]
    for n in range(n_batch):
        for c in range(channels):
            for i in range(kh):
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    for oh in range(out_h):
                        src = dcols[n, row, oh]
                        dst = dxp[n, c, oh * sh + i]
                        if sw == 1:
                            for ow in range(out_w):
                                dst[j + ow] += src[ow]
                        else:
                            for ow in range(out_w):
                                dst[j + ow * sw] += src[ow]
