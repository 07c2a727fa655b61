"""Inverted dropout: random units zeroed in training, the kept ones scaled up so eval needs nothing."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import Field

from nnrun.kernels.dropout import dropout_apply
from nnrun.layers.base import BuildContext, Layer, Shape
from nnrun.registry import LAYERS


@LAYERS.register("dropout")
class Dropout(Layer):
    """Inverted dropout. x: (N, *shape) -> y: (N, *shape), any shape.

    `rate` is the fraction of units DROPPED: TensorFlow 1's keep_prob p = 0.9 is rate 0.1 here
    (Keras' Dropout(rate) and torch's Dropout(p) mean the same as rate here). In train mode each
    unit is kept with probability 1 - rate and kept units are scaled by 1 / (1 - rate), so the
    expected output equals the input; eval mode is the identity and returns x itself.

    Masks come from the build context's noise_rng only, so a seed reproduces them. With
    `fixed_noise` set, train mode reuses the last mask (for gradient checks).
    """

    def __init__(
        self,
        rate: Annotated[
            float, Field(ge=0, lt=1, description="fraction of units dropped (TensorFlow keep_prob = 1 - rate)")
        ] = 0.5,
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self.rate = rate

    def _build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        self.rng = ctx.noise_rng
        self.uniforms: np.ndarray | None = None  # this batch's draws; unit kept where uniform >= rate
        self.active = False
        return input_shape

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self.active = train and self.rate > 0
        if not self.active:
            return x
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if self.uniforms is None or self.uniforms.shape != x.shape:
            self.uniforms = np.empty(x.shape, self.dtype)
            self.rng.random(out=self.uniforms, dtype=self.dtype.type)
        elif not self.fixed_noise:
            # the buffer is free again: backward for the previous batch has run
            self.rng.random(out=self.uniforms, dtype=self.dtype.type)
        return self.apply(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if not self.active:
            return dy
        return self.apply(np.ascontiguousarray(dy, dtype=self.dtype))

    def apply(self, a: np.ndarray) -> np.ndarray:
        out = np.empty_like(a)
        rate = self.dtype.type(self.rate)
        scale = self.dtype.type(1.0 / (1.0 - self.rate))
        dropout_apply(a.reshape(-1), self.uniforms.reshape(-1), rate, scale, out.reshape(-1))
        return out

    def flops(self) -> int:
        return math.prod(self.input_shape)  # one multiply per element in train mode
