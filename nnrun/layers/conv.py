"""2-D convolution over NCHW images.

Stride 1 (with padding smaller than the kernel, which covers "valid", "same" and the usual integer
paddings) runs on nnrun's direct, register-blocked numba kernels (nnrun/kernels/direct.py), forward,
weight gradient and input gradient alike. Other strides unfold the image with im2col/col2im around
BLAS matmuls, in cache-sized chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

import numba
import numpy as np
from pydantic import Field, PositiveInt

from nnrun import initializers
from nnrun.kernels import conv as kernels
from nnrun.kernels import direct
from nnrun.layers.base import BuildContext, Layer, Shape
from nnrun.registry import LAYERS

InitSpec = str | dict[str, Any] | None
NonNegativeInt = Annotated[int, Field(ge=0)]
SizeSpec = PositiveInt | tuple[PositiveInt, PositiveInt]
PaddingSpec = Literal["valid", "same"] | NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt]

# The batch is unfolded CHUNK_ELEMENTS im2col entries at a time (1 MB in float32, half this machine's
# per-core L2), so each chunk is still in cache for its GEMMs and col2im. A training batch whose unfolded
# size is at most KEEP_ELEMENTS (16 MB) keeps its cols for backward; a larger one is unfolded again, chunk
# by chunk, in backward, which beats streaming a big cols array through memory twice. Keeping more cols, or
# unfolding the rows first (cols (rows, examples, pixels)) so that a whole chunk is one GEMM, did not pay
# in a whole training step. Figures in benchmarks/README.md.
CHUNK_ELEMENTS = 1 << 18
KEEP_ELEMENTS = 1 << 22
# The direct kernels run a batch DIRECT_ELEMENTS channels-last outputs at a time (1 MB in float32, half
# of a core's L2), so that what follows a chunk's correlation (the fused max pool, the weight gradient)
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


def pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """An int or an (h, w) pair as an (h, w) tuple of ints."""
    if isinstance(value, int):
        return value, value
    h, w = value
    return int(h), int(w)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """(output size, pad before, pad after) for TensorFlow's "same": output ceil(size/stride)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


