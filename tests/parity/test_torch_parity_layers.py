"""Dense and batchnorm against torch.nn.Linear / BatchNorm1d / BatchNorm2d in float32."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.layers.dense import Dense
from nnrun.layers.norm import BatchNorm
from tests.helpers.layers import build_context

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOL = dict(rtol=1e-5, atol=1e-5)


def close_to_torch(ours, theirs):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), **TOL)


def torch_forward_backward(module, x, dy):
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    yt.backward(torch.tensor(dy))
    return yt, xt.grad


@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_matches_linear(use_bias):
    rng = np.random.default_rng(2)
    layer = Dense(units=5, use_bias=use_bias, bias_init={"type": "normal", "std": 1.0})
    layer.build((7,), build_context(np.float32))
    linear = torch.nn.Linear(7, 5, bias=use_bias)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(layer.params["weight"].T))  # torch keeps (out, in)
        if use_bias:
            linear.bias.copy_(torch.tensor(layer.params["bias"]))
    x = rng.standard_normal((6, 7)).astype(np.float32)
    dy = rng.standard_normal((6, 5)).astype(np.float32)
    y = layer.forward(x, train=True)
    dx = layer.backward(dy)
    yt, dxt = torch_forward_backward(linear, x, dy)
    close_to_torch(y, yt)
    close_to_torch(dx, dxt)
    close_to_torch(layer.grads["weight"], linear.weight.grad.T)
    if use_bias:
        close_to_torch(layer.grads["bias"], linear.bias.grad)


@pytest.mark.parametrize("momentum", [0.9, 0.6])
@pytest.mark.parametrize("shape", [(6,), (3, 4, 5)], ids=["1d", "2d"])
def test_batchnorm_matches_torch(shape, momentum):
    rng = np.random.default_rng(3)
    channels = shape[0]
    layer = BatchNorm(momentum=momentum, eps=1e-3)
    layer.build(shape, build_context(np.float32))
    module_cls = torch.nn.BatchNorm1d if len(shape) == 1 else torch.nn.BatchNorm2d
    module = module_cls(channels, eps=1e-3, momentum=1 - momentum)
    gamma = rng.uniform(0.5, 2, channels).astype(np.float32)
    beta = rng.standard_normal(channels).astype(np.float32)
    layer.params["gamma"][...] = gamma
    layer.params["beta"][...] = beta
    with torch.no_grad():
        module.weight.copy_(torch.tensor(gamma))
        module.bias.copy_(torch.tensor(beta))

    # train mode: two steps, so the running statistics move away from their initial values twice
    for step in range(2):
        x = (rng.standard_normal((8, *shape)) * 2 + 1.5).astype(np.float32)
        dy = rng.standard_normal((8, *shape)).astype(np.float32)
        module.train()
        module.zero_grad()
        y = layer.forward(x, train=True)
        dx = layer.backward(dy)
        yt, dxt = torch_forward_backward(module, x, dy)
        assert_batchnorm_matches(layer, module, y, yt, dx, dxt)

    # eval mode: normalised with the running statistics, which stay put
    x = (rng.standard_normal((5, *shape)) * 2).astype(np.float32)
    dy = rng.standard_normal((5, *shape)).astype(np.float32)
    module.eval()
    module.zero_grad()
    y = layer.forward(x, train=False)
    dx = layer.backward(dy)
    yt, dxt = torch_forward_backward(module, x, dy)
    assert_batchnorm_matches(layer, module, y, yt, dx, dxt)


def assert_batchnorm_matches(layer, module, y, yt, dx, dxt):
    """Output, input gradient, gamma/beta gradients and running statistics all agree with torch's."""
    close_to_torch(y, yt)
    close_to_torch(dx, dxt)
    close_to_torch(layer.grads["gamma"], module.weight.grad)
    close_to_torch(layer.grads["beta"], module.bias.grad)
    close_to_torch(layer.buffers["running_mean"], module.running_mean)
    close_to_torch(layer.buffers["running_var"], module.running_var)
