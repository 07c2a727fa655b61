"""Flatten: shapes, the C-order it promises, its gradient, and its config."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.checks.gradcheck import TOLERANCE, check_layer
from nnrun.layers.reshape import Flatten
from nnrun.registry import LAYERS
from tests.helpers.layers import build_context


@pytest.mark.parametrize("input_shape", [(3, 4, 5), (7,), (2, 3)])
def test_forward_backward(input_shape):
    layer = Flatten()
    size = int(np.prod(input_shape))
    assert layer.build(input_shape, build_context()) == (size,)
    x = np.arange(2 * size, dtype=np.float64).reshape(2, *input_shape)
    y = layer.forward(x, train=True)
    assert y.shape == (2, size)
    np.testing.assert_array_equal(y[1], np.arange(size, 2 * size))  # C order: channel, row, column
    dy = np.random.default_rng(2).standard_normal(y.shape)
    dx = layer.backward(dy)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx.reshape(2, -1), dy)


def test_gradient():
    layer = Flatten()
    layer.build((2, 3, 3), build_context())
    results = check_layer(layer, np.random.default_rng(3).standard_normal((2, 2, 3, 3)))
    assert [r.param for r in results] == ["input"]
    assert results[0].max_rel_error <= TOLERANCE


def test_config_round_trip():
    layer = LAYERS.build({"type": "flatten", "name": "flat"})
    config = layer.get_config()
    assert config == {"type": "flatten", "name": "flat"}
    assert type(layer)(**{k: v for k, v in config.items() if k != "type"}).get_config() == config
    assert layer.num_params() == 0 and layer.flops() == 0
