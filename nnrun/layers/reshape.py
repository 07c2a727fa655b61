"""Shape-only layers: flatten images (or any per-example shape) into feature vectors for dense layers."""

from __future__ import annotations

import math

import numpy as np

from nnrun.layers.base import BuildContext, Layer, Shape
from nnrun.registry import LAYERS


@LAYERS.register("flatten")
class Flatten(Layer):
    """x: (N, d1, d2, ...) -> y: (N, d1*d2*...), in C order (for NCHW: channel, then row, then column)."""

    def __init__(self, *, name: str | None = None):
        super().__init__(name=name)

    def _build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        return (math.prod(input_shape),)

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy: (N, prod) -> dx: (N, *input_shape)."""
        return dy.reshape(dy.shape[0], *self.input_shape)
