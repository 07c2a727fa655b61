"""Batch normalisation: per feature after a dense layer, per channel after a convolution."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import Field

from nnrun.kernels import norm as kernels
from nnrun.layers.base import BuildContext, Layer, Shape
from nnrun.registry import LAYERS


def as_channels(x: np.ndarray) -> np.ndarray:
    """View (N, D) as (N, D, 1) and (N, C, H, W) as (N, C, H*W), without copying."""
    return x.reshape(x.shape[0], x.shape[1], -1)


@LAYERS.register("batchnorm")
class BatchNorm(Layer):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, per feature or per channel.

    x: (N, D) with gamma, beta: (D,), statistics over N; or x: (N, C, H, W) with gamma, beta: (C,),
    statistics over N, H and W (torch's BatchNorm1d and BatchNorm2d).

    Train mode normalises with the batch mean and the biased batch variance, and updates the buffers
        running_mean = momentum * running_mean + (1 - momentum) * batch_mean
        running_var  = momentum * running_var  + (1 - momentum) * unbiased_batch_var
    (the unbiased variance, M / (M - 1) times the biased one for M values per channel, as torch
    does). This is Keras' momentum convention: torch's `momentum` is 1 - momentum here, so the
    default 0.9 matches torch's default 0.1. A batch with one value per channel has no variance to
    learn from and leaves the running statistics unchanged (torch raises instead).
    Eval mode normalises with running_mean and running_var.
    """

    def __init__(
        self,
        momentum: Annotated[
            float, Field(ge=0, le=1, description="weight of the old running statistics (torch momentum = 1 - this)")
        ] = 0.9,
        eps: Annotated[float, Field(gt=0, description="added to the variance before the square root")] = 1e-5,
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self.momentum = momentum
        self.eps = eps

    def _build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        if len(input_shape) not in (1, 3):
            raise self.shape_error("(features,) after a dense layer or (C, H, W) after a convolution", input_shape)
        channels = input_shape[0]
        self.params["gamma"] = np.ones(channels, self.dtype)
        self.params["beta"] = np.zeros(channels, self.dtype)
        self.buffers["running_mean"] = np.zeros(channels, self.dtype)
        self.buffers["running_var"] = np.ones(channels, self.dtype)
        return input_shape

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=self.dtype)
        x3 = as_channels(x)
        if train:
            channels = x3.shape[1]
            mean = np.empty(channels, np.float64)
            var = np.empty(channels, np.float64)
            kernels.batch_stats(x3, mean, var)
            self.update_running_stats(mean, var, x3.shape[0] * x3.shape[2])
        else:
            mean = self.buffers["running_mean"].astype(np.float64)
            var = self.buffers["running_var"].astype(np.float64)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        y = np.empty_like(x)
        kernels.batchnorm_forward(x3, mean, inv_std, self.params["gamma"], self.params["beta"], as_channels(y))
        self.cache = (x3, mean, inv_std, train)
        return y

    def update_running_stats(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        if count < 2:
            return
        m = self.momentum
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        # written in place: the model's saved state refers to these arrays
        running_mean[...] = m * running_mean + (1 - m) * mean
        running_var[...] = m * running_var + (1 - m) * var * (count / (count - 1))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x3, mean, inv_std, train = self.cache
        dy = np.ascontiguousarray(dy, dtype=self.dtype)
        dx = np.empty_like(dy)
        kernels.batchnorm_backward(
            x3, as_channels(dy), mean, inv_std, self.params["gamma"], train,
            as_channels(dx), self.grads["gamma"], self.grads["beta"],
        )  # fmt: skip
        return dx

    def flops(self) -> int:
        # one multiply and one add per element once folded into scale and shift (statistics not counted)
        return 2 * math.prod(self.input_shape)
