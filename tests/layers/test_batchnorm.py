"""Batchnorm kernels against NumPy references, gradients in train and eval mode, running statistics."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.checks.gradcheck import TOLERANCE, check_layer
from nnrun.errors import ConfigError, ShapeError
from nnrun.kernels import norm as K
from nnrun.layers.norm import BatchNorm
from nnrun.registry import LAYERS
from tests.helpers.layers import build_context

DTYPES = [np.float32, np.float64]


def built(shape, dtype=np.float64, **kwargs) -> BatchNorm:
    layer = BatchNorm(**kwargs)
    layer.build(shape, build_context(dtype))
    return layer


def randomise(layer: BatchNorm, rng) -> None:
    """Non-trivial gamma, beta and running statistics, written in place as training would."""
    c = layer.params["gamma"].shape[0]
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, c)
    layer.params["beta"][...] = rng.standard_normal(c)
    layer.buffers["running_mean"][...] = rng.standard_normal(c)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, c)


# --- NumPy references on x: (N, C, S) -----------------------------------------------------------
def ref_forward(x, mean, var, gamma, beta, eps):
    return gamma[:, None] * (x - mean[:, None]) / np.sqrt(var[:, None] + eps) + beta[:, None]


def ref_backward_train(x, dy, gamma, eps):
    """cs231n's staged backward through mean and variance (not the fused formula the kernel uses)."""
    m = x.shape[0] * x.shape[2]
    mu = x.mean(axis=(0, 2), keepdims=True)
    var = x.var(axis=(0, 2), keepdims=True)
    istd = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * istd
    dxhat = dy * gamma[:, None]
    dvar = np.sum(dxhat * (x - mu), axis=(0, 2), keepdims=True) * -0.5 * istd**3
    dmu = -np.sum(dxhat * istd, axis=(0, 2), keepdims=True) - 2 * dvar * np.mean(x - mu, axis=(0, 2), keepdims=True)
    dx = dxhat * istd + dvar * 2 * (x - mu) / m + dmu / m
    return dx, np.sum(dy * xhat, axis=(0, 2)), np.sum(dy, axis=(0, 2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 4, 1), (3, 2, 9)])
def test_kernels_match_numpy(dtype, shape):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    c = shape[1]
    gamma = rng.uniform(0.5, 2, c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    eps = 1e-5
    rtol, atol = (1e-5, 1e-5) if dtype == np.float32 else (1e-10, 1e-12)
    x64 = x.astype(np.float64)

    mean, var = np.empty(c), np.empty(c)
    K.batch_stats(x, mean, var)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2)), rtol=1e-12, atol=1e-12)

    inv_std = 1 / np.sqrt(var + eps)
    y = np.empty_like(x)
    K.batchnorm_forward(x, mean, inv_std, gamma, beta, y)
    np.testing.assert_allclose(y, ref_forward(x64, mean, var, gamma, beta, eps), rtol=rtol, atol=atol)

    dx, dgamma, dbeta = np.empty_like(x), np.empty(c, dtype), np.empty(c, dtype)
    K.batchnorm_backward(x, dy, mean, inv_std, gamma, True, dx, dgamma, dbeta)
    for got, want in zip((dx, dgamma, dbeta), ref_backward_train(x64, dy.astype(np.float64), gamma, eps)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)

    # eval mode: mean and variance are constants
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    istd = 1 / np.sqrt(rv + eps)
    K.batchnorm_backward(x, dy, rm, istd, gamma, False, dx, dgamma, dbeta)
    xhat = (x64 - rm[:, None]) * istd[:, None]
    np.testing.assert_allclose(dx, dy * (gamma * istd)[:, None], rtol=rtol, atol=atol)
    np.testing.assert_allclose(dgamma, np.sum(dy * xhat, axis=(0, 2)), rtol=rtol, atol=atol)
    np.testing.assert_allclose(dbeta, np.sum(dy, axis=(0, 2)), rtol=rtol, atol=atol)


# --- layer gradients ----------------------------------------------------------------------------
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape, n", [((4,), 6), ((3,), 2), ((2, 3, 3), 3), ((3, 2, 1), 4)])
def test_gradcheck(shape, n, train):
    rng = np.random.default_rng(3)
    layer = built(shape)
    randomise(layer, rng)
    x = rng.standard_normal((n, *shape)) * 2 + 0.5
    results = check_layer(layer, x, train=train)
    assert [r.param for r in results] == ["input", "gamma", "beta"]
    for result in results:
        assert result.max_rel_error <= TOLERANCE, result


