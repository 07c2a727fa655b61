"""The backward shortcut: no input gradient for the data (Sequential.backward(input_grad=False)).

The conv2d input gradient's paths are tested in tests/layers/test_conv_direct.py (direct kernels) and
tests/layers/test_conv.py (col2im)."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.layers.conv import Conv2D
from nnrun.layers.dense import Dense
from nnrun.losses import SoftmaxCrossEntropy
from nnrun.model import Sequential
from tests.helpers.layers import build_context

CONV = {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"}
NETWORKS = {
    "dense first": ([6], [{"type": "dense", "units": 5}, {"type": "relu"}, {"type": "dense", "units": 3}]),
    "flatten first": ([2, 3, 3], [{"type": "flatten"}, {"type": "dense", "units": 3}]),
    "conv first": (
        [2, 6, 6],
        [CONV, {"type": "relu"}, {"type": "maxpool2d"}, {"type": "flatten"}, {"type": "dense", "units": 3}],
    ),  # fmt: skip
    "relu, then conv": ([2, 5, 5], [{"type": "relu"}, CONV, {"type": "flatten"}, {"type": "dense", "units": 3}]),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_no_input_grad_gives_the_same_param_grads(name):
    input_shape, layers = NETWORKS[name]
    model = Sequential.from_config({"input_shape": input_shape, "layers": layers}, dtype="float64")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, *input_shape))
    _, dlogits = SoftmaxCrossEntropy().value_and_grad(model.forward(x, train=True), rng.integers(0, 3, 4))
    params = model.params()

    dx = model.backward(dlogits.copy())
    expected = [p.grad.copy() for p in params]
    assert dx.shape == x.shape
    assert model.backward(dlogits.copy(), input_grad=False) is None
    for p, grad in zip(params, expected):
        np.testing.assert_array_equal(p.grad, grad, err_msg=p.key)
    # the first trained layer computes dx again when asked
    np.testing.assert_array_equal(model.backward(dlogits.copy()), dx)


def test_layers_before_the_first_trained_one_are_skipped():
    model = Sequential.from_config(
        {"input_shape": NETWORKS["flatten first"][0], "layers": NETWORKS["flatten first"][1]}
    )
    model.forward(np.ones((2, 2, 3, 3), np.float32), train=True)
    model.layers[0].backward = lambda dy: pytest.fail("flatten.backward ran")
    assert model.backward(np.ones((2, 3), np.float32), input_grad=False) is None


def test_model_without_params():
    model = Sequential.from_config({"input_shape": [3], "layers": [{"type": "relu"}]})
    model.forward(np.ones((2, 3), np.float32), train=True)
    assert model.backward(np.ones((2, 3), np.float32), input_grad=False) is None


@pytest.mark.parametrize("layer", [Dense(3), Conv2D(3, 2, padding="same")], ids=["dense", "conv2d"])
def test_layer_without_input_grad_returns_none(layer):
    shape = (5,) if isinstance(layer, Dense) else (2, 4, 4)
    layer.build(shape, build_context())
    x = np.random.default_rng(3).standard_normal((2, *shape))
    dy = np.random.default_rng(4).standard_normal((2, *layer.output_shape))
    layer.forward(x, train=True)
    layer.backward(dy)
    expected = {k: g.copy() for k, g in layer.grads.items()}
    layer.needs_input_grad = False
    assert layer.backward(dy) is None
    for key, grad in expected.items():
        np.testing.assert_array_equal(layer.grads[key], grad)
