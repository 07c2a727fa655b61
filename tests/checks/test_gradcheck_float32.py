"""The float32 kernels' gradients, checked as the float64 ones are but with a looser tolerance.

Training runs in float32, on kernels numba compiles apart from the float64 ones the gradient checks use. Each
network here is built twice with the same float32-representable weights and inputs: the float32 model's
analytic gradients are compared with central differences of its float64 twin, on sampled entries.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.checks.gradcheck import numerical_gradient, rel_error
from nnrun.model import Sequential
from nnrun.registry import LOSSES
from nnrun.runs.diagnostics import flat_layers

TOLERANCE = 2e-3  # float32 sums over a few hundred terms: about 1e-5 relative; 1e-6 is float64's
CONV = {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"}
NETWORKS = {
    "dense relu": ([12], [{"type": "dense", "units": 9}, {"type": "relu"}, {"type": "dense", "units": 4}]),
    "dense sigmoid tanh leaky": (
        [12],
        [
            {"type": "dense", "units": 8},
            {"type": "sigmoid"},
            {"type": "dense", "units": 8},
            {"type": "tanh"},
            {"type": "dense", "units": 6},
            {"type": "leaky_relu"},
            {"type": "dense", "units": 4},
        ],
    ),  # fmt: skip
    "dense stack, batchnorm, dropout": (
        [12],
        [{"type": "dense_stack", "units": [10, 8], "batchnorm": True, "dropout": 0.25}, {"type": "dense", "units": 4}],
    ),  # fmt: skip
    "conv relu maxpool": (
        [2, 6, 6],
        [CONV, {"type": "relu"}, {"type": "maxpool2d"}, {"type": "flatten"}, {"type": "dense", "units": 4}],
    ),  # fmt: skip
    "strided conv, batchnorm, avgpool": (
        [3, 8, 8],
        [
            {"type": "conv2d", "filters": 5, "kernel": 3, "stride": 2},
            {"type": "batchnorm"},
            {"type": "relu"},
            {"type": "avgpool2d"},
            {"type": "flatten"},
            {"type": "dense", "units": 4},
        ],
    ),  # fmt: skip
}
LOSS_UNITS = {"softmax_cross_entropy": 4, "hinge": 4, "logistic": 1, "mse": 4}


def twins(input_shape, layers, units):
    """The float32 model and a float64 one holding exactly its weights."""
    spec = {"input_shape": input_shape, "layers": [*layers[:-1], {**layers[-1], "units": units}]}
    single = Sequential.from_config(spec, dtype="float32", seed=3)
    double = Sequential.from_config(spec, dtype="float64", seed=3)
    double.load_state_arrays({k: v.astype(np.float64) for k, v in single.state_arrays().items()})
    return single, double


@pytest.mark.parametrize("loss_name", sorted(LOSS_UNITS))
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_float32_gradients_match_central_differences(name, loss_name):
    input_shape, layers = NETWORKS[name]
    single, double = twins(input_shape, layers, LOSS_UNITS[loss_name])
    loss = LOSSES.build(loss_name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, *input_shape)).astype(np.float32)
    y = rng.integers(0, 2 if LOSS_UNITS[loss_name] == 1 else 4, size=6)
    for model in (single, double):
        for layer in model.layers:
            layer.fixed_noise = True  # dropout draws its mask once, then keeps it
    logits = single.forward(x.copy(), train=True)
    _, dlogits = loss.value_and_grad(logits, y)
    dx = single.backward(dlogits)
    analytic = {p.key: p.grad.astype(np.float64) for p in single.params()}
    x64 = x.astype(np.float64)
    for (_, mine), (_, twin) in zip(flat_layers(single), flat_layers(double)):
        if getattr(mine, "uniforms", None) is not None:  # dropout: the twin keeps the float32 model's mask
            twin.uniforms = mine.uniforms.astype(np.float64)
    np.testing.assert_allclose(double.forward(x64.copy(), train=True), logits, rtol=1e-4, atol=1e-5)

    def objective() -> float:
        return float(loss.value(double.forward(x64.copy(), train=True), y))

    for param in double.params():
        picks = rng.choice(param.value.size, size=min(param.value.size, 25), replace=False)
        numeric = numerical_gradient(objective, param.value, 1e-6, picks)
        scale = float(np.abs(analytic[param.key]).max())
        error = rel_error(analytic[param.key].reshape(-1)[picks], numeric, scale=scale)
        assert error < TOLERANCE, (param.key, error)
    picks = rng.choice(x64.size, size=25, replace=False)
    numeric = numerical_gradient(objective, x64, 1e-6, picks)
    assert rel_error(dx.astype(np.float64).reshape(-1)[picks], numeric, scale=float(np.abs(dx).max())) < TOLERANCE
    assert dx.dtype == np.float32 and all(p.grad.dtype == np.float32 for p in single.params())
