"""Conv2D's direct engine, for stride 1 with padding smaller than the kernel: nnrun's register-blocked numba
kernels (nnrun/kernels/direct.py) for the forward, the weight gradient and the input gradient alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np

from nnrun.kernels import direct
from nnrun.layers.conv_im2col import Im2colConv

# The direct kernels run a batch DIRECT_ELEMENTS channels-last outputs at a time (1 MB in float32, half of
# a 2 MB per-core L2), so that what follows a chunk's correlation (the fused max pool, the weight gradient)
# reads it from cache: 10 examples at a time for the CNN7's first layer. The whole batch at once and 0.5 MB
# chunks were both slower; figures in benchmarks/README.md.
DIRECT_ELEMENTS = 1 << 18


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class Planes:
    """Where the direct kernels find each tap (nnrun/kernels/direct.py): `channels` zero-padded images of
    `height` x `width`, one plane each, read for out_height x out_width outputs at oh*width + ow, which
    the kernels compute `pixels` at a time along a row."""

    channels: int
    height: int
    width: int
    out_height: int
    out_width: int
    kh: int
    kw: int
    pixels: int

    @property
    def out_cols(self) -> int:
        """Output columns the kernels compute per row: out_width rounded up to `pixels`."""
        return round_up(self.out_width, self.pixels)

    @property
    def plane(self) -> int:
        """Floats per channel: the padded image, then zeros for the last row's extra columns to read."""
        return self.height * self.width + self.out_cols - self.out_width

    @property
    def size(self) -> int:
        return self.channels * self.plane

    @cached_property
    def offsets(self) -> np.ndarray:
        """offsets[(c*kh + i)*kw + j] = c*plane + i*width + j, where tap (c, i, j) starts."""
        c, i, j = np.meshgrid(np.arange(self.channels), np.arange(self.kh), np.arange(self.kw), indexing="ij")
        return (c * self.plane + i * self.width + j).reshape(-1).astype(np.int64)


