"""Max and average pooling over NCHW images, on numba kernels."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, PositiveInt

from nnrun.kernels import pool as kernels
from nnrun.layers.base import BuildContext, Layer, Shape
from nnrun.layers.conv import pair
from nnrun.registry import LAYERS

SizeSpec = PositiveInt | tuple[PositiveInt, PositiveInt]


class _Pool2D(Layer):
    """Shared shape logic. x: (N, C, H, W) -> y: (N, C, H', W') with H' = (H - size)//stride + 1.

    Only "valid" padding: windows that would run past the edge are dropped (the last rows or columns
    are ignored when (H - size) is not a multiple of the stride).
    """

    def __init__(
        self,
        size: Annotated[SizeSpec, Field(description="window size: an int or [kh, kw]")] = 2,
        stride: Annotated[SizeSpec | None, Field(description="step between windows; null = the window size")] = None,
        padding: Annotated[Literal["valid"], Field(description='only "valid" (no padding) is supported')] = "valid",
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self.size = size
        self.stride = stride
        self.padding = padding

    def _build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        if len(input_shape) != 3:
            raise self.shape_error("an image input (C, H, W); reshape the data to channels-first NCHW", input_shape)
        channels, height, width = input_shape
        kh, kw = self._size = pair(self.size)
        sh, sw = self._stride = pair(self.stride if self.stride is not None else self.size)
        if kh > height or kw > width:
            raise self.shape_error(f"an input at least as large as the {kh}x{kw} window", input_shape)
        self._out = ((height - kh) // sh + 1, (width - kw) // sw + 1)
        return (channels, *self._out)

    def flops(self) -> int:
        # one comparison or addition per window element (plus the division for the mean)
        kh, kw = self._size
        return int(np.prod(self.output_shape)) * kh * kw


@LAYERS.register("maxpool2d")
class MaxPool2D(_Pool2D):
    """Max over each window. x: (N, C, H, W) -> y: (N, C, H', W'), H' = (H - size)//stride + 1, no padding.

    Backward sends each dy entry to the input position that won its window (the first maximum on ties,
    as torch does), adding where windows overlap.
    """

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        n = x.shape[0]
        y = np.empty((n, self.output_shape[0], *self._out), dtype=self.dtype)
        argmax = np.empty(y.shape, dtype=np.int64)
        kernels.maxpool_forward(x, *self._size, *self._stride, y, argmax)
        if train:
            self.argmax = argmax
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy: (N, C, H', W') -> dx: (N, C, H, W)."""
        n = dy.shape[0]
        channels, height, width = self.input_shape
        dx = np.empty((n, channels, height * width), dtype=self.dtype)
        kernels.maxpool_backward(np.ascontiguousarray(dy, dtype=self.dtype), self.argmax, dx)
        return dx.reshape(n, channels, height, width)


@LAYERS.register("avgpool2d")
class AvgPool2D(_Pool2D):
    """Mean over each window. x: (N, C, H, W) -> y: (N, C, H', W'), H' = (H - size)//stride + 1, no padding."""

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        n = x.shape[0]
        y = np.empty((n, self.output_shape[0], *self._out), dtype=self.dtype)
        kh, kw = self._size
        kernels.avgpool_forward(x, kh, kw, *self._stride, self.dtype.type(kh * kw), y)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy: (N, C, H', W') -> dx: (N, C, H, W)."""
        n = dy.shape[0]
        kh, kw = self._size
        dx = np.zeros((n, *self.input_shape), dtype=self.dtype)
        dy = np.ascontiguousarray(dy, dtype=self.dtype)
        kernels.avgpool_backward(dy, kh, kw, *self._stride, self.dtype.type(kh * kw), dx)
        return dx
