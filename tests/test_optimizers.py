"""Optimizers: each fused kernel against a short NumPy update, dtype, weight decay, checkpoint round trip, clipping."""

import math

import numpy as np
import pytest

from nnrun import optimizers
from nnrun.errors import ConfigError
from nnrun.kernels import optim as kernels
from nnrun.params import Param
from nnrun.registry import OPTIMIZERS

# --- NumPy references: (w, g, state, hyperparameters, t) -> new w; state updated in the dict ---------------


def ref_sgd(w, g, s, h, t):
    return w - h["lr"] * g


def ref_momentum(w, g, s, h, t, nesterov=False):
    s["velocity"] = h["mu"] * s["velocity"] + g
    step = g + h["mu"] * s["velocity"] if nesterov else s["velocity"]
    return w - h["lr"] * step


def ref_nesterov(w, g, s, h, t):
    return ref_momentum(w, g, s, h, t, nesterov=True)


def ref_adagrad(w, g, s, h, t):
    s["sum_sq"] = s["sum_sq"] + g * g
    return w - h["lr"] * g / (np.sqrt(s["sum_sq"]) + h["eps"])


def ref_adadelta(w, g, s, h, t):
    s["square_avg"] = h["rho"] * s["square_avg"] + (1 - h["rho"]) * g * g
    delta = np.sqrt(s["acc_delta"] + h["eps"]) / np.sqrt(s["square_avg"] + h["eps"]) * g
    s["acc_delta"] = h["rho"] * s["acc_delta"] + (1 - h["rho"]) * delta * delta
    return w - h["lr"] * delta


def ref_rmsprop(w, g, s, h, t):
    s["square_avg"] = h["alpha"] * s["square_avg"] + (1 - h["alpha"]) * g * g
    return w - h["lr"] * g / (np.sqrt(s["square_avg"]) + h["eps"])


def ref_adam(w, g, s, h, t):
    s["m"] = h["beta1"] * s["m"] + (1 - h["beta1"]) * g
    s["v"] = h["beta2"] * s["v"] + (1 - h["beta2"]) * g * g
    m_hat = s["m"] / (1 - h["beta1"] ** t)
    v_hat = s["v"] / (1 - h["beta2"] ** t)
    return w - h["lr"] * m_hat / (np.sqrt(v_hat) + h["eps"])


CASES = {
    "sgd": (ref_sgd, {"lr": 0.1}),
    "momentum": (ref_momentum, {"lr": 0.05, "mu": 0.8}),
    "nesterov": (ref_nesterov, {"lr": 0.05, "mu": 0.9}),
    "adagrad": (ref_adagrad, {"lr": 0.1, "eps": 1e-10}),
    "adadelta": (ref_adadelta, {"lr": 1.0, "rho": 0.9, "eps": 1e-6}),
    "rmsprop": (ref_rmsprop, {"lr": 0.01, "alpha": 0.95, "eps": 1e-8}),
    "adam": (ref_adam, {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-8}),
}


def test_every_optimizer_is_covered():
    assert sorted(CASES) == OPTIMIZERS.names()


def make_params(dtype, seed=0, weight_decay=(0.1, 0.0)):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (5,)]
    return [
        Param(f"{i}.layer.p", rng.standard_normal(shape).astype(dtype), np.zeros(shape, dtype), wd)
        for i, (shape, wd) in enumerate(zip(shapes, weight_decay))
    ]


def grads_for(step, params, seed=100):
    rng = np.random.default_rng(seed + step)
    return [rng.standard_normal(p.value.shape) for p in params]


def run_reference(name, params, steps):
    reference, hyper = CASES[name]
    ws = [p.value.astype(np.float64) for p in params]
    optimizer = OPTIMIZERS.build({"type": name, **hyper})
    states = [{slot: np.zeros_like(w) for slot in optimizer.slots} for w in ws]
    for t in range(1, steps + 1):
        for i, (p, g) in enumerate(zip(params, grads_for(t, params))):
            ws[i] = reference(ws[i], g + p.weight_decay * ws[i], states[i], hyper, t)
    return ws


