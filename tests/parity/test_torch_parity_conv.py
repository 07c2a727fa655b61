"""conv2d, maxpool2d and avgpool2d against PyTorch in float32: forward, dx, dweight and dbias.

Tolerance: float32 results are compared with rtol=1e-5 and atol=1e-5 times the largest magnitude in
the torch array (at least 1). A float32 dot product of K terms is off by about K*eps*sum|terms|
depending on summation order (BLAS vs oneDNN), so the error scales with the size of the terms, not
with each result; a near-zero entry cannot be held to a relative tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.layers.conv import Conv2D
from nnrun.layers.pool import AvgPool2D, MaxPool2D
from tests.helpers import assert_close
from tests.helpers.layers import build_context

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch


def close_to_torch(ours: np.ndarray, theirs, what: str) -> None:
    assert ours.dtype == np.float32, what
    assert_close(ours, theirs.detach().numpy(), 1e-5, what)


# (input_shape, filters, kernel, stride, padding, torch padding as F.pad's (left, right, top, bottom))
CONV_CASES = [
    ((3, 9, 8), 4, 3, 1, "valid", (0, 0, 0, 0)),
    ((3, 9, 8), 4, 3, 2, "valid", (0, 0, 0, 0)),
    ((2, 8, 8), 5, 3, 2, 1, (1, 1, 1, 1)),
    ((2, 7, 9), 3, [3, 2], [2, 1], [2, 1], (1, 1, 2, 2)),
    ((1, 12, 12), 8, 5, 1, "same", (2, 2, 2, 2)),
    ((2, 10, 10), 4, 4, 1, "same", (1, 2, 1, 2)),  # even kernel: torch needs the asymmetric F.pad
    ((1, 28, 28), 6, 10, 1, "same", (4, 5, 4, 5)),  # the 10x10 MNIST layer's geometry
    ((2, 9, 8), 3, 3, 2, "same", (0, 1, 1, 1)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[f"{c[4]}-k{c[2]}-s{c[3]}" for c in CONV_CASES])
def test_conv2d(case):
    input_shape, filters, kernel, stride, padding, torch_pad = case
    layer = Conv2D(filters, kernel, stride=stride, padding=padding, weight_init="he_normal")
    layer.build(input_shape, build_context(np.float32))
    rng = np.random.default_rng(1)
    layer.params["bias"][...] = rng.standard_normal(filters)
    x = rng.standard_normal((4, *input_shape)).astype(np.float32)
    y = layer.forward(x, train=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.params["weight"], requires_grad=True)
    tb = torch.tensor(layer.params["bias"], requires_grad=True)
    ty = F.conv2d(F.pad(tx, torch_pad), tw, tb, stride=stride)
    ty.backward(torch.tensor(dy))
    close_to_torch(y, ty, "y")
    close_to_torch(dx, tx.grad, "dx")
    close_to_torch(layer.grads["weight"], tw.grad, "dweight")
    close_to_torch(layer.grads["bias"], tb.grad, "dbias")


def test_conv2d_same_odd_kernel_matches_torch_same():
    layer = Conv2D(3, [3, 5], padding="same")
    layer.build((2, 6, 7), build_context(np.float32))
    x = np.random.default_rng(2).standard_normal((2, 2, 6, 7)).astype(np.float32)
    y = layer.forward(x, train=False)
    weight, bias = torch.tensor(layer.params["weight"]), torch.tensor(layer.params["bias"])
    ty = F.conv2d(torch.tensor(x), weight, bias, padding="same")
    close_to_torch(y, ty, "y")


# (input_shape, size, stride)
POOL_CASES = [((3, 8, 8), 2, None), ((2, 9, 7), 2, None), ((2, 9, 9), 3, 2), ((1, 8, 9), [2, 3], [1, 2])]


@pytest.mark.parametrize("integers", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("case", POOL_CASES, ids=[f"size{c[1]}-stride{c[2]}" for c in POOL_CASES])
def test_maxpool2d(case, integers):
    input_shape, size, stride = case
    layer = MaxPool2D(size, stride)
    layer.build(input_shape, build_context(np.float32))
    rng = np.random.default_rng(3)
    # small integers make many ties: both must route the gradient to the first maximum
    shape = (4, *input_shape)
    x = (rng.integers(0, 3, shape) if integers else rng.standard_normal(shape)).astype(np.float32)
    y = layer.forward(x, train=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)

    tx = torch.tensor(x, requires_grad=True)
    ty, indices = F.max_pool2d(tx, size, stride if stride is not None else size, return_indices=True)
    ty.backward(torch.tensor(dy))
    np.testing.assert_array_equal(layer.argmax, indices.numpy())
    close_to_torch(y, ty, "y")
    close_to_torch(dx, tx.grad, "dx")


@pytest.mark.parametrize("case", POOL_CASES, ids=[f"size{c[1]}-stride{c[2]}" for c in POOL_CASES])
def test_avgpool2d(case):
    input_shape, size, stride = case
    layer = AvgPool2D(size, stride)
    layer.build(input_shape, build_context(np.float32))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, *input_shape)).astype(np.float32)
    y = layer.forward(x, train=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)

    tx = torch.tensor(x, requires_grad=True)
    ty = F.avg_pool2d(tx, size, stride if stride is not None else size)
    ty.backward(torch.tensor(dy))
    close_to_torch(y, ty, "y")
    close_to_torch(dx, tx.grad, "dx")
