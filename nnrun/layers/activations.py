"""Activation layers: relu, leaky_relu, sigmoid, tanh, softmax and identity.

Elementwise ones take any input shape (after dense or conv alike) and run the numba kernels in
nnrun.kernels.activations on flat views of their contiguous arrays.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import Field

from nnrun.kernels import activations as kernels
from nnrun.layers.base import BuildContext, Layer, Shape
from nnrun.registry import LAYERS


class Elementwise(Layer):
    """Base for shape-preserving activations. x: (N, *shape) -> y: (N, *shape).

    Every forward and backward returns a new array: a downstream layer may keep the array it was
    given (Dense keeps x for its backward), and reusing buffers saved too little of a relu to be worth
    that hazard (figures in benchmarks/README.md).
    """

    flops_per_element: int = 1

    def flops(self) -> int:
        return self.flops_per_element * math.prod(self.input_shape)

    def as_input(self, a: np.ndarray) -> np.ndarray:
        """`a` as a contiguous array of the layer's dtype (a no-op in the usual case)."""
        return np.ascontiguousarray(a, dtype=self.dtype)

    def run(self, kernel, *args) -> np.ndarray:
        """Call an elementwise kernel on flat views of the array args, writing a new array like the first."""
        out = np.empty_like(args[0])
        flat = [a.reshape(-1) if isinstance(a, np.ndarray) else a for a in args]
        kernel(*flat, out.reshape(-1))
        return out


@LAYERS.register("relu")
class ReLU(Elementwise):
    """max(x, 0), with derivative 0 at x = 0."""

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self.x = self.as_input(x)
        return self.run(kernels.relu_forward, self.x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.run(kernels.relu_backward, self.x, self.as_input(dy))


@LAYERS.register("leaky_relu")
class LeakyReLU(Elementwise):
    """x for x > 0, alpha * x otherwise (alpha = 0 is relu)."""

    flops_per_element = 2

    def __init__(
        self,
        alpha: Annotated[float, Field(ge=0, description="slope for negative inputs")] = 0.01,
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self.alpha = alpha

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self.x = self.as_input(x)
        return self.run(kernels.leaky_relu_forward, self.x, self.dtype.type(self.alpha))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.run(kernels.leaky_relu_backward, self.x, self.dtype.type(self.alpha), self.as_input(dy))


@LAYERS.register("sigmoid")
class Sigmoid(Elementwise):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""

    flops_per_element = 4

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self.y = self.run(kernels.sigmoid_forward, self.as_input(x))
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.run(kernels.sigmoid_backward, self.y, self.as_input(dy))


@LAYERS.register("tanh")
class Tanh(Elementwise):
    """tanh(x)."""

    flops_per_element = 4

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self.y = self.run(kernels.tanh_forward, self.as_input(x))
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.run(kernels.tanh_backward, self.y, self.as_input(dy))


@LAYERS.register("identity")
class Identity(Layer):
    """y = x, any shape; returns its input array itself."""

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy


@LAYERS.register("softmax")
class Softmax(Elementwise):
    """Softmax over features. x: (N, D) -> y: (N, D), rows summing to 1.

    For completeness: the softmax_cross_entropy loss takes logits, so a classifier does not end with
    this layer. backward is the full Jacobian-vector product dx = y * (dy - sum(dy * y, axis=1)).
    """

    flops_per_element = 5

    def _build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        if len(input_shape) != 1:
            raise self.shape_error("a flat input (features,); add a `flatten` layer before it", input_shape)
        return input_shape

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        x = self.as_input(x)
        self.y = np.empty_like(x)
        kernels.softmax_forward(x, self.y)
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = np.empty_like(self.y)
        kernels.softmax_backward(self.y, self.as_input(dy), dx)
        return dx