def run_optimizer(name, params, steps, optimizer=None, first=1):
    if optimizer is None:
        optimizer = OPTIMIZERS.build({"type": name, **CASES[name][1]})
        optimizer.setup(params)
    for t in range(first, first + steps):
        for p, g in zip(params, grads_for(t, params)):
            p.grad[...] = g
        optimizer.step(optimizer.lr)
    return optimizer


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_matches_numpy_reference_float64(name):
    params = make_params(np.float64)
    start = [p.value.copy() for p in params]
    expected = run_reference(name, params, steps=4)
    run_optimizer(name, params, steps=4)
    for p, w, w0 in zip(params, expected, start):
        np.testing.assert_allclose(p.value, w, rtol=1e-12, atol=1e-14)
        assert np.abs(p.value - w0).min() > 1e-4  # every entry moved


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_stays_float32(name):
    params = make_params(np.float32)
    expected = run_reference(name, params, steps=4)
    optimizer = run_optimizer(name, params, steps=4)
    for p, w in zip(params, expected):
        assert p.value.dtype == np.float32 and p.grad.dtype == np.float32
        np.testing.assert_allclose(p.value, w, rtol=2e-5, atol=2e-6)
    for state in optimizer.state:
        assert all(array.dtype == np.float32 for array in state.values())


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weight_decay_is_coupled_l2_and_grad_untouched(name, dtype):
    # grad 0 with decay λ must update exactly as grad λ·w without decay, and leave grad at 0
    decayed = make_params(dtype, weight_decay=(0.5, 0.25))
    explicit = make_params(dtype, weight_decay=(0.0, 0.0))
    first, second = (OPTIMIZERS.build({"type": name, **CASES[name][1]}) for _ in range(2))
    first.setup(decayed)
    second.setup(explicit)
    for _ in range(3):
        for d, e in zip(decayed, explicit):
            d.grad[...] = 0
            e.grad[...] = dtype(d.weight_decay) * e.value
        first.step()
        second.step()
        for d, e in zip(decayed, explicit):
            np.testing.assert_array_equal(d.grad, 0)
            assert d.value.tobytes() == e.value.tobytes()
    assert not np.allclose(decayed[0].value, make_params(dtype)[0].value)


def test_step_uses_the_lr_it_is_given():
    params = make_params(np.float64, weight_decay=(0.0, 0.0))
    before = [p.value.copy() for p in params]
    optimizer = optimizers.get({"type": "sgd", "lr": 1.0})
    optimizer.setup(params)
    for p in params:
        p.grad[...] = 2.0
    optimizer.step(0.25)
    for p, w in zip(params, before):
        np.testing.assert_allclose(p.value, w - 0.5)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_dict_round_trip_is_bit_exact(name, dtype):
    straight = make_params(dtype)
    run_optimizer(name, straight, steps=6)

    interrupted = make_params(dtype)
    first = run_optimizer(name, interrupted, steps=3)
    saved = first.state_dict()
    assert int(saved["step"]) == 3
    assert set(saved) == {"step"} | {f"{p.key}/{slot}" for p in interrupted for slot in first.slots}
    saved = {key: value.copy() for key, value in saved.items()}
    weights = [p.value.copy() for p in interrupted]

    resumed_params = [Param(p.key, w, np.zeros_like(w), p.weight_decay) for p, w in zip(interrupted, weights)]
    resumed = OPTIMIZERS.build({"type": name, **CASES[name][1]})
    resumed.setup(resumed_params)
    resumed.load_state_dict(saved)
    run_optimizer(name, resumed_params, steps=3, optimizer=resumed, first=4)
    for a, b in zip(straight, resumed_params):
        assert a.value.tobytes() == b.value.tobytes()
    for key, value in resumed.state_dict().items():
        assert value.dtype == (np.int64 if key == "step" else dtype)


