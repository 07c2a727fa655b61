"""Conv2D and its im2col/col2im kernels against short NumPy references and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun import initializers
from nnrun.checks.gradcheck import TOLERANCE, check_layer
from nnrun.errors import ConfigError, ShapeError
from nnrun.kernels import im2col as kernels
from nnrun.layers import conv_im2col
from nnrun.layers.conv import Conv2D
from nnrun.registry import LAYERS
from tests.helpers.layers import build_context


def im2col_reference(xp, kh, kw, sh, sw, out_h, out_w):
    n, c = xp.shape[:2]
    cols = np.empty((n, c, kh, kw, out_h, out_w), xp.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i : i + sh * (out_h - 1) + 1 : sh, j : j + sw * (out_w - 1) + 1 : sw]
    return cols.reshape(n, c * kh * kw, out_h, out_w)


def col2im_reference(dcols, c, kh, kw, sh, sw, hp, wp):
    n, _, out_h, out_w = dcols.shape
    dcols = dcols.reshape(n, c, kh, kw, out_h, out_w)
    dxp = np.zeros((n, c, hp, wp), dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + sh * (out_h - 1) + 1 : sh, j : j + sw * (out_w - 1) + 1 : sw] += dcols[:, :, i, j]
    return dxp


def conv_forward_naive(x, w, b, stride, pads):
    """cs231n's conv_forward_naive with explicit (top, bottom, left, right) zero padding, in float64."""
    top, bottom, left, right = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    f, _, kh, kw = w.shape
    sh, sw = stride
    out_h = (xp.shape[2] - kh) // sh + 1
    out_w = (xp.shape[3] - kw) // sw + 1
    y = np.zeros((x.shape[0], f, out_h, out_w))
    for oh in range(out_h):
        for ow in range(out_w):
            window = xp[:, :, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw]
            y[:, :, oh, ow] = np.einsum("nchw,fchw->nf", window, w.astype(np.float64)) + b
    return y


