"""Parity with torch.optim: five steps of each optimizer with weight decay, and clip_grad_norm_."""

import numpy as np
import pytest

from nnrun import optimizers
from nnrun.params import Param
from nnrun.registry import OPTIMIZERS

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# nnrun spec -> (torch class, torch kwargs); hyperparameters away from the defaults where that tests more
CASES = {
    "sgd": ({"lr": 0.1}, lambda p: torch.optim.SGD(p, lr=0.1)),
    "momentum": ({"lr": 0.05, "mu": 0.8}, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8)),
    "nesterov": ({"lr": 0.05, "mu": 0.9}, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    "adagrad": ({"lr": 0.1}, lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-10)),
    "adadelta": ({"rho": 0.8}, lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.8, eps=1e-6)),
    "rmsprop": ({"lr": 0.01, "alpha": 0.9}, lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8)),
    "adam": ({"lr": 0.01, "beta1": 0.8}, lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.999), eps=1e-8)),
}
WEIGHT_DECAY = (0.1, 0.0)
TOLERANCE = {np.float64: 1e-6, np.float32: 1e-5}


def test_every_optimizer_is_covered():
    assert sorted(CASES) == OPTIMIZERS.names()


def run_both(name, dtype, lrs):
    hyper, make_torch = CASES[name]
    rng = np.random.default_rng(7)
    shapes = [(6, 5), (5,)]
    values = [rng.standard_normal(s).astype(dtype) for s in shapes]
    params = [Param(f"{i}.p", v.copy(), np.zeros_like(v), wd) for i, (v, wd) in enumerate(zip(values, WEIGHT_DECAY))]
    ours = OPTIMIZERS.build({"type": name, **hyper})
    ours.setup(params)

    tensors = [torch.tensor(v, requires_grad=True) for v in values]
    groups = [{"params": [t], "weight_decay": wd} for t, wd in zip(tensors, WEIGHT_DECAY)]
    theirs = make_torch(groups)
    base_lr = theirs.param_groups[0]["lr"]
    for factor in lrs:
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        for p, t, g in zip(params, tensors, grads):
            p.grad[...] = g
            t.grad = torch.tensor(g)
        for group in theirs.param_groups:
            group["lr"] = base_lr * factor
        ours.step(base_lr * factor)
        theirs.step()
    return params, tensors


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_five_steps_match_torch(name, dtype):
    params, tensors = run_both(name, dtype, lrs=[1.0] * 5)
    for p, t in zip(params, tensors):
        assert p.value.dtype == dtype
        np.testing.assert_allclose(p.value, t.detach().numpy(), rtol=0, atol=TOLERANCE[dtype])


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam"])
def test_changing_lr_matches_torch(name):
    # a schedule changing lr mid-run: torch's momentum form rescales the whole velocity
    params, tensors = run_both(name, np.float64, lrs=[1.0, 0.5, 0.25, 2.0, 0.1])
    for p, t in zip(params, tensors):
        np.testing.assert_allclose(p.value, t.detach().numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s) for s in [(40, 9), (9,)]]
    params = [Param(str(i), np.zeros_like(g), g.copy()) for i, g in enumerate(grads)]
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = torch.tensor(g)
    ours = optimizers.clip_grad_norm(params, max_norm)
    theirs = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    assert ours == pytest.approx(float(theirs), rel=1e-12)
    for p, t in zip(params, tensors):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
