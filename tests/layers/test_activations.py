"""Activation kernels against NumPy references, layer gradients, shapes and configs."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.checks.gradcheck import TOLERANCE, check_layer
from nnrun.errors import ConfigError, ShapeError
from nnrun.kernels import activations as K
from nnrun.layers.activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from nnrun.registry import LAYERS
from tests.helpers.layers import build_context

DTYPES = [np.float32, np.float64]


def built(layer, shape, dtype=np.float64):
    layer.build(shape, build_context(dtype))
    return layer


def away_from_zero(rng, shape, low=0.1, high=2.0):
    """Inputs with |x| in [low, high): no kink of relu/leaky_relu within a finite-difference step."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


# --- NumPy references ---------------------------------------------------------------------------
def ref_sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))


def ref_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ref_softmax_backward(y, dy):
    jacobian = np.einsum("ni,ij->nij", y, np.eye(y.shape[1])) - np.einsum("ni,nj->nij", y, y)
    return np.einsum("nij,ni->nj", jacobian, dy)


def tol(dtype):
    return dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


# --- kernels ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_kernels_match_numpy(dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(257) * 4).astype(dtype)
    x[:3] = 0  # the kink itself
    dy = rng.standard_normal(257).astype(dtype)
    alpha = dtype(0.2)

    def run(kernel, *args):
        out = np.empty_like(x)
        kernel(*args, out)
        assert out.dtype == dtype
        return out

    np.testing.assert_allclose(run(K.relu_forward, x), np.maximum(x, 0), **tol(dtype))
    np.testing.assert_allclose(run(K.relu_backward, x, dy), dy * (x > 0), **tol(dtype))
    np.testing.assert_allclose(run(K.leaky_relu_forward, x, alpha), np.where(x > 0, x, alpha * x), **tol(dtype))
    np.testing.assert_allclose(run(K.leaky_relu_backward, x, alpha, dy), np.where(x > 0, dy, alpha * dy), **tol(dtype))
    s = ref_sigmoid(x.astype(np.float64))
    np.testing.assert_allclose(run(K.sigmoid_forward, x), s, **tol(dtype))
    np.testing.assert_allclose(run(K.sigmoid_backward, s.astype(dtype), dy), dy * s * (1 - s), **tol(dtype))
    t = np.tanh(x.astype(np.float64))
    np.testing.assert_allclose(run(K.tanh_forward, x), t, **tol(dtype))
    np.testing.assert_allclose(run(K.tanh_backward, t.astype(dtype), dy), dy * (1 - t * t), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
def test_dense_relu_kernels_match_numpy(dtype, with_bias):
    # the epilogues of nnrun.layers.fused.DenseReLU: max(y + b, 0) in place; the mask and the bias gradient
    rng = np.random.default_rng(5)
    y = rng.standard_normal((7, 13)).astype(dtype)
    y[2, 3] = np.nan
    y[4, 5] = 0
    bias = rng.standard_normal(13).astype(dtype) if with_bias else np.empty(0, dtype)
    out = y.copy()
    K.bias_relu_rows(out, bias)
    expected = np.maximum(y + bias, 0) if with_bias else np.maximum(y, 0)  # relu of NaN is NaN, as in torch
    np.testing.assert_array_equal(out, expected)

    dy = rng.standard_normal((7, 13)).astype(dtype)
    dx = np.empty_like(dy)
    dbias = np.full(bias.size, np.nan, dtype)  # written over, not added to
    K.relu_backward_rows(out, dy, dx, dbias)
    masked = np.where(out <= 0, 0, dy).astype(dtype)  # dy passes where out is NaN, as in torch's relu
    np.testing.assert_array_equal(dx, masked)
    if with_bias:
        np.testing.assert_array_equal(dbias, masked.sum(axis=0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_kernels_match_numpy(dtype):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((7, 5)) * 3).astype(dtype)
    dy = rng.standard_normal((7, 5)).astype(dtype)
    y = np.empty_like(x)
    K.softmax_forward(x, y)
    np.testing.assert_allclose(y, ref_softmax(x.astype(np.float64)), **tol(dtype))
    dx = np.empty_like(x)
    K.softmax_backward(y, dy, dx)
    np.testing.assert_allclose(dx, ref_softmax_backward(y.astype(np.float64), dy), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_softmax_are_stable_for_large_inputs(dtype):
    x = np.array([-1e4, -800.0, -90.0, 0.0, 90.0, 800.0, 1e4], dtype=dtype)
    y = built(Sigmoid(), (7,), dtype).forward(x[None, :], train=True)[0]
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, ref_sigmoid(x.astype(np.float64)), rtol=1e-6, atol=1e-30)
    p = built(Softmax(), (7,), dtype).forward(np.stack([x, -x]), train=True)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert p[0, -1] == 1.0 and p[1, 0] == 1.0


# --- layers -------------------------------------------------------------------------------------
ACTIVATIONS = [
    pytest.param(ReLU, {}, id="relu"),
    pytest.param(LeakyReLU, {}, id="leaky_relu"),
    pytest.param(LeakyReLU, {"alpha": 0.3}, id="leaky_relu_0.3"),
    pytest.param(LeakyReLU, {"alpha": 0.0}, id="leaky_relu_0"),
    pytest.param(Sigmoid, {}, id="sigmoid"),
    pytest.param(Tanh, {}, id="tanh"),
    pytest.param(Identity, {}, id="identity"),
]


@pytest.mark.parametrize("cls, kwargs", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_elementwise_gradcheck(cls, kwargs, shape):
    layer = built(cls(**kwargs), shape)
    x = away_from_zero(np.random.default_rng(5), (3, *shape))
    for result in check_layer(layer, x):
        assert result.max_rel_error <= TOLERANCE, result


@pytest.mark.parametrize("d", [1, 2, 6])
def test_softmax_gradcheck(d):
    layer = built(Softmax(), (d,))
    x = np.random.default_rng(6).standard_normal((4, d)) * 2
    for result in check_layer(layer, x):
        assert result.max_rel_error <= TOLERANCE, result


@pytest.mark.parametrize("cls, kwargs", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_layers_keep_shape_and_dtype_after_conv(cls, kwargs, dtype):
    layer = built(cls(**kwargs), (3, 4, 4), dtype)
    assert layer.output_shape == (3, 4, 4)
    x = np.random.default_rng(7).standard_normal((2, 3, 4, 4)).astype(dtype)
    y = layer.forward(x, train=False)
    dx = layer.backward(np.ones_like(y))
    assert y.shape == dx.shape == x.shape
    assert y.dtype == dx.dtype == dtype


def test_relu_outputs_are_new_arrays_each_batch():
    # a downstream Dense keeps the array it was given until its backward
    layer = built(ReLU(), (4,))
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((2, 3, 4))
    ya = layer.forward(a, train=True)
    saved = ya.copy()
    layer.forward(b, train=True)
    np.testing.assert_array_equal(ya, saved)


def test_leaky_relu_layer_values():
    layer = built(LeakyReLU(alpha=0.5), (4,))
    y = layer.forward(np.array([[-2.0, -0.5, 0.5, 2.0]]), train=True)
    np.testing.assert_array_equal(y, [[-1.0, -0.25, 0.5, 2.0]])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 4))), [[0.5, 0.5, 1.0, 1.0]])


def test_softmax_needs_a_flat_input():
    with pytest.raises(ShapeError, match="softmax"):
        built(Softmax(), (3, 4, 4))


def test_leaky_relu_rejects_negative_alpha():
    with pytest.raises(ConfigError, match="alpha"):
        LAYERS.build({"type": "leaky_relu", "alpha": -0.1})


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "identity"])
def test_registered_and_config_round_trip(name):
    layer = LAYERS.build({"type": name, "name": "act"})
    config = layer.get_config()
    assert config["type"] == name and config["name"] == "act"
    assert type(layer)(**{k: v for k, v in config.items() if k != "type"}).get_config() == config
    assert layer.decayed == ()
    leaky = LeakyReLU(alpha=0.2)
    assert LeakyReLU(**{k: v for k, v in leaky.get_config().items() if k != "type"}).get_config()["alpha"] == 0.2


def test_flops_and_no_params():
    layer = built(Tanh(), (3, 4, 4))
    assert layer.flops() == 4 * 48
    assert layer.num_params() == 0 and layer.params == {}