# (C, H, W, kh, kw, sh, sw) for the kernels, padded input given directly
KERNEL_CASES = [
    (1, 6, 6, 3, 3, 1, 1),
    (3, 7, 9, 2, 4, 1, 1),
    (2, 9, 8, 3, 2, 2, 3),
    (4, 5, 5, 5, 5, 1, 1),
    (2, 10, 7, 1, 1, 3, 2),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", KERNEL_CASES)
def test_im2col_matches_reference(case, dtype):
    c, h, w, kh, kw, sh, sw = case
    rng = np.random.default_rng(1)
    xp = rng.standard_normal((2, c, h, w)).astype(dtype)
    out_h, out_w = (h - kh) // sh + 1, (w - kw) // sw + 1
    cols = np.full((2, c * kh * kw + 1, out_h, out_w), 7.0, dtype)  # the extra row must stay untouched
    kernels.im2col(xp, kh, kw, sh, sw, cols)
    np.testing.assert_array_equal(cols[:, :-1], im2col_reference(xp, kh, kw, sh, sw, out_h, out_w))
    assert np.all(cols[:, -1] == 7.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", KERNEL_CASES)
def test_col2im_matches_reference(case, dtype):
    c, h, w, kh, kw, sh, sw = case
    rng = np.random.default_rng(2)
    out_h, out_w = (h - kh) // sh + 1, (w - kw) // sw + 1
    dcols = rng.standard_normal((2, c * kh * kw, out_h, out_w)).astype(dtype)
    dxp = np.zeros((2, c, h, w), dtype)
    kernels.col2im(dcols, kh, kw, sh, sw, dxp)
    expected = col2im_reference(dcols, c, kh, kw, sh, sw, h, w)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(dxp, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pad2d_and_crop2d(dtype):
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 4)).astype(dtype)
    xp = np.zeros((2, 3, 8, 9), dtype)
    kernels.pad2d(x, 1, 3, xp)
    np.testing.assert_array_equal(xp, np.pad(x, ((0, 0), (0, 0), (1, 2), (3, 2))))
    back = np.empty_like(x)
    kernels.crop2d(xp, 1, 3, back)
    np.testing.assert_array_equal(back, x)


# (input_shape, filters, kernel, stride, padding, expected pads (top, bottom, left, right), output H, W)
LAYER_CASES = [
    ((3, 7, 6), 4, 3, 1, "valid", (0, 0, 0, 0), (5, 4)),
    ((2, 7, 7), 3, 3, 1, "same", (1, 1, 1, 1), (7, 7)),
    ((2, 7, 6), 3, 4, 1, "same", (1, 2, 1, 2), (7, 6)),  # even kernel: the extra zero goes after
    ((1, 8, 8), 2, [2, 4], 2, "same", (0, 0, 1, 1), (4, 4)),
    ((2, 7, 8), 3, 3, 2, "same", (1, 1, 0, 1), (4, 4)),
    ((2, 6, 7), 3, 3, 2, 1, (1, 1, 1, 1), (3, 4)),
    ((3, 5, 6), 2, [3, 2], [1, 2], [2, 0], (2, 2, 0, 0), (7, 3)),
    ((2, 9, 8), 2, 2, 3, "valid", (0, 0, 0, 0), (3, 3)),  # stride leaves the last rows unused
    ((1, 3, 3), 2, 5, 1, "same", (2, 2, 2, 2), (3, 3)),  # kernel larger than the input itself
]
CASE_IDS = [f"{c[4]}-k{c[2]}-s{c[3]}" for c in LAYER_CASES]


def build_layer(case, dtype=np.float64, **kwargs) -> Conv2D:
    input_shape, filters, kernel, stride, padding = case[:5]
    layer = Conv2D(filters, kernel, stride=stride, padding=padding, weight_init="he_normal", **kwargs)
    layer.build(input_shape, build_context(dtype))
    if layer.use_bias:  # a zero bias would not test the bias path of forward
        layer.params["bias"][...] = np.random.default_rng(4).standard_normal(filters)
    return layer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", LAYER_CASES, ids=CASE_IDS)
def test_forward_matches_naive(case, dtype):
    input_shape, filters, _, stride, _, pads, out_hw = case
    layer = build_layer(case, dtype)
    assert layer.output_shape == (filters, *out_hw)
    x = np.random.default_rng(5).standard_normal((3, *input_shape)).astype(dtype)
    y = layer.forward(x, train=True)
    assert y.dtype == dtype and y.shape == (3, filters, *out_hw)
    stride = (stride, stride) if isinstance(stride, int) else stride
    expected = conv_forward_naive(x, layer.params["weight"], layer.params["bias"], stride, pads)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


def test_same_even_kernel_keeps_mnist_size():
    layer = Conv2D(32, 10, padding="same")
    assert layer.build((1, 28, 28), build_context()) == (32, 28, 28)
    layer = Conv2D(16, 5, stride=2, padding="same")
    assert layer.build((32, 28, 28), build_context()) == (16, 14, 14)


@pytest.mark.parametrize("case", LAYER_CASES, ids=CASE_IDS)
def test_gradients(case):
    layer = build_layer(case)
    x = np.random.default_rng(6).standard_normal((2, *case[0]))
    results = check_layer(layer, x)
    assert {r.param for r in results} == {"input", "weight", "bias"}
    for result in results:
        assert result.max_rel_error <= TOLERANCE, result


def test_gradients_without_bias():
    layer = build_layer(LAYER_CASES[2], use_bias=False)
    assert set(layer.params) == {"weight"}
    x = np.random.default_rng(7).standard_normal((2, *LAYER_CASES[2][0]))
    for result in check_layer(layer, x):
        assert result.max_rel_error <= TOLERANCE, result


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_dtype_and_changing_batch_size(dtype):
    layer = build_layer(LAYER_CASES[3], dtype)
    rng = np.random.default_rng(8)
    grads = {}
    for n in (4, 3, 4):  # the scratch buffers are remade when the batch size changes
        x = rng.standard_normal((n, *LAYER_CASES[3][0])).astype(dtype)
        y = layer.forward(x, train=True)
        dx = layer.backward(np.ones_like(y))
        assert dx.dtype == dtype and dx.shape == x.shape
        assert all(g.dtype == dtype for g in layer.grads.values())
        # with dy = 1 the bias gradient counts the outputs per filter
        np.testing.assert_allclose(layer.grads["bias"], n * y.shape[2] * y.shape[3])
        grads[n] = {k: g.copy() for k, g in layer.grads.items()}
    assert grads[3]["bias"][0] != grads[4]["bias"][0]


@pytest.mark.parametrize("keep", [True, False], ids=["keep-cols", "unfold-again"])
@pytest.mark.parametrize("case", [LAYER_CASES[4], LAYER_CASES[6]], ids=["same-k3-s2", "int-pad-stride12"])
def test_chunked_batch_matches_one_pass(case, keep, monkeypatch):
    layer = build_layer(case)
    assert layer.engine is layer.im2col  # the direct engine is chunked in tests/layers/test_conv_direct.py
    rng = np.random.default_rng(9)
    x = rng.standard_normal((7, *case[0]))
    y = layer.forward(x, train=True)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    pixels = y.shape[2] * y.shape[3]
    monkeypatch.setattr(conv_im2col, "CHUNK_ELEMENTS", 3 * layer.im2col.rows * pixels)  # 3 examples per chunk
    monkeypatch.setattr(conv_im2col, "KEEP_ELEMENTS", conv_im2col.KEEP_ELEMENTS if keep else 0)
    assert layer.im2col.chunk(7) == 3
    np.testing.assert_allclose(layer.forward(x, train=False), y, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(layer.forward(x, train=True), y, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(layer.backward(dy), dx, rtol=1e-13, atol=1e-13)
    for key, grad in grads.items():
        np.testing.assert_allclose(layer.grads[key], grad, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("keep", [True, False], ids=["keep-cols", "unfold-again"])
def test_gradients_one_example_per_chunk(keep, monkeypatch):
    monkeypatch.setattr(conv_im2col, "CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(conv_im2col, "KEEP_ELEMENTS", conv_im2col.KEEP_ELEMENTS if keep else 0)
    layer = build_layer(LAYER_CASES[4])
    x = np.random.default_rng(10).standard_normal((3, *LAYER_CASES[4][0]))
    for result in check_layer(layer, x):
        assert result.max_rel_error <= TOLERANCE, result


def test_eval_forward_between_forward_and_backward():
    # backward must use the training batch, even after an evaluation forward overwrote the scratch
    layer = build_layer(LAYER_CASES[1])
    rng = np.random.default_rng(11)
    x, other = rng.standard_normal((2, 4, *LAYER_CASES[1][0]))
    y = layer.forward(x, train=True)
    dy = rng.standard_normal(y.shape)
    layer.backward(dy)
    expected = {k: g.copy() for k, g in layer.grads.items()}
    layer.forward(x, train=True)
    layer.forward(other, train=False)
    layer.backward(dy)
    for key, grad in expected.items():
        np.testing.assert_allclose(layer.grads[key], grad, rtol=1e-13, atol=1e-13)


def test_grads_written_in_place():
    layer = build_layer(LAYER_CASES[0])
    weight_grad, bias_grad = layer.grads["weight"], layer.grads["bias"]
    x = np.random.default_rng(10).standard_normal((2, *LAYER_CASES[0][0]))
    layer.backward(layer.forward(x, train=True))
    assert layer.grads["weight"] is weight_grad and layer.grads["bias"] is bias_grad
    assert np.any(weight_grad != 0)


def test_init_fans_and_defaults():
    seen = {}

    class Spy(initializers.Initializer):
        def __call__(self, shape, fan_in, fan_out, rng, dtype):
            seen[shape] = (fan_in, fan_out)
            return np.zeros(shape, dtype)

    layer = Conv2D(6, [3, 2], weight_init=Spy(), bias_init=Spy())
    layer.build((4, 9, 9), build_context())
    assert seen == {(6, 4, 3, 2): (4 * 3 * 2, 6 * 3 * 2), (6,): (4 * 3 * 2, 6 * 3 * 2)}
    default = Conv2D(6, 3)
    default.build((4, 9, 9), build_context())
    assert default.weight_init == "xavier_uniform" and default.bias_init == "zeros"


@pytest.mark.parametrize("case", LAYER_CASES, ids=CASE_IDS)
def test_config_round_trip(case):
    layer = build_layer(case)
    config = layer.get_config()
    assert config["type"] == "conv2d"
    rebuilt = type(layer)(**{k: v for k, v in config.items() if k != "type"})
    assert rebuilt.get_config() == config


def test_registry_validates_config():
    layer = LAYERS.build({"type": "conv2d", "filters": 8, "kernel": [3, 5], "padding": "same", "stride": [1, 2]})
    assert layer.build((1, 10, 10), build_context()) == (8, 10, 5)
    bad_configs = [
        {"filters": 0, "kernel": 3},
        {"filters": 2, "kernel": [3, 3, 3]},
        {"filters": 2, "kernel": 3, "padding": "full"},
    ]
    for bad in bad_configs:
        with pytest.raises(ConfigError, match="filters|kernel|padding"):
            LAYERS.build({"type": "conv2d", **bad})


def test_kernel_larger_than_padded_input():
    layer = Conv2D(4, 5, padding=1, name="c1")
    with pytest.raises(ShapeError) as error:
        layer.build((1, 2, 8), build_context())
    message = str(error.value)
    assert "c1" in message and "5x5" in message and "4x10" in message and "(1, 2, 8)" in message


def test_flat_input_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"\(C, H, W\).*\(784,\)"):
        Conv2D(4, 3).build((784,), build_context())


def test_flops():
    layer = Conv2D(32, 5, padding="same")
    layer.build((1, 28, 28), build_context())
    assert layer.flops() == 2 * 1 * 25 * 32 * 28 * 28 + 32 * 28 * 28
    assert layer.num_params() == 32 * 25 + 32
