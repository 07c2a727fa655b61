"""The Layer contract shared by every layer family.

A layer is built once from the per-example input shape (Keras' `build`), then runs
`forward(x, train)` keeping what backward needs, and `backward(dy)` which writes `self.grads`
in place and returns `dx` (cs231n's forward/backward pair with an explicit cache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from nnrun.errors import ShapeError
from nnrun.initializers import DEFAULT_BIAS_INIT, DEFAULT_WEIGHT_INIT
from nnrun.registry import Configurable

Shape = tuple[int, ...]


@dataclass
class BuildContext:
    """What a layer needs when it is built: the dtype, the seeded streams and the model-level defaults."""

    dtype: np.dtype
    init_rng: np.random.Generator  # draws initial weights
    noise_rng: np.random.Generator  # draws dropout masks (and any other training-time noise)
    weight_init: str | dict[str, Any] = DEFAULT_WEIGHT_INIT
    bias_init: str | dict[str, Any] = DEFAULT_BIAS_INIT
    extra: dict[str, Any] = field(default_factory=dict)


class Layer(Configurable):
    """Base class. Subclasses store every constructor argument as an attribute of the same name."""

    type_name: ClassVar[str]
    # parameters that weight decay applies to (biases and batchnorm scale/shift are left out)
    decayed: ClassVar[tuple[str, ...]] = ()
    # Sequential.backward(dy, input_grad=False) clears this on the first layer with parameters: its input is
    # the data, so a layer that honours it (dense, conv2d) skips computing dx and returns None.
    needs_input_grad: bool = True

    def __init__(self, *, name: str | None = None):
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}  # saved with the weights but not trained (running stats)
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self.dtype: np.dtype = np.dtype(np.float32)
        # When True, a layer with training-time noise (dropout) reuses its last draw: gradcheck needs
        # the same function on every evaluation.
        self.fixed_noise = False

    # --- construction -------------------------------------------------------------------------
    def build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        """Create parameters for a per-example `input_shape` and return the per-example output shape."""
        self.input_shape = tuple(input_shape)
        self.dtype = np.dtype(ctx.dtype)
        self.output_shape = tuple(self._build(self.input_shape, ctx))
        for key, value in self.params.items():
            self.grads[key] = np.zeros_like(value)
        return self.output_shape

    def _build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        return input_shape

    def describe(self) -> str:
        label = self.name or self.type_name
        return label if label == self.type_name else f"{label} ({self.type_name})"

    def shape_error(self, expected: str, input_shape: Shape) -> ShapeError:
        return ShapeError(
            f"expects {expected} but gets input of shape {tuple(input_shape)}",
            where=f"layer {self.describe()}",
            hint="check model.input_shape and the layers before this one (`nnrun check CONFIG` prints every shape)",
        )

    # --- computation --------------------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # --- accounting ---------------------------------------------------------------------------
    def flops(self) -> int:
        """Forward floating-point operations per example (multiply and add counted apart)."""
        return 0

    def activation_elements(self) -> int:
        """Values per example this layer's forward pass leaves in memory: its output."""
        return math.prod(self.output_shape)

    def num_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))