@LAYERS.register("conv2d")
class Conv2D(Layer):
    """Cross-correlation of x: (N, C, H, W) with weight: (F, C, kh, kw), plus bias: (F,) -> (N, F, H', W').

    padding: "valid" (none; H' = (H - kh)//stride + 1), an int p or a pair (ph, pw) of zeros on both sides
    (H' = (H + 2*ph - kh)//stride + 1), or "same" with TensorFlow's rule: H' = ceil(H / stride), padding
    pad_total = max((H' - 1)*stride + kh - H, 0) rows split as pad_top = pad_total // 2 and the rest at the
    bottom (likewise for the width). With stride 1 and an even kernel the extra row and column go at the
    bottom and right, so a 10x10 kernel keeps 28x28 at 28x28 (pad 4 before, 5 after).
    """

    decayed = ("weight",)

    def __init__(
        self,
        filters: Annotated[int, Field(gt=0, description="output channels F")],
        kernel: Annotated[SizeSpec, Field(description="kernel size: an int or [kh, kw]")],
        stride: Annotated[SizeSpec, Field(description="step between windows: an int or [sh, sw]")] = 1,
        padding: Annotated[
            PaddingSpec, Field(description='"valid", "same" (TensorFlow rule) or zeros per side: int or [ph, pw]')
        ] = "valid",
        use_bias: Annotated[bool, Field(description="add a learned bias per filter")] = True,
        weight_init: Annotated[InitSpec, Field(description="initializer for the weight; null = model default")] = None,
        bias_init: Annotated[InitSpec, Field(description="initializer for the bias; null = model default")] = None,
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self.filters = filters
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.use_bias = use_bias
        self.weight_init = weight_init
        self.bias_init = bias_init
        self._scratch: dict[str, np.ndarray] = {}  # work arrays kept while the batch size stays the same
        self._cols_of: np.ndarray | None = None  # the x whose whole batch _scratch["cols"] holds unfolded
        self._planes_of: np.ndarray | None = None  # the x whose whole batch _scratch["planes"] holds (direct)

    def _build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        if len(input_shape) != 3:
            raise self.shape_error("an image input (C, H, W); reshape the data to channels-first NCHW", input_shape)
        channels, height, width = input_shape
        kh, kw = self._kernel = pair(self.kernel)
        sh, sw = self._stride = pair(self.stride)
        if self.padding == "same":
            out_h, top, bottom = same_padding(height, kh, sh)
            out_w, left, right = same_padding(width, kw, sw)
        else:
            ph, pw = (0, 0) if self.padding == "valid" else pair(self.padding)
            top, bottom, left, right = ph, ph, pw, pw
            out_h = (height + top + bottom - kh) // sh + 1
            out_w = (width + left + right - kw) // sw + 1
        padded = (height + top + bottom, width + left + right)
        if kh > padded[0] or kw > padded[1]:
            raise self.shape_error(
                f"a kernel {kh}x{kw} no larger than its padded input {padded[0]}x{padded[1]} "
                f"(padding {self.padding!r})",
                input_shape,
            )
        self._pads = (top, bottom, left, right)
        self._out = (out_h, out_w)
        self._direct = (sh, sw) == (1, 1) and max(top, bottom) < kh and max(left, right) < kw

        fan_in = channels * kh * kw
        fan_out = self.filters * kh * kw
        where = f"layer {self.describe()}"
        self.weight_init = self.weight_init if self.weight_init is not None else ctx.weight_init
        weight = initializers.get(self.weight_init, where=f"{where}: weight_init")
        self.params["weight"] = weight((self.filters, channels, kh, kw), fan_in, fan_out, ctx.init_rng, self.dtype)
        if self.use_bias:
            self.bias_init = self.bias_init if self.bias_init is not None else ctx.bias_init
            bias = initializers.get(self.bias_init, where=f"{where}: bias_init")
            self.params["bias"] = bias((self.filters,), fan_in, fan_out, ctx.init_rng, self.dtype)
        # The GEMM runs on [weight | bias] against im2col rows plus a constant row of ones, so the bias
        # add and the bias gradient come out of the matmuls instead of two extra passes over y and dy
        # (figures in benchmarks/README.md).
        self._fan_in = fan_in
        self._rows = fan_in + (1 if self.use_bias else 0)
        self._w_aug = np.empty((self.filters, self._rows), dtype=self.dtype)
        self._scratch.clear()
        if self._direct:
            self._build_planes(channels, height, width)
        return (self.filters, out_h, out_w)

    def _build_planes(self, channels: int, height: int, width: int) -> None:
        """The direct kernels' planes (nnrun/kernels/direct.py) for the forward and for the input gradient.

        Forward and weight gradient: x zero-padded to Hp x Wp. With a bias, each example's planes end in
        a run of ones, and the weight gradient's extra tap on them is the bias gradient. Input gradient:
        the "full" correlation of dy, placed at (kh-1-top, kw-1-left) in planes of (H+kh-1) x (W+kw-1),
        with the kernel flipped in both axes.
        """
        kh, kw = self._kernel
        top, bottom, left, right = self._pads
        out_h, out_w = self._out
        self._filters16 = round_up(self.filters, direct.LANES)
        self._channels16 = round_up(channels, direct.LANES)
        pixels = direct.ROW_PIXELS  # every forward kernel of this machine computes rows in blocks dividing it
        self._fwd = Planes(channels, height + top + bottom, width + left + right, out_h, out_w, kh, kw, pixels)
        self._ones = out_h * self._fwd.width if self.use_bias else 0
        taps = list(self._fwd.offsets) + ([self._fwd.size] if self.use_bias else [])
        # This machine's kernels (direct.forward_kernel, weight_kernel). The weight gradient takes taps in
        # blocks: the extra ones read tap 0's inputs and are dropped.
        self._correlate = direct.forward_kernel(self._filters16)
        self._correlate_dx = direct.forward_kernel(self._channels16)
        self._correlate_weights, block = direct.weight_kernel(self._filters16)
        taps += [0] * (round_up(len(taps), block) - len(taps))
        self._weight_taps = np.array(taps, dtype=np.uint64)
        self._weight_t = np.zeros((channels * kh * kw, self._filters16), dtype=self.dtype)
        self._bias_or_zeros = np.zeros(self._filters16, dtype=self.dtype)
        self._bwd = Planes(self.filters, height + kh - 1, width + kw - 1, height, width, kh, kw, pixels)
        self._flipped_t = np.zeros((self.filters * kh * kw, self._channels16), dtype=self.dtype)

    def _work(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        """A scratch array reused across batches of the same size (zeroed when first made)."""
        array = self._scratch.get(key)
        if array is None or array.shape != shape:
            # zeros: the border of the padded image "xp" is written once, here, and never again
            array = np.zeros(shape, dtype=self.dtype)
            if key == "cols" and self.use_bias:
                array[:, -1] = 1
            if key == "planes" and self.use_bias:  # the bias tap of the direct weight gradient
                array[:, self._fwd.size :] = 1
            self._scratch[key] = array
        return array

    def _unfold(self, x: np.ndarray, cols: np.ndarray, step: int) -> None:
        """im2col of x: (m, C, H, W), m <= step, into cols: (m, rows, H', W'), via the zero-bordered "xp"."""
        top, bottom, left, right = self._pads
        if top or bottom or left or right:
            m = x.shape[0]
            channels, height, width = self.input_shape
            xp = self._work("xp", (step, channels, height + top + bottom, width + left + right))
            kernels.pad2d(x, top, left, xp[:m])
            x = xp[:m]
        kernels.im2col(x, *self._kernel, *self._stride, cols)

    def _chunk(self, n: int) -> int:
        """How many examples to unfold at a time: all n when they fit in CHUNK_ELEMENTS."""
        return max(1, min(n, CHUNK_ELEMENTS // (self._rows * self._out[0] * self._out[1])))

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        """x: (N, C, H, W) -> y: (N, F, H', W'). In train mode keeps what backward needs."""
        if self._direct:
            return self._forward_direct(x, train)
        return self._forward_unfolded(x, train)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """dy: (N, F, H', W') -> dx: (N, C, H, W); writes grads["weight"] (F, C, kh, kw) and grads["bias"] (F,).

        Uses what the last forward(train=True) kept. Returns None when needs_input_grad is False.
        """
        if self._direct:
            return self._backward_direct(dy)
        return self._backward_unfolded(dy)

    def _direct_chunk(self, n: int, entries_per_example: int) -> int:
        """How many examples the direct kernels take at a time: all n when they fit in DIRECT_ELEMENTS,
        else chunks of about that size, as equal as can be and a multiple of the thread count, so that
        the kernels' loops over the examples of a chunk keep every thread busy (a batch of 50 in chunks
        of 10 rather than five of 9 and one of 5)."""
        step = max(1, min(n, DIRECT_ELEMENTS // entries_per_example))
        chunks = -(-n // step)
        step = -(-n // chunks)
        threads = numba.get_num_threads()
        return min(n, round_up(step, threads)) if step > threads else step

    def _forward_direct(self, x: np.ndarray, train: bool) -> np.ndarray:
        y = np.empty((x.shape[0], self.filters, *self._out), dtype=self.dtype)

        def finish(sums: np.ndarray, bias: np.ndarray, start: int, stop: int) -> None:
            direct.from_channels_last(sums, bias, y[start:stop])

        self.forward_sums(x, train, finish)
        return y

    def forward_sums(
        self, x: np.ndarray, train: bool, finish: Callable[[np.ndarray, np.ndarray, int, int], None]
    ) -> None:
        """Direct path: hand the channels-last sums of x, chunk by chunk, to finish(sums, bias, start, stop).

        sums: (stop - start, H', W'' >= W', F' >= F), the correlation of x[start:stop] without the bias;
        bias: (F',). Sequential's fused conv2d -> relu -> maxpool2d block (nnrun/layers/fused.py) pools
        them directly; forward() writes them out as the NCHW y. In train mode keeps what backward needs.
        """
        n = x.shape[0]
        top, _, left, _ = self._pads
        planes = self._fwd
        out_h = self._out[0]
        self._weight_t[:, : self.filters] = self.params["weight"].reshape(self.filters, -1).T
        if self.use_bias:
            self._bias_or_zeros[: self.filters] = self.params["bias"]
        step = self._direct_chunk(n, max(self._filters16 * planes.out_cols * out_h, planes.size))
        # a training batch keeps all its planes (and the bias tap's ones) for the weight gradient;
        # evaluation reuses one chunk's
        if train:
            inputs = self._work("planes", (n, planes.size + self._ones))
        else:
            inputs = self._work("planes_eval", (step, planes.size))
        out = self._work("y_channels_last", (step, out_h, planes.out_cols, self._filters16))
        for start in range(0, n, step):
            stop = min(start + step, n)
            part = inputs[start:stop] if train else inputs[: stop - start]
            direct.to_planes(x[start:stop], top, left, planes.width, planes.plane, part)
            self._correlate(part, self._weight_t, planes.offsets, planes.width, out[: stop - start])
            finish(out[: stop - start], self._bias_or_zeros, start, stop)
        if train:
            self.x = x
            self._planes_of = x

    def _backward_direct(self, dy: np.ndarray) -> np.ndarray | None:
        dy = np.ascontiguousarray(dy, dtype=self.dtype)

        def fill(grads: np.ndarray, start: int, stop: int) -> None:
            direct.to_channels_last(dy[start:stop], grads)

        return self.backward_sums(fill, dy.shape[0], dy)

    def backward_sums(
        self, fill: Callable[[np.ndarray, int, int], None], n: int, dy: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Direct path: gradients from dy that fill(grads, start, stop) writes channels-last, chunk by chunk.

        grads: (stop - start, H', W', F' >= F), to be filled with dy[start:stop] transposed and zeros in
        the extra channels. Writes the weight and bias gradients; returns dx when needs_input_grad (from dy
        in NCHW: the one given, or one rebuilt from the chunks), else None.
        """
        if self._planes_of is None or self._planes_of is not getattr(self, "x", None):
            raise RuntimeError(f"layer {self.describe()}: backward without a forward(train=True) of this batch")
        inputs = self._scratch["planes"]
        planes = self._fwd
        out_h, out_w = self._out
        step = self._direct_chunk(n, self._filters16 * out_h * out_w)
        grads = self._work("dy_channels_last", (step, out_h, out_w, self._filters16))
        sums = self._work("weight_sums", (len(self._weight_taps), self._filters16))
        sums.fill(0)
        rebuild = dy is None and self.needs_input_grad
        if rebuild:
            dy = np.empty((n, self.filters, out_h, out_w), dtype=self.dtype)
            no_bias = self._work("zeros", (max(self._channels16, self._filters16),))
        threads = numba.get_num_threads()
        for start in range(0, n, step):
            stop = min(start + step, n)
            m = stop - start
            fill(grads[:m], start, stop)
            if rebuild:
                direct.from_channels_last(grads[:m], no_bias, dy[start:stop])
            self._correlate_weights(inputs[start:stop], grads[:m], self._weight_taps, planes.width, sums, threads)
        taps = planes.offsets.shape[0]
        self.grads["weight"].reshape(self.filters, taps)[...] = sums[:taps, : self.filters].T
        if self.use_bias:
            self.grads["bias"][...] = sums[taps, : self.filters]
        if not self.needs_input_grad:
            return None
        channels, height, width = self.input_shape
        if channels <= 4:
            # few input channels fill few of the direct kernel's 16 lanes; col2im wins there, and at
            # C=8 it loses (figures in benchmarks/README.md)
            return self._input_grad_col2im(dy.reshape(n, self.filters, -1))

        kh, kw = self._kernel
        top, _, left, _ = self._pads
        flipped = self._flipped_t[:, :channels].reshape(self.filters, kh, kw, channels)
        flipped[...] = self.params["weight"][:, :, ::-1, ::-1].transpose(0, 2, 3, 1)
        planes = self._bwd
        step = self._direct_chunk(n, max(self._channels16 * height * planes.out_cols, planes.size))
        dy_planes = self._work("dy_planes", (step, planes.size))
        out = self._work("dx_channels_last", (step, height, planes.out_cols, self._channels16))
        no_bias = self._work("zeros", (max(self._channels16, self._filters16),))
        dx = np.empty((n, channels, height, width), dtype=self.dtype)
        for start in range(0, n, step):
            stop = min(start + step, n)
            m = stop - start
            direct.to_planes(dy[start:stop], kh - 1 - top, kw - 1 - left, planes.width, planes.plane, dy_planes[:m])
            self._correlate_dx(dy_planes[:m], self._flipped_t, planes.offsets, planes.width, out[:m])
            direct.from_channels_last(out[:m], no_bias, dx[start:stop])
        return dx

    def _forward_unfolded(self, x: np.ndarray, train: bool) -> np.ndarray:
        n = x.shape[0]
        fan_in = self._fan_in
        self._w_aug[:, :fan_in] = self.params["weight"].reshape(self.filters, fan_in)
        if self.use_bias:
            self._w_aug[:, fan_in] = self.params["bias"]
        pixels = self._out[0] * self._out[1]
        step = self._chunk(n)
        keep = train and n * self._rows * pixels <= KEEP_ELEMENTS
        cols = self._work("cols", (n if keep else step, self._rows, *self._out))
        y = np.empty((n, self.filters, pixels), dtype=self.dtype)
        for start in range(0, n, step):
            stop = min(start + step, n)
            part = cols[start:stop] if keep else cols[: stop - start]
            self._unfold(x[start:stop], part, step)
            np.matmul(self._w_aug, part.reshape(stop - start, self._rows, pixels), out=y[start:stop])
        self._cols_of = x if keep else None  # an evaluation forward overwrites the kept cols
        if train:
            self.x = x
        return y.reshape(n, self.filters, *self._out)

    def _backward_unfolded(self, dy: np.ndarray) -> np.ndarray | None:
        x = self.x
        n = x.shape[0]
        pixels = self._out[0] * self._out[1]
        fan_in = self._fan_in
        dy = np.ascontiguousarray(dy, dtype=self.dtype).reshape(n, self.filters, pixels)
        kept = self._cols_of is x

        step = self._chunk(n)
        dw_aug = self._work("dw_aug", (self._rows, self.filters))
        for start in range(0, n, step):
            stop = min(start + step, n)
            m = stop - start
            if kept:
                cols = self._scratch["cols"][start:stop]
            else:
                cols = self._work("cols", (step, self._rows, *self._out))[:m]
                self._unfold(x[start:stop], cols, step)
            # d[weight | bias].T = sum_n cols[n] @ dy[n].T: one GEMM per example (BLAS reads the strided
            # dy[n].T as a transposed operand, no copy), then a sum over the examples. This orientation
            # beat dy[n] @ cols[n].T (figures in benchmarks/README.md).
            parts = self._work("dw_parts", (step, self._rows, self.filters))[:m]
            np.matmul(cols.reshape(m, self._rows, pixels), dy[start:stop].transpose(0, 2, 1), out=parts)
            if start == 0:
                np.sum(parts, axis=0, out=dw_aug)
            else:
                dw_aug += parts.sum(axis=0)
        self.grads["weight"].reshape(self.filters, fan_in)[...] = dw_aug[:fan_in].T
        if self.use_bias:
            self.grads["bias"][...] = dw_aug[fan_in]

        if not self.needs_input_grad:
            return None
        return self._input_grad_col2im(dy)

    def _input_grad_col2im(self, dy: np.ndarray) -> np.ndarray:
        """dx: (N, C, H, W) from dy: (N, F, H'*W') by scattering weight.T @ dy back onto the image (any stride)."""
        n = dy.shape[0]
        fan_in = self._fan_in
        weight_t = self.params["weight"].reshape(self.filters, fan_in).T
        channels, height, width = self.input_shape
        top, bottom, left, right = self._pads
        padded = bool(top or bottom or left or right)
        if padded:
            dxp = self._work("dxp", (n, channels, height + top + bottom, width + left + right))
            dxp.fill(0)
        else:
            dxp = np.zeros((n, channels, height, width), dtype=self.dtype)
        step = self._chunk(n)
        for start in range(0, n, step):
            stop = min(start + step, n)
            m = stop - start
            dcols = self._work("dcols", (step, fan_in, *self._out))[:m]
            np.matmul(weight_t, dy[start:stop], out=dcols.reshape(m, fan_in, dy.shape[2]))
            kernels.col2im(dcols, *self._kernel, *self._stride, dxp[start:stop])
        if not padded:
            return dxp
        dx = np.empty((n, channels, height, width), dtype=self.dtype)
        kernels.crop2d(dxp, top, left, dx)
        return dx

    def flops(self) -> int:
        channels = self.input_shape[0]
        kh, kw = self._kernel
        pixels = self._out[0] * self._out[1]
        return 2 * channels * kh * kw * self.filters * pixels + (self.filters * pixels if self.use_bias else 0)
