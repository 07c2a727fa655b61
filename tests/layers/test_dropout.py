"""Dropout kernel against NumPy, masks' statistics and reproducibility, eval identity, gradients."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.checks.gradcheck import TOLERANCE, check_layer
from nnrun.errors import ConfigError
from nnrun.kernels.dropout import dropout_apply
from nnrun.layers.dropout import Dropout
from nnrun.registry import LAYERS
from tests.helpers.layers import build_context

DTYPES = [np.float32, np.float64]


def built(shape, rate=0.5, dtype=np.float64, seed=1) -> Dropout:
    layer = Dropout(rate=rate)
    layer.build(shape, build_context(dtype, noise_seed=seed))
    return layer


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_matches_numpy(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(301).astype(dtype)
    u = rng.random(301, dtype=dtype)
    u[:2] = dtype(0.25)  # on the threshold: kept
    rate, scale = dtype(0.25), dtype(1 / 0.75)
    y = np.empty_like(x)
    dropout_apply(x, u, rate, scale, y)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, np.where(u >= rate, x * scale, 0))


@pytest.mark.parametrize("shape", [(6,), (2, 3, 3)])
def test_eval_is_identity(shape):
    layer = built(shape, rate=0.7)
    x = np.random.default_rng(3).standard_normal((4, *shape))
    assert layer.forward(x, train=False) is x
    dy = np.ones_like(x)
    assert layer.backward(dy) is dy


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", DTYPES)
def test_train_keeps_one_minus_rate_and_preserves_the_mean(rate, dtype):
    layer = built((500,), rate=rate, dtype=dtype)
    x = np.ones((200, 500), dtype=dtype)  # 1e5 units: the kept fraction's std is below 0.0016
    y = layer.forward(x, train=True)
    kept = y != 0
    assert abs(kept.mean() - (1 - rate)) < 0.01
    np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-6)
    assert abs(y.mean() - 1) < 0.03
    dx = layer.backward(np.full_like(x, 2))
    np.testing.assert_array_equal(dx, 2 * y)  # backward uses the forward mask


def test_rate_zero_is_identity_in_train_mode():
    layer = built((5,), rate=0.0)
    x = np.random.default_rng(4).standard_normal((3, 5))
    np.testing.assert_array_equal(layer.forward(x, train=True), x)


def test_same_seed_same_masks_and_new_mask_each_batch():
    x = np.ones((8, 20))
    a, b, c = built((20,), seed=7), built((20,), seed=7), built((20,), seed=8)
    ya = [a.forward(x, train=True) for _ in range(3)]
    yb = [b.forward(x, train=True) for _ in range(3)]
    yc = c.forward(x, train=True)
    for u, v in zip(ya, yb):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(ya[0], ya[1])
    assert not np.array_equal(ya[0], yc)


def test_fixed_noise_reuses_the_last_mask():
    layer = built((30,))
    x = np.ones((4, 30))
    first = layer.forward(x, train=True)
    layer.fixed_noise = True
    np.testing.assert_array_equal(layer.forward(x, train=True), first)
    layer.fixed_noise = False
    assert not np.array_equal(layer.forward(x, train=True), first)


def test_batch_size_change_draws_a_fresh_mask():
    layer = built((30,))
    layer.forward(np.ones((4, 30)), train=True)
    layer.fixed_noise = True  # even so, a mask of another shape cannot be reused
    y = layer.forward(np.ones((3, 30)), train=True)
    assert y.shape == (3, 30)
    assert 0 < np.count_nonzero(y) < y.size


@pytest.mark.parametrize("rate", [0.2, 0.6])
@pytest.mark.parametrize("shape", [(7,), (2, 3, 3)])
def test_gradcheck_with_fixed_mask(rate, shape):
    layer = built(shape, rate=rate)
    x = np.random.default_rng(5).standard_normal((3, *shape))
    results = check_layer(layer, x, train=True)
    assert [r.param for r in results] == ["input"]
    for result in results:
        assert result.max_rel_error <= TOLERANCE, result


def test_float32_masks():
    layer = built((10,), dtype=np.float32)
    y = layer.forward(np.ones((5, 10), np.float32), train=True)
    assert y.dtype == np.float32 and layer.uniforms.dtype == np.float32


def test_config_round_trip_and_validation():
    layer = LAYERS.build({"type": "dropout", "rate": 0.1, "name": "drop"})
    config = layer.get_config()
    assert config == {"type": "dropout", "rate": 0.1, "name": "drop"}
    assert type(layer)(**{k: v for k, v in config.items() if k != "type"}).get_config() == config
    assert Dropout().rate == 0.5
    for bad in (1.0, -0.1):
        with pytest.raises(ConfigError, match="rate"):
            LAYERS.build({"type": "dropout", "rate": bad})
