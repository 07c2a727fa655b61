"""2-D convolution over NCHW images: the Conv2D layer (its parameters, shapes and config) and which engine runs it.

Stride 1 (with padding smaller than the kernel, which covers "valid", "same" and the usual integer
paddings) runs on the direct engine (nnrun/layers/conv_direct.py: nnrun's register-blocked numba kernels),
forward, weight gradient and input gradient alike. Other strides run on the im2col engine
(nnrun/layers/conv_im2col.py: im2col/col2im around BLAS matmuls, in cache-sized chunks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, PositiveInt

from nnrun import initializers
from nnrun.layers.base import BuildContext, Layer, Shape
from nnrun.layers.conv_direct import DirectConv
from nnrun.layers.conv_im2col import Im2colConv
from nnrun.registry import LAYERS

InitSpec = str | dict[str, Any] | None
NonNegativeInt = Annotated[int, Field(ge=0)]
SizeSpec = PositiveInt | tuple[PositiveInt, PositiveInt]
PaddingSpec = Literal["valid", "same"] | NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt]


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

    Once built, `engine` runs forward and backward: `direct` (a DirectConv) where the geometry allows it,
    else `im2col` (an Im2colConv), which every built layer has.
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
        # im2col runs any geometry, and gives the direct engine's input gradient for few input channels
        common = {
            "input_shape": input_shape,
            "filters": self.filters,
            "kernel": self._kernel,
            "pads": self._pads,
            "out": self._out,
            "use_bias": self.use_bias,
            "dtype": self.dtype,
        }
        self.im2col = Im2colConv(stride=self._stride, **common)
        self.direct: DirectConv | None = None
        if (sh, sw) == (1, 1) and max(top, bottom) < kh and max(left, right) < kw:
            self.direct = DirectConv(col2im=self.im2col, **common)
        self.engine: DirectConv | Im2colConv = self.direct if self.direct is not None else self.im2col
        return (self.filters, out_h, out_w)

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        """x: (N, C, H, W) -> y: (N, F, H', W'). In train mode the engine keeps what backward needs."""
        return self.engine.forward(x, self.params, train)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """dy: (N, F, H', W') -> dx: (N, C, H, W); writes grads["weight"] (F, C, kh, kw) and grads["bias"] (F,).

        Uses what the last forward(train=True) kept. Returns None when needs_input_grad is False.
        """
        self._check_trained(self.engine)
        return self.engine.backward(dy, self.params, self.grads, self.needs_input_grad)

    def forward_sums(
        self, x: np.ndarray, train: bool, finish: Callable[[np.ndarray, np.ndarray, int, int], None]
    ) -> None:
        """Direct engine: hand the channels-last sums of x, chunk by chunk, to finish(sums, bias, start, stop).

        See DirectConv.forward_sums (nnrun/layers/conv_direct.py); Sequential's fused conv2d -> relu ->
        maxpool2d block (nnrun/layers/fused.py) pools them directly.
        """
        self.direct.forward_sums(x, self.params, train, finish)

    def backward_sums(self, fill: Callable[[np.ndarray, int, int], None], n: int) -> np.ndarray | None:
        """Direct engine: gradients from a dy that fill(out, start, stop) writes channels-last, chunk by chunk.

        See DirectConv.backward_sums. Returns dx when needs_input_grad, else None.
        """
        self._check_trained(self.direct)
        return self.direct.backward_sums(fill, n, self.params, self.grads, self.needs_input_grad)

    def _check_trained(self, engine: DirectConv | Im2colConv) -> None:
        if engine.x is None:
            raise RuntimeError(f"layer {self.describe()}: backward without a forward(train=True) before it")

    def flops(self) -> int:
        channels = self.input_shape[0]
        kh, kw = self._kernel
        pixels = self._out[0] * self._out[1]
        return 2 * channels * kh * kw * self.filters * pixels + (self.filters * pixels if self.use_bias else 0)
