"""Dense layer: forward against NumPy, gradients with and without bias, shapes and config."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.checks.gradcheck import TOLERANCE, check_layer
from nnrun.errors import ConfigError, ShapeError
from nnrun.layers.dense import Dense
from nnrun.registry import LAYERS
from tests.helpers.layers import build_context


def built(in_features, dtype=np.float64, **kwargs) -> Dense:
    layer = Dense(**kwargs)
    layer.build((in_features,), build_context(dtype))
    return layer


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
# (2, 3, 512) takes the input gradient as (W @ dy.T).T, (4, 5, 3) through a copy of W.T (dense.py)
@pytest.mark.parametrize("n, fan_in, units", [(4, 5, 3), (1, 3, 7), (6, 1, 1), (2, 3, 512), (3, 2, 11)])
def test_gradcheck(n, fan_in, units, use_bias):
    layer = built(fan_in, units=units, use_bias=use_bias, bias_init={"type": "normal", "std": 1.0})
    x = np.random.default_rng(2).standard_normal((n, fan_in))
    results = check_layer(layer, x)
    assert [r.param for r in results] == ["input", "weight"] + (["bias"] if use_bias else [])
    for result in results:
        assert result.max_rel_error <= TOLERANCE, result


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_backward_match_numpy(dtype):
    layer = built(4, dtype, units=3, bias_init={"type": "uniform", "low": -1, "high": 1})
    w, b = layer.params["weight"], layer.params["bias"]
    assert w.shape == (4, 3) and b.shape == (3,) and w.dtype == b.dtype == dtype
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4)).astype(dtype)
    dy = rng.standard_normal((5, 3)).astype(dtype)
    y = layer.forward(x, train=True)
    np.testing.assert_allclose(y, x @ w + b, rtol=1e-6)
    grad_w, grad_b = layer.grads["weight"], layer.grads["bias"]
    dx = layer.backward(dy)
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_allclose(dx, dy @ w.T, rtol=1e-6)
    np.testing.assert_allclose(layer.grads["weight"], x.T @ dy, rtol=1e-5)
    np.testing.assert_allclose(layer.grads["bias"], dy.sum(axis=0), rtol=1e-5)
    # the optimizer holds these arrays: they are written in place, never replaced
    assert layer.grads["weight"] is grad_w and layer.grads["bias"] is grad_b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "n, units",
    [(8, 512), (64, 600), (65, 512), (8, 10), (8, 11)],
    ids=["transposed", "transposed-at-64", "plain-past-64", "copied", "plain"],
)
def test_every_input_gradient_product_is_dy_times_the_transposed_weight(n, units, dtype):
    # dense.py picks the product's order by shape (TRANSPOSED_DX, COPIED_DX_UNITS); each is dy @ W.T, C order
    layer = built(40, dtype, units=units)
    rng = np.random.default_rng(4)
    layer.forward(rng.standard_normal((n, 40)).astype(dtype), train=True)
    dy = rng.standard_normal((n, units)).astype(dtype)
    dx = layer.backward(dy)
    assert dx.shape == (n, 40) and dx.dtype == dtype and dx.flags.c_contiguous
    expected = dy.astype(np.float64) @ layer.params["weight"].T.astype(np.float64)
    np.testing.assert_allclose(dx, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_initialisation_uses_defaults_and_init_rng():
    a, b = built(6, units=4), built(6, units=4)
    np.testing.assert_array_equal(a.params["weight"], b.params["weight"])
    limit = np.sqrt(6 / 10)  # xavier_uniform, the BuildContext default
    assert np.abs(a.params["weight"]).max() <= limit
    np.testing.assert_array_equal(a.params["bias"], 0)
    assert a.weight_init == "xavier_uniform" and a.bias_init == "zeros"
    own = built(6, units=4, weight_init={"type": "constant", "value": 0.5})
    np.testing.assert_array_equal(own.params["weight"], 0.5)


def test_no_bias_has_no_bias_param():
    layer = built(5, units=2, use_bias=False)
    assert list(layer.params) == ["weight"] and list(layer.grads) == ["weight"]
    assert layer.num_params() == 10 and layer.flops() == 20
    assert built(5, units=2).flops() == 22
    assert Dense.decayed == ("weight",)


def test_needs_flat_input():
    with pytest.raises(ShapeError, match="flatten"):
        Dense(units=3).build((3, 4, 4), build_context())


def test_config_round_trip_and_validation():
    layer = LAYERS.build({"type": "dense", "units": 8, "use_bias": False, "name": "hidden"})
    for state in ("unbuilt", "built"):
        config = layer.get_config()
        assert type(layer)(**{k: v for k, v in config.items() if k != "type"}).get_config() == config
        if state == "unbuilt":
            layer.build((3,), build_context())
    assert layer.get_config()["weight_init"] == "xavier_uniform"  # the resolved default is recorded
    with pytest.raises(ConfigError, match="units"):
        LAYERS.build({"type": "dense", "units": 0})
