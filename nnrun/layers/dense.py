"""Fully connected layer: y = x @ weight + bias, on the BLAS matmul."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field

from nnrun import initializers
from nnrun.layers.base import BuildContext, Layer, Shape
from nnrun.registry import LAYERS

InitSpec = str | dict[str, Any] | None

# The input gradient dy @ weight.T is a thin product at small batches, where OpenBLAS is slow; the same
# product computed as (weight @ dy.T).T runs 1.1-1.5x faster from 512 units at a batch of up to 64 and
# slower elsewhere (benchmarks/README.md). Both give the same sums, bit for bit, on the builds measured.
TRANSPOSED_DX = (64, 512)  # (largest batch, fewest units)
# For a classifier's few units, OpenBLAS multiplies dy by a contiguous copy of weight.T faster than by the
# transposed view, the same sums (benchmarks/README.md).
COPIED_DX_UNITS = 10


@LAYERS.register("dense")
class Dense(Layer):
    """Affine map. x: (N, in_features) -> y: (N, units); weight: (in_features, units), bias: (units,)."""

    decayed = ("weight",)

    def __init__(
        self,
        units: Annotated[int, Field(gt=0, description="output features")],
        use_bias: Annotated[bool, Field(description="add a learned bias")] = True,
        weight_init: Annotated[InitSpec, Field(description="initializer for the weight; null = model default")] = None,
        bias_init: Annotated[InitSpec, Field(description="initializer for the bias; null = model default")] = None,
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self.units = units
        self.use_bias = use_bias
        self.weight_init = weight_init
        self.bias_init = bias_init

    def _build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        if len(input_shape) != 1:
            raise self.shape_error("a flat input (features,); add a `flatten` layer before it", input_shape)
        fan_in = input_shape[0]
        self.weight_init = self.weight_init if self.weight_init is not None else ctx.weight_init
        weight = initializers.get(self.weight_init, where=f"layer {self.describe()}: weight_init")
        self.params["weight"] = weight((fan_in, self.units), fan_in, self.units, ctx.init_rng, self.dtype)
        if self.use_bias:
            self.bias_init = self.bias_init if self.bias_init is not None else ctx.bias_init
            bias = initializers.get(self.bias_init, where=f"layer {self.describe()}: bias_init")
            self.params["bias"] = bias((self.units,), fan_in, self.units, ctx.init_rng, self.dtype)
        return (self.units,)

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        y = self.forward_matmul(x)
        if self.use_bias:
            y += self.params["bias"]
        return y

    def forward_matmul(self, x: np.ndarray) -> np.ndarray:
        """forward without the bias, which the caller adds (nnrun/layers/fused.py); keeps x for backward."""
        self.x = x
        return x @ self.params["weight"]

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """dy: (N, units) -> dx: (N, in_features), or None when needs_input_grad is False."""
        if self.use_bias:
            np.sum(dy, axis=0, out=self.grads["bias"])
        return self.backward_matmuls(dy)

    def backward_matmuls(self, dy: np.ndarray) -> np.ndarray | None:
        """backward without the bias gradient, which the caller has written (nnrun/layers/fused.py)."""
        np.matmul(self.x.T, dy, out=self.grads["weight"])
        if not self.needs_input_grad:
            return None
        weight = self.params["weight"]
        if len(dy) <= TRANSPOSED_DX[0] and self.units >= TRANSPOSED_DX[1]:
            return np.ascontiguousarray((weight @ dy.T).T)
        if self.units <= COPIED_DX_UNITS:
            return dy @ np.ascontiguousarray(weight.T)
        return dy @ weight.T

    def flops(self) -> int:
        return 2 * self.input_shape[0] * self.units + (self.units if self.use_bias else 0)
