"""MaxPool2D / AvgPool2D and their kernels against naive NumPy window loops and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.checks.gradcheck import TOLERANCE, check_layer
from nnrun.errors import ConfigError, ShapeError
from nnrun.kernels import pool as kernels
from nnrun.layers.pool import AvgPool2D, MaxPool2D
from nnrun.registry import LAYERS
from tests.helpers.layers import build_context


def windows(x, kh, kw, sh, sw):
    """Yield (oh, ow, window view (N, C, kh, kw), h0, w0) for every valid window."""
    out_h = (x.shape[2] - kh) // sh + 1
    out_w = (x.shape[3] - kw) // sw + 1
    for oh in range(out_h):
        for ow in range(out_w):
            h0, w0 = oh * sh, ow * sw
            yield oh, ow, x[:, :, h0 : h0 + kh, w0 : w0 + kw], h0, w0


def pool_reference(x, kh, kw, sh, sw, dy, mode):
    """Forward and backward by looping over windows; max routes to the first maximum (np.argmax)."""
    n, c = x.shape[:2]
    y = np.zeros((n, c, (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1))
    dx = np.zeros(x.shape)
    for oh, ow, window, h0, w0 in windows(x, kh, kw, sh, sw):
        if mode == "max":
            y[:, :, oh, ow] = window.max(axis=(2, 3))
            first = window.reshape(n, c, -1).argmax(axis=2)
            for a in range(n):
                for b in range(c):
                    i, j = divmod(first[a, b], kw)
                    dx[a, b, h0 + i, w0 + j] += dy[a, b, oh, ow]
        else:
            y[:, :, oh, ow] = window.mean(axis=(2, 3))
            dx[:, :, h0 : h0 + kh, w0 : w0 + kw] += dy[:, :, oh, ow, None, None] / (kh * kw)
    return y, dx


# (input_shape, size, stride, output H, W)
CASES = [
    ((2, 6, 6), 2, None, (3, 3)),
    ((3, 7, 5), 2, None, (3, 2)),  # odd sizes: the last row / column is dropped
    ((2, 7, 7), 3, 2, (3, 3)),  # overlapping windows
    ((1, 6, 8), [2, 3], [1, 2], (5, 3)),
    ((2, 5, 5), 1, 1, (5, 5)),
]
IDS = [f"size{c[1]}-stride{c[2]}" for c in CASES]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_matches_reference(case, dtype, mode):
    input_shape, size, stride, out_hw = case
    layer = (MaxPool2D if mode == "max" else AvgPool2D)(size, stride)
    assert layer.build(input_shape, build_context(dtype)) == (input_shape[0], *out_hw)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, *input_shape)).astype(dtype)
    y = layer.forward(x, train=True)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)
    kh, kw = (size, size) if isinstance(size, int) else size
    stride = size if stride is None else stride
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    y_ref, dx_ref = pool_reference(x.astype(np.float64), kh, kw, sh, sw, dy.astype(np.float64), mode)
    assert y.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, dx_ref, rtol=tol, atol=tol)


def test_max_ties_go_to_the_first_maximum():
    x = np.array([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 0.0, 0.0]]]])
    layer = MaxPool2D(2)
    layer.build((1, 2, 4), build_context())
    np.testing.assert_array_equal(layer.forward(x, train=True), [[[[3.0, 3.0]]]])
    dx = layer.backward(np.array([[[[5.0, 7.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 5.0, 7.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])


def test_maxpool_kernel_argmax_and_nan():
    x = np.array([[[[1.0, np.nan], [np.inf, 2.0]]]], dtype=np.float32)
    y = np.empty((1, 1, 1, 1), np.float32)
    argmax = np.empty((1, 1, 1, 1), np.int64)
    kernels.maxpool_forward(x, 2, 2, 2, 2, y, argmax)
    assert np.isnan(y[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 1  # NaN propagates, as in torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avgpool_kernels_compute_in_the_array_dtype(dtype):
    # 1 + 2^-24 + 2^-24 is 1 in float32 (each sum rounds) but 1 + 2^-23 if summed in float64
    tiny = dtype(2.0**-24)
    x = np.array([[[[1.0, tiny, tiny], [np.inf, 0.0, 0.0]]]], dtype=dtype)
    y = np.empty((1, 1, 2, 1), dtype)
    kernels.avgpool_forward(x, 1, 3, 1, 3, dtype(3), y)
    assert y[0, 0, 0, 0] == (dtype(1) + tiny + tiny) / dtype(3)
    assert y[0, 0, 1, 0] == np.inf
    dx = np.zeros_like(x)
    kernels.avgpool_backward(np.array([[[[6.0], [3.0]]]], dtype), 1, 3, 1, 3, dtype(3), dx)
    np.testing.assert_array_equal(dx, [[[[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]]]])


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients(cls, case):
    input_shape, size, stride, _ = case
    layer = cls(size, stride)
    layer.build(input_shape, build_context())
    # distinct, well-separated values keep every max away from a tie under the 1e-6 perturbation
    x = np.random.default_rng(3).permutation(2 * int(np.prod(input_shape))).reshape(2, *input_shape) * 0.01
    for result in check_layer(layer, x):
        assert result.max_rel_error <= TOLERANCE, result


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip(cls, case):
    layer = cls(case[1], case[2], name="p")
    layer.build(case[0], build_context())
    config = layer.get_config()
    assert config["type"] == cls.type_name
    assert type(layer)(**{k: v for k, v in config.items() if k != "type"}).get_config() == config


def test_registry():
    layer = LAYERS.build({"type": "maxpool2d", "size": [2, 3]})
    assert layer.build((4, 8, 9), build_context()) == (4, 4, 3)
    assert LAYERS.build("avgpool2d").build((1, 4, 4), build_context()) == (1, 2, 2)
    with pytest.raises(ConfigError, match="padding"):
        LAYERS.build({"type": "maxpool2d", "padding": "same"})


def test_shape_errors():
    with pytest.raises(ShapeError, match=r"3x3 window.*\(1, 2, 8\)"):
        MaxPool2D(3).build((1, 2, 8), build_context())
    with pytest.raises(ShapeError, match=r"\(C, H, W\).*\(16,\)"):
        AvgPool2D().build((16,), build_context())


def test_flops():
    layer = MaxPool2D(2)
    layer.build((32, 28, 28), build_context())
    assert layer.flops() == 32 * 14 * 14 * 4
