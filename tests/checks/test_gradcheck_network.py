"""`nnrun gradcheck` on a small network around every registered layer and every loss, in float64."""

from __future__ import annotations

import pytest

from nnrun.checks.gradcheck import check_network, rel_error
from nnrun.config import config_from_dict
from nnrun.registry import LAYERS, LOSSES

CONV = {"type": "conv2d", "filters": 3, "kernel": 3, "padding": "same"}
DENSE_OUT = {"type": "dense", "units": 3}

# For each layer type, a network that puts it between trainable layers: [input_shape, layers].
NETWORKS = {
    "dense": ([5], [{"type": "dense", "units": 4}, {"type": "tanh"}, DENSE_OUT]),
    "conv2d": ([2, 5, 5], [{"type": "conv2d", "filters": 3, "kernel": 2, "padding": "same"}, {"type": "flatten"}, DENSE_OUT]),
    "maxpool2d": ([2, 6, 6], [CONV, {"type": "maxpool2d", "size": 2}, {"type": "flatten"}, DENSE_OUT]),
    "avgpool2d": ([2, 6, 6], [CONV, {"type": "avgpool2d", "size": 3, "stride": 2}, {"type": "flatten"}, DENSE_OUT]),
    "flatten": ([2, 3, 3], [{"type": "flatten"}, DENSE_OUT]),
    "dropout": ([5], [{"type": "dense", "units": 6}, {"type": "dropout", "rate": 0.4}, DENSE_OUT]),
    "batchnorm": ([2, 4, 4], [CONV, {"type": "batchnorm"}, {"type": "flatten"}, {"type": "dense", "units": 6},
                              {"type": "batchnorm", "momentum": 0.8}, DENSE_OUT]),
    "relu": ([5], [{"type": "dense", "units": 6}, {"type": "relu"}, DENSE_OUT]),
    "leaky_relu": ([5], [{"type": "dense", "units": 6}, {"type": "leaky_relu", "alpha": 0.1}, DENSE_OUT]),
    "sigmoid": ([5], [{"type": "dense", "units": 6}, {"type": "sigmoid"}, DENSE_OUT]),
    "tanh": ([5], [{"type": "dense", "units": 6}, {"type": "tanh"}, DENSE_OUT]),
    "softmax": ([5], [{"type": "dense", "units": 6}, {"type": "softmax"}, DENSE_OUT]),
    "identity": ([5], [{"type": "dense", "units": 6}, {"type": "identity"}, DENSE_OUT]),
    "dense_stack": ([5], [{"type": "dense_stack", "units": [4, 3], "activation": "tanh", "batchnorm": True,
                           "dropout": 0.3}, DENSE_OUT]),
}  # fmt: skip

LOSS_UNITS = {"softmax_cross_entropy": 3, "logistic": 1, "hinge": 3, "mse": 3}


def config(input_shape, layers, loss="softmax_cross_entropy"):
    return config_from_dict(
        {
            "name": "gradcheck",
            "data": {"dataset": "moons"},
            "model": {"input_shape": input_shape, "layers": layers, "weight_init": {"type": "normal", "std": 0.5}},
            "loss": loss,
            "optimizer": {"type": "sgd", "lr": 0.1, "weight_decay": 0.01},
        }
    )


def test_every_registered_layer_and_loss_has_a_check():
    assert set(NETWORKS) == set(LAYERS.names())
    assert set(LOSS_UNITS) | {"hinge"} >= set(LOSSES.names())


@pytest.mark.parametrize("layer", sorted(NETWORKS))
def test_network_gradients_around_each_layer(layer):
    input_shape, layers = NETWORKS[layer]
    results = check_network(config(input_shape, layers), batch=4, samples=1000)
    failed = [(r.layer, r.param, r.max_rel_error) for r in results if not r.passed]
    assert not failed
    assert {r.param for r in results} >= {"input", "weight"}


@pytest.mark.parametrize("loss", sorted(LOSS_UNITS))
def test_network_gradients_for_each_loss(loss):
    layers = [{"type": "dense", "units": 4}, {"type": "tanh"}, {"type": "dense", "units": LOSS_UNITS[loss]}]
    results = check_network(config([5], layers, loss), batch=6, samples=1000)
    assert all(r.passed for r in results), [(r.layer, r.param, r.max_rel_error) for r in results]


def test_binary_hinge_gradients():
    layers = [{"type": "dense", "units": 4}, {"type": "tanh"}, {"type": "dense", "units": 1}]
    results = check_network(config([5], layers, "hinge"), batch=6, samples=1000)
    assert all(r.passed for r in results)


def test_a_wrong_gradient_fails_the_check(monkeypatch):
    from nnrun.layers.dense import Dense

    original = Dense.backward

    def off_by_a_bit(self, dy):
        dx = original(self, dy)
        self.grads["weight"] *= 1.001
        return dx

    monkeypatch.setattr(Dense, "backward", off_by_a_bit)
    results = check_network(config([5], NETWORKS["dense"][1]), batch=4, samples=1000)
    assert any(not r.passed for r in results if r.param == "weight")


def test_rel_error_floor_is_relative_to_the_largest_entry():
    assert rel_error([1.0, 1e-10], [1.0, 0.0]) < 1e-6
    assert rel_error([1.0, 1e-3], [1.0, 0.0]) > 1e-6