# --- statistics ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, n, axes", [((4,), 10, (0,)), ((3, 4, 5), 2, (0, 2, 3))])
def test_running_stats_follow_torch_convention(shape, n, axes):
    rng = np.random.default_rng(4)
    momentum = 0.8
    layer = built(shape, momentum=momentum)
    want_mean, want_var = np.zeros(shape[0]), np.ones(shape[0])
    mean_buffer = layer.buffers["running_mean"]
    for _ in range(3):
        x = rng.standard_normal((n, *shape)) * 3 + 2
        layer.forward(x, train=True)
        # torch: running = (1 - torch_momentum) * running + torch_momentum * batch, unbiased variance
        torch_momentum = 1 - momentum
        want_mean = (1 - torch_momentum) * want_mean + torch_momentum * x.mean(axis=axes)
        want_var = (1 - torch_momentum) * want_var + torch_momentum * x.var(axis=axes, ddof=1)
    np.testing.assert_allclose(layer.buffers["running_mean"], want_mean, rtol=1e-12)
    np.testing.assert_allclose(layer.buffers["running_var"], want_var, rtol=1e-12)
    assert layer.buffers["running_mean"] is mean_buffer  # updated in place


@pytest.mark.parametrize("shape", [(4,), (3, 2, 2)])
def test_train_normalises_with_biased_batch_statistics(shape):
    layer = built(shape)
    x = np.random.default_rng(5).standard_normal((8, *shape)) * 4 - 1
    y = layer.forward(x, train=True)
    axes = (0,) if len(shape) == 1 else (0, 2, 3)
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=axes), x.var(axis=axes) / (x.var(axis=axes) + 1e-5), rtol=1e-12)


@pytest.mark.parametrize("shape", [(4,), (3, 2, 2)])
def test_eval_uses_running_stats_and_leaves_them(shape):
    rng = np.random.default_rng(6)
    layer = built(shape, eps=1e-3)
    randomise(layer, rng)
    before = {k: v.copy() for k, v in layer.buffers.items()}
    x = rng.standard_normal((5, *shape))
    y = layer.forward(x, train=False)
    view = (-1,) + (1,) * (len(shape) - 1)
    p, b = layer.params, layer.buffers
    want = (x - b["running_mean"].reshape(view)) / np.sqrt(b["running_var"].reshape(view) + 1e-3)
    np.testing.assert_allclose(y, want * p["gamma"].reshape(view) + p["beta"].reshape(view), rtol=1e-12)
    for key, value in before.items():
        np.testing.assert_array_equal(layer.buffers[key], value)


def test_single_value_batch_is_finite_and_keeps_running_stats():
    layer = built((3,))
    randomise(layer, np.random.default_rng(7))
    before = {k: v.copy() for k, v in layer.buffers.items()}
    y = layer.forward(np.array([[1.0, 2.0, 3.0]]), train=True)
    np.testing.assert_allclose(y[0], layer.params["beta"])
    assert np.all(np.isfinite(layer.backward(np.ones((1, 3)))))
    for key, value in before.items():
        np.testing.assert_array_equal(layer.buffers[key], value)


def test_float32_layer():
    layer = built((2, 3, 3), np.float32)
    assert all(a.dtype == np.float32 for a in (*layer.params.values(), *layer.buffers.values()))
    x = np.random.default_rng(8).standard_normal((4, 2, 3, 3)).astype(np.float32)
    y = layer.forward(x, train=True)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["gamma"].dtype == np.float32
    assert layer.buffers["running_var"].dtype == np.float32


# --- construction -------------------------------------------------------------------------------
def test_params_buffers_and_shapes():
    layer = built((3, 4, 4))
    np.testing.assert_array_equal(layer.params["gamma"], np.ones(3))
    np.testing.assert_array_equal(layer.params["beta"], np.zeros(3))
    np.testing.assert_array_equal(layer.buffers["running_mean"], np.zeros(3))
    np.testing.assert_array_equal(layer.buffers["running_var"], np.ones(3))
    assert layer.output_shape == (3, 4, 4) and layer.num_params() == 6
    assert BatchNorm.decayed == ()
    with pytest.raises(ShapeError, match="batchnorm"):
        built((3, 4))


def test_config_round_trip_and_validation():
    layer = LAYERS.build({"type": "batchnorm", "momentum": 0.99, "eps": 1e-3, "name": "bn"})
    config = layer.get_config()
    assert config == {"type": "batchnorm", "momentum": 0.99, "eps": 1e-3, "name": "bn"}
    assert type(layer)(**{k: v for k, v in config.items() if k != "type"}).get_config() == config
    default = BatchNorm()
    default_config = default.get_config()
    assert BatchNorm(**{k: v for k, v in default_config.items() if k != "type"}).get_config() == default_config
    for bad in ({"momentum": 1.5}, {"eps": 0}):
        with pytest.raises(ConfigError):
            LAYERS.build({"type": "batchnorm", **bad})