def test_load_state_dict_rejects_another_model():
    optimizer = optimizers.get("adam")
    optimizer.setup(make_params(np.float32))
    saved = optimizer.state_dict()
    other = optimizers.get("adam")
    other.setup(make_params(np.float32)[:1])
    with pytest.raises(ConfigError, match="unexpected"):
        other.load_state_dict(saved)
    saved["0.layer.p/m"] = np.zeros((4, 3), np.float32)
    with pytest.raises(ConfigError, match="shape"):
        optimizer.load_state_dict(saved)


def test_setup_rejects_non_contiguous_values():
    value = np.zeros((4, 6))[:, ::2]
    with pytest.raises(ValueError, match="contiguous"):
        optimizers.get("sgd").setup([Param("w", value, np.zeros_like(value))])


def test_defaults_and_constraints():
    defaults = {name: OPTIMIZERS.build(name).get_config() for name in OPTIMIZERS.names()}
    assert defaults["adam"] == {"type": "adam", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert defaults["adadelta"] == {"type": "adadelta", "lr": 1.0, "rho": 0.9, "eps": 1e-6}
    assert defaults["rmsprop"] == {"type": "rmsprop", "lr": 1e-2, "alpha": 0.99, "eps": 1e-8}
    assert defaults["adagrad"] == {"type": "adagrad", "lr": 1e-2, "eps": 1e-10}
    assert defaults["momentum"] == {"type": "momentum", "lr": 1e-2, "mu": 0.9}
    for config in defaults.values():
        assert OPTIMIZERS.build(config).get_config() == config
    for bad in ({"type": "sgd", "lr": 0}, {"type": "adam", "beta1": 1.0}, {"type": "rmsprop", "eps": 0}):
        with pytest.raises(ConfigError):
            OPTIMIZERS.build(bad)
    with pytest.raises(ConfigError, match="did you mean 'adam'"):
        optimizers.get("adamw")


def test_clip_grad_norm():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(shape).astype(np.float32) for shape in [(30, 7), (7,)]]
    params = [Param(str(i), np.zeros_like(g), g) for i, g in enumerate(grads)]
    before = [p.grad.copy() for p in params]
    norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in before))

    assert optimizers.clip_grad_norm(params, norm * 2) == pytest.approx(norm, rel=1e-12)
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad, g)  # below the limit: untouched

    assert optimizers.clip_grad_norm(params, 1.0) == pytest.approx(norm, rel=1e-12)
    clipped = math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in params))
    assert clipped == pytest.approx(1.0, rel=1e-5)
    for p, g in zip(params, before):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad, g / norm, rtol=1e-5)
    with pytest.raises(ValueError):
        optimizers.clip_grad_norm(params, 0.0)


KERNELS = {
    "sgd": kernels.sgd_step,
    "momentum": kernels.momentum_step,
    "nesterov": kernels.momentum_step,
    "adagrad": kernels.adagrad_step,
    "adadelta": kernels.adadelta_step,
    "rmsprop": kernels.rmsprop_step,
    "adam": kernels.adam_step,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_kernels_get_only_float32_scalars(name):
    # a float64 scalar would silently turn the whole update into float64 arithmetic
    run_optimizer(name, make_params(np.float32), steps=1)
    float32_signatures = [sig for sig in KERNELS[name].signatures if str(sig[0]).startswith("array(float32")]
    assert float32_signatures
    for sig in float32_signatures:
        for arg in sig:
            assert str(arg) in ("float32", "bool") or str(arg).startswith("array(float32"), sig


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 1001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_squares_kernel(size, dtype):
    x = np.random.default_rng(size).standard_normal(size).astype(dtype)
    assert kernels.sum_squares(x) == pytest.approx(float(np.sum(x.astype(np.float64) ** 2)), rel=1e-13, abs=0)