class DirectConv:
    """Cross-correlation of x: (N, C, H, W), zero-padded by pads (top, bottom, left, right), with weight:
    (F, C, kh, kw) at stride 1, plus bias: (F,) -> y: (N, F, H', W'), on the direct kernels' planes.

    Forward and weight gradient: x zero-padded to Hp x Wp. With a bias, each example's planes end in
    a run of ones, and the weight gradient's extra tap on them is the bias gradient. Input gradient:
    the "full" correlation of dy, placed at (kh-1-top, kw-1-left) in planes of (H+kh-1) x (W+kw-1),
    with the kernel flipped in both axes; for C <= 4 input channels, `col2im` gives it instead.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        filters: int,
        kernel: tuple[int, int],
        pads: tuple[int, int, int, int],
        out: tuple[int, int],
        use_bias: bool,
        dtype: np.dtype,
        col2im: Im2colConv,
    ):
        self.input_shape, self.filters, self.kernel, self.pads = input_shape, filters, kernel, pads
        self.out, self.use_bias, self.dtype, self.col2im = out, use_bias, dtype, col2im
        channels, height, width = input_shape
        kh, kw = kernel
        top, bottom, left, right = pads
        out_h, out_w = out
        self.filters16 = round_up(filters, direct.LANES)
        self.channels16 = round_up(channels, direct.LANES)
        pixels = direct.ROW_PIXELS  # every forward kernel the running CPU uses computes rows in blocks dividing it
        self.fwd = Planes(channels, height + top + bottom, width + left + right, out_h, out_w, kh, kw, pixels)
        self.ones = out_h * self.fwd.width if use_bias else 0
        taps = list(self.fwd.offsets) + ([self.fwd.size] if use_bias else [])
        # The running CPU's kernels (direct.forward_kernel, weight_kernel). The weight gradient takes taps in
        # blocks: the extra ones read tap 0's inputs and are dropped.
        self.correlate = direct.forward_kernel(self.filters16)
        self.correlate_dx = direct.forward_kernel(self.channels16)
        self.correlate_weights, block = direct.weight_kernel(self.filters16)
        taps += [0] * (round_up(len(taps), block) - len(taps))
        self.weight_taps = np.array(taps, dtype=np.uint64)
        self.weight_t = np.zeros((channels * kh * kw, self.filters16), dtype=dtype)
        self.bias_or_zeros = np.zeros(self.filters16, dtype=dtype)
        self.bwd = Planes(filters, height + kh - 1, width + kw - 1, height, width, kh, kw, pixels)
        self.flipped_t = np.zeros((filters * kh * kw, self.channels16), dtype=dtype)
        self.scratch: dict[str, np.ndarray] = {}  # work arrays kept while the batch size stays the same
        self.x: np.ndarray | None = None  # the last training batch, whose planes scratch["planes"] holds

    def _work(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        """A scratch array reused across batches of the same size (zeroed when first made)."""
        array = self.scratch.get(key)
        if array is None or array.shape != shape:
            array = np.zeros(shape, dtype=self.dtype)
            if key == "planes" and self.use_bias:  # the bias tap of the weight gradient
                array[:, self.fwd.size :] = 1
            self.scratch[key] = array
        return array

    def chunk(self, n: int, entries_per_example: int) -> int:
        """How many examples the direct kernels take at a time: all n when they fit in DIRECT_ELEMENTS,
        else chunks of about that size, as equal as can be and a multiple of the thread count, so that
        the kernels' loops over the examples of a chunk keep every thread busy (a batch of 50 in chunks
        of 10 rather than five of 9 and one of 5)."""
        step = max(1, min(n, DIRECT_ELEMENTS // entries_per_example))
        chunks = -(-n // step)
        step = -(-n // chunks)
        threads = numba.get_num_threads()
        return min(n, round_up(step, threads)) if step > threads else step

    def forward(self, x: np.ndarray, params: dict[str, np.ndarray], train: bool) -> np.ndarray:
        """x: (N, C, H, W) -> y: (N, F, H', W'). In train mode keeps what backward needs."""
        y = np.empty((x.shape[0], self.filters, *self.out), dtype=self.dtype)

        def finish(sums: np.ndarray, bias: np.ndarray, start: int, stop: int) -> None:
            direct.from_channels_last(sums, bias, y[start:stop])

        self.forward_sums(x, params, train, finish)
        return y

    def forward_sums(
        self,
        x: np.ndarray,
        params: dict[str, np.ndarray],
        train: bool,
        finish: Callable[[np.ndarray, np.ndarray, int, int], None],
    ) -> None:
        """Hand the channels-last sums of x, chunk by chunk, to finish(sums, bias, start, stop).

        sums: (stop - start, H', W'' >= W', F' >= F), the correlation of x[start:stop] without the bias;
        bias: (F',). Sequential's fused conv2d -> relu -> maxpool2d block (nnrun/layers/fused.py) pools
        them directly; forward() writes them out as the NCHW y. In train mode keeps what backward needs.
        """
        n = x.shape[0]
        top, _, left, _ = self.pads
        planes = self.fwd
        out_h = self.out[0]
        self.weight_t[:, : self.filters] = params["weight"].reshape(self.filters, -1).T
        if self.use_bias:
            self.bias_or_zeros[: self.filters] = params["bias"]
        step = self.chunk(n, max(self.filters16 * planes.out_cols * out_h, planes.size))
        # a training batch keeps all its planes (and the bias tap's ones) for the weight gradient;
        # evaluation reuses one chunk's
        if train:
            inputs = self._work("planes", (n, planes.size + self.ones))
        else:
            inputs = self._work("planes_eval", (step, planes.size))
        out = self._work("y_channels_last", (step, out_h, planes.out_cols, self.filters16))
        for start in range(0, n, step):
            stop = min(start + step, n)
            part = inputs[start:stop] if train else inputs[: stop - start]
            direct.to_planes(x[start:stop], top, left, planes.width, planes.plane, part)
            self.correlate(part, self.weight_t, planes.offsets, planes.width, out[: stop - start])
            finish(out[: stop - start], self.bias_or_zeros, start, stop)
        if train:
            self.x = x

    def backward(
        self, dy: np.ndarray, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], input_grad: bool
    ) -> np.ndarray | None:
        """dy: (N, F, H', W') of the last training batch -> dx: (N, C, H, W), or None unless input_grad.

        Writes grads["weight"] (F, C, kh, kw) and grads["bias"] (F,) in place.
        """
        dy = np.ascontiguousarray(dy, dtype=self.dtype)

        def fill(out: np.ndarray, start: int, stop: int) -> None:
            direct.to_channels_last(dy[start:stop], out)

        return self.backward_sums(fill, dy.shape[0], params, grads, input_grad, dy)

    def backward_sums(
        self,
        fill: Callable[[np.ndarray, int, int], None],
        n: int,
        params: dict[str, np.ndarray],
        grads: dict[str, np.ndarray],
        input_grad: bool,
        dy: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Gradients of the last training batch from a dy that fill(out, start, stop) writes channels-last,
        chunk by chunk.

        out: (stop - start, H', W', F' >= F), to be filled with dy[start:stop] transposed and zeros in
        the extra channels. Writes the weight and bias gradients; returns dx when input_grad (from dy in
        NCHW: the one given, or one rebuilt from the chunks), else None.
        """
        inputs = self.scratch["planes"]
        planes = self.fwd
        out_h, out_w = self.out
        step = self.chunk(n, self.filters16 * out_h * out_w)
        dy_channels_last = self._work("dy_channels_last", (step, out_h, out_w, self.filters16))
        sums = self._work("weight_sums", (len(self.weight_taps), self.filters16))
        sums.fill(0)
        rebuild = dy is None and input_grad
        if rebuild:
            dy = np.empty((n, self.filters, out_h, out_w), dtype=self.dtype)
            no_bias = self._work("zeros", (max(self.channels16, self.filters16),))
        threads = numba.get_num_threads()
        for start in range(0, n, step):
            stop = min(start + step, n)
            m = stop - start
            fill(dy_channels_last[:m], start, stop)
            if rebuild:
                direct.from_channels_last(dy_channels_last[:m], no_bias, dy[start:stop])
            self.correlate_weights(
                inputs[start:stop], dy_channels_last[:m], self.weight_taps, planes.width, sums, threads
            )
        taps = planes.offsets.shape[0]
        grads["weight"].reshape(self.filters, taps)[...] = sums[:taps, : self.filters].T
        if self.use_bias:
            grads["bias"][...] = sums[taps, : self.filters]
        if not input_grad:
            return None
        channels, height, width = self.input_shape
        if channels <= 4:
            # few input channels fill few of the direct kernel's 16 lanes; col2im wins there, and at
            # C=8 it loses (figures in benchmarks/README.md)
            return self.col2im.input_grad(dy.reshape(n, self.filters, -1), params["weight"])

        kh, kw = self.kernel
        top, _, left, _ = self.pads
        flipped = self.flipped_t[:, :channels].reshape(self.filters, kh, kw, channels)
        flipped[...] = params["weight"][:, :, ::-1, ::-1].transpose(0, 2, 3, 1)
        planes = self.bwd
        step = self.chunk(n, max(self.channels16 * height * planes.out_cols, planes.size))
        dy_planes = self._work("dy_planes", (step, planes.size))
        out = self._work("dx_channels_last", (step, height, planes.out_cols, self.channels16))
        no_bias = self._work("zeros", (max(self.channels16, self.filters16),))
        dx = np.empty((n, channels, height, width), dtype=self.dtype)
        for start in range(0, n, step):
            stop = min(start + step, n)
            m = stop - start
            direct.to_planes(dy[start:stop], kh - 1 - top, kw - 1 - left, planes.width, planes.plane, dy_planes[:m])
            self.correlate_dx(dy_planes[:m], self.flipped_t, planes.offsets, planes.width, out[:m])
            direct.from_channels_last(out[:m], no_bias, dx[start:stop])
        return dx
