"""Runs of layers that a Sequential runs as one step: conv2d -> relu -> maxpool2d (or conv2d -> maxpool2d),
and dense -> relu.

The layers stay as they are, in the model, its config and its saved weights; Sequential only runs
such a run of them through a block.

`ConvPool` pools the convolution's channels-last sums directly, with the bias and the relu applied on
the way (nnrun.kernels.pool.maxpool_channels_last), and its backward scatters the pooled gradient
straight into the channels-last array the weight gradient reads (unpool_channels_last). The separate
layers write and read the convolution's full output four more times in NCHW: conv output, relu output,
pool input gradient, relu input gradient, plus a transpose each way; for the CNN7's first block that
is 5 MB each time, a batch of 50.

`DenseReLU` adds the bias and applies the relu in one pass over the product, in place, and its backward
masks the gradient and sums the bias gradient in one pass (nnrun.kernels.activations): two passes and
an array fewer each way than dense and relu apart.

The results are those of the separate layers: the same sums, the same maximum and relu, and the
same gradient, bit for bit (tests/layers/test_fused.py).
"""

from __future__ import annotations

import numpy as np

from nnrun.kernels import activations
from nnrun.kernels import pool as kernels
from nnrun.layers.activations import ReLU
from nnrun.layers.base import Layer
from nnrun.layers.conv import Conv2D
from nnrun.layers.dense import Dense
from nnrun.layers.pool import MaxPool2D


class ConvPool:
    """One step for conv (on its direct engine), an optional relu and a max pool that follow each other."""

    def __init__(self, conv: Conv2D, relu: ReLU | None, pool: MaxPool2D):
        self.conv, self.relu, self.pool = conv, relu is not None, pool
        self.layers: list[Layer] = [conv, *([relu] if relu is not None else []), pool]

    @classmethod
    def starting_at(cls, layers: list[Layer], index: int) -> ConvPool | None:
        """The block that starts at layers[index], or None when none does."""
        conv = layers[index]
        if not isinstance(conv, Conv2D) or conv.engine is not conv.direct:
            return None
        rest = layers[index + 1 : index + 3]
        relu = rest[0] if rest and type(rest[0]) is ReLU else None
        after = rest[1:] if relu is not None else rest[:1]
        if not after or type(after[0]) is not MaxPool2D:
            return None
        return cls(conv, relu, after[0])

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        pool = self.pool
        y = np.empty((x.shape[0], *pool.output_shape), dtype=pool.dtype)
        # backward needs the winners of the whole batch; an evaluation only a chunk's at a time
        argmax = np.empty(y.shape, dtype=np.int64) if train else None
        plane_width = self.conv.output_shape[2]

        def finish(sums: np.ndarray, bias: np.ndarray, start: int, stop: int) -> None:
            winners = argmax[start:stop] if argmax is not None else np.empty(y[start:stop].shape, np.int64)
            kernels.maxpool_channels_last(
                sums, bias, self.relu, plane_width, *pool._size, *pool._stride, y[start:stop], winners
            )

        self.conv.forward_sums(x, train, finish)
        if train:
            self.y, self.argmax = y, argmax
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        dy = np.ascontiguousarray(dy, dtype=self.pool.dtype)

        def fill(grads: np.ndarray, start: int, stop: int) -> None:
            kernels.unpool_channels_last(dy[start:stop], self.argmax[start:stop], self.y[start:stop], self.relu, grads)

        return self.conv.backward_sums(fill, dy.shape[0])


class DenseReLU:
    """One step for a dense layer and the relu after it."""

    def __init__(self, dense: Dense, relu: ReLU):
        self.dense = dense
        self.layers: list[Layer] = [dense, relu]
        self._no_bias = np.empty(0, dtype=dense.dtype)

    @classmethod
    def starting_at(cls, layers: list[Layer], index: int) -> DenseReLU | None:
        """The block that starts at layers[index], or None when none does."""
        dense, relu = layers[index], layers[index + 1] if index + 1 < len(layers) else None
        if type(dense) is Dense and type(relu) is ReLU:
            return cls(dense, relu)
        return None

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        dense = self.dense
        y = dense.forward_matmul(x)
        activations.bias_relu_rows(y, dense.params.get("bias", self._no_bias))
        if train:
            self.y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        dense = self.dense
        dy = np.ascontiguousarray(dy, dtype=dense.dtype)
        dz = np.empty_like(dy)
        activations.relu_backward_rows(self.y, dy, dz, dense.grads.get("bias", self._no_bias))
        return dense.backward_matmuls(dz)


BLOCKS = (ConvPool, DenseReLU)


def plan(layers: list[Layer]) -> list[tuple[int, Layer | ConvPool | DenseReLU]]:
    """The steps that run `layers`: (index of the step's first layer, the layer or a block)."""
    steps: list[tuple[int, Layer | ConvPool | DenseReLU]] = []
    index = 0
    while index < len(layers):
        block = next((found for kind in BLOCKS if (found := kind.starting_at(layers, index))), None)
        steps.append((index, block or layers[index]))
        index += len(block.layers) if block else 1
    return steps
