"""Conv2D's im2col engine, for any stride and padding: the image unfolded (nnrun/kernels/im2col.py) around
BLAS matmuls, in cache-sized chunks of the batch. It also gives the direct engine's input gradient for few
input channels."""

from __future__ import annotations

import numpy as np

from nnrun.kernels import im2col as kernels

# The batch is unfolded CHUNK_ELEMENTS im2col entries at a time (1 MB in float32, half of a 2 MB per-core
# L2), so each chunk is still in cache for its GEMMs and col2im. A training batch whose unfolded size is at
# most KEEP_ELEMENTS (16 MB in float32) keeps its cols for backward; a larger one is unfolded again, chunk
# by chunk, in backward, rather than streaming a big cols array through memory twice. Keeping more cols, or
# unfolding the rows first (cols (rows, examples, pixels)) so that a whole chunk is one GEMM, did not pay in
# a whole training step. Figures in benchmarks/README.md.
CHUNK_ELEMENTS = 1 << 18
KEEP_ELEMENTS = 1 << 22


class Im2colConv:
    """Cross-correlation of x: (N, C, H, W), zero-padded by pads (top, bottom, left, right), with weight:
    (F, C, kh, kw) at any stride, plus bias: (F,) -> y: (N, F, H', W'), as im2col + GEMM.

    The GEMM runs on [weight | bias] against the im2col rows plus a constant row of ones, so the bias add
    and the bias gradient come out of the matmuls instead of two extra passes over y and dy (figures in
    benchmarks/README.md).
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        filters: int,
        kernel: tuple[int, int],
        stride: tuple[int, int],
        pads: tuple[int, int, int, int],
        out: tuple[int, int],
        use_bias: bool,
        dtype: np.dtype,
    ):
        self.input_shape, self.filters, self.kernel, self.stride = input_shape, filters, kernel, stride
        self.pads, self.out, self.use_bias, self.dtype = pads, out, use_bias, dtype
        self.fan_in = input_shape[0] * kernel[0] * kernel[1]
        self.rows = self.fan_in + (1 if use_bias else 0)  # im2col rows: the taps, then the ones of the bias
        self.w_aug = np.empty((filters, self.rows), dtype=dtype)
        self.scratch: dict[str, np.ndarray] = {}  # work arrays kept while the batch size stays the same
        self.x: np.ndarray | None = None  # the last training batch
        self.cols_of: np.ndarray | None = None  # the x whose whole batch scratch["cols"] holds unfolded

    def _work(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        """A scratch array reused across batches of the same size (zeroed when first made)."""
        array = self.scratch.get(key)
        if array is None or array.shape != shape:
            # zeros: the border of the padded image "xp" is written once, here, and never again
            array = np.zeros(shape, dtype=self.dtype)
            if key == "cols" and self.use_bias:
                array[:, -1] = 1
            self.scratch[key] = array
        return array

    def _unfold(self, x: np.ndarray, cols: np.ndarray, step: int) -> None:
        """im2col of x: (m, C, H, W), m <= step, into cols: (m, rows, H', W'), via the zero-bordered "xp"."""
        top, bottom, left, right = self.pads
        if top or bottom or left or right:
            m = x.shape[0]
            channels, height, width = self.input_shape
            xp = self._work("xp", (step, channels, height + top + bottom, width + left + right))
            kernels.pad2d(x, top, left, xp[:m])
            x = xp[:m]
        kernels.im2col(x, *self.kernel, *self.stride, cols)

    def chunk(self, n: int) -> int:
        """How many examples to unfold at a time: all n when they fit in CHUNK_ELEMENTS."""
        return max(1, min(n, CHUNK_ELEMENTS // (self.rows * self.out[0] * self.out[1])))

    def forward(self, x: np.ndarray, params: dict[str, np.ndarray], train: bool) -> np.ndarray:
        """x: (N, C, H, W) -> y: (N, F, H', W'). In train mode keeps x, and its cols when they fit."""
        n = x.shape[0]
        fan_in = self.fan_in
        self.w_aug[:, :fan_in] = params["weight"].reshape(self.filters, fan_in)
        if self.use_bias:
            self.w_aug[:, fan_in] = params["bias"]
        pixels = self.out[0] * self.out[1]
        step = self.chunk(n)
        keep = train and n * self.rows * pixels <= KEEP_ELEMENTS
        cols = self._work("cols", (n if keep else step, self.rows, *self.out))
        y = np.empty((n, self.filters, pixels), dtype=self.dtype)
        for start in range(0, n, step):
            stop = min(start + step, n)
            part = cols[start:stop] if keep else cols[: stop - start]
            self._unfold(x[start:stop], part, step)
            np.matmul(self.w_aug, part.reshape(stop - start, self.rows, pixels), out=y[start:stop])
        self.cols_of = x if keep else None  # an evaluation forward overwrites the kept cols
        if train:
            self.x = x
        return y.reshape(n, self.filters, *self.out)

    def backward(
        self, dy: np.ndarray, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], input_grad: bool
    ) -> np.ndarray | None:
        """dy: (N, F, H', W') of the last training batch -> dx: (N, C, H, W), or None unless input_grad.

        Writes grads["weight"] (F, C, kh, kw) and grads["bias"] (F,) in place.
        """
        x = self.x
        n = x.shape[0]
        pixels = self.out[0] * self.out[1]
        fan_in = self.fan_in
        dy = np.ascontiguousarray(dy, dtype=self.dtype).reshape(n, self.filters, pixels)
        kept = self.cols_of is x

        step = self.chunk(n)
        dw_aug = self._work("dw_aug", (self.rows, self.filters))
        for start in range(0, n, step):
            stop = min(start + step, n)
            m = stop - start
            if kept:
                cols = self.scratch["cols"][start:stop]
            else:
                cols = self._work("cols", (step, self.rows, *self.out))[:m]
                self._unfold(x[start:stop], cols, step)
            # d[weight | bias].T = sum_n cols[n] @ dy[n].T: one GEMM per example (BLAS reads the strided
            # dy[n].T as a transposed operand, no copy), then a sum over the examples. This orientation
            # beat dy[n] @ cols[n].T (figures in benchmarks/README.md).
            parts = self._work("dw_parts", (step, self.rows, self.filters))[:m]
            np.matmul(cols.reshape(m, self.rows, pixels), dy[start:stop].transpose(0, 2, 1), out=parts)
            if start == 0:
                np.sum(parts, axis=0, out=dw_aug)
            else:
                dw_aug += parts.sum(axis=0)
        grads["weight"].reshape(self.filters, fan_in)[...] = dw_aug[:fan_in].T
        if self.use_bias:
            grads["bias"][...] = dw_aug[fan_in]

        if not input_grad:
            return None
        return self.input_grad(dy, params["weight"])

    def input_grad(self, dy: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """dx: (N, C, H, W) from dy: (N, F, H'*W') by scattering weight.T @ dy back onto the image (any stride)."""
        n = dy.shape[0]
        fan_in = self.fan_in
        weight_t = weight.reshape(self.filters, fan_in).T
        channels, height, width = self.input_shape
        top, bottom, left, right = self.pads
        padded = bool(top or bottom or left or right)
        if padded:
            dxp = self._work("dxp", (n, channels, height + top + bottom, width + left + right))
            dxp.fill(0)
        else:
            dxp = np.zeros((n, channels, height, width), dtype=self.dtype)
        step = self.chunk(n)
        for start in range(0, n, step):
            stop = min(start + step, n)
            m = stop - start
            dcols = self._work("dcols", (step, fan_in, *self.out))[:m]
            np.matmul(weight_t, dy[start:stop], out=dcols.reshape(m, fan_in, dy.shape[2]))
            kernels.col2im(dcols, *self.kernel, *self.stride, dxp[start:stop])
        if not padded:
            return dxp
        dx = np.empty((n, channels, height, width), dtype=self.dtype)
        kernels.crop2d(dxp, top, left, dx)
        return dx
