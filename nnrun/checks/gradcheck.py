"""Numerical gradient checks: analytic backward against central differences, in float64.

Used by `nnrun gradcheck` on a whole network and by the tests on every layer and loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnrun.losses import l2_penalty
from nnrun.model import Sequential
from nnrun.registry import LOSSES

TOLERANCE = 1e-6


@dataclass
class GradResult:
    layer: str
    param: str  # "input" for the gradient with respect to the layer's input
    max_rel_error: float

    @property
    def passed(self) -> bool:
        return self.max_rel_error <= TOLERANCE


def numerical_gradient(
    f: Callable[[], float], array: np.ndarray, h: float = 1e-6, indices: np.ndarray | None = None
) -> np.ndarray:
    """d f / d array by central differences, perturbing `array` in place and restoring it.

    With `indices` (into the flattened array) only those entries are computed, returned as a flat array.
    """
    flat = array.reshape(-1)  # a view: writes reach the array f reads
    assert np.shares_memory(flat, array), "numerical_gradient needs a contiguous array"
    picks = np.arange(flat.size) if indices is None else indices
    out = np.zeros(len(picks), dtype=np.float64)
    for j, i in enumerate(picks):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        out[j] = (plus - minus) / (2 * h)
    return out.reshape(array.shape) if indices is None else out


def rel_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-3, scale: float | None = None) -> float:
    """max |a - n| / max(|a| + |n|, floor·scale), elementwise, as cs231n reports it.

    scale is the largest gradient entry (at least 1), or the given one when only a sample is compared. Central differences carry round-off of about
    1e-10·scale, so an entry far below the largest is judged against floor·scale rather than its own
    size: an error of 1e-9·scale on it still fails the 1e-6 tolerance.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"gradient shapes differ: {analytic.shape} vs {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), scale or 0.0, 1.0)
    denominator = np.maximum(np.abs(analytic) + np.abs(numeric), scale * floor)
    return float(np.max(np.abs(analytic - numeric) / denominator))


def check_layer(layer, x: np.ndarray, *, train: bool = True, seed: int = 0, h: float = 1e-6) -> list[GradResult]:
    """Check d(sum(forward(x) * g))/d(x and every param) for a built float64 layer, g random."""
    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = layer.forward(x.copy(), train)
    g = rng.standard_normal(y.shape)
    layer.fixed_noise = True
    try:
        dx = layer.backward(g.copy())
        analytic = {name: grad.copy() for name, grad in layer.grads.items()}

        def objective() -> float:
            return float(np.sum(layer.forward(x.copy(), train) * g))

        label = layer.describe()
        results = [GradResult(label, "input", rel_error(dx, numerical_gradient(objective, x, h)))]
        for name, param in layer.params.items():
            results.append(GradResult(label, name, rel_error(analytic[name], numerical_gradient(objective, param, h))))
        return results
    finally:
        layer.fixed_noise = False


def check_loss(loss, logits: np.ndarray, y: np.ndarray, h: float = 1e-6) -> GradResult:
    """Check the loss's gradient with respect to its logits."""
    logits = np.ascontiguousarray(logits, dtype=np.float64)
    _, dlogits = loss.value_and_grad(logits.copy(), y)
    numeric = numerical_gradient(lambda: float(loss.value(logits, y)), logits, h)
    return GradResult(loss.type_name, "logits", rel_error(dlogits, numeric))


def check_network(config, *, batch: int = 4, samples: int = 40, seed: int = 0, h: float = 1e-6) -> list[GradResult]:
    """Check a whole network from a Config in float64: every parameter and the input, loss and L2 included.

    Inputs are random in [0, 1) with random labels, so no dataset is needed. Dropout masks are drawn
    once and then held fixed. A parameter with more than `samples` entries is checked on that many
    entries drawn at random (cs231n's sparse check); the rest are still covered by the layer tests.
    """
    resolved = config.resolved()
    rng = np.random.default_rng(seed)
    model = Sequential.from_config(resolved["model"], dtype=np.float64, seed=config.seed)
    loss = LOSSES.build(resolved["loss"], where="loss")
    units = model.output_shape[-1]
    classes = 2 if units == 1 else units
    x = rng.random((batch, *model.input_shape))
    y = rng.integers(0, classes, size=batch)
    opt = resolved["optimizer"]
    params = model.params(opt["weight_decay"], opt["decay_bias"])

    logits = model.forward(x.copy(), train=True)
    for layer in model.layers:
        layer.fixed_noise = True
    try:
        _, dlogits = loss.value_and_grad(logits, y)
        dx = model.backward(dlogits)
        analytic = {p.key: p.grad + p.weight_decay * p.value for p in params}

        def objective() -> float:
            return float(loss.value(model.forward(x.copy(), train=True), y)) + float(l2_penalty(params))

        results = [GradResult("network", "input", rel_error(dx, numerical_gradient(objective, x, h)))]
        for p in params:
            layer_label, _, name = p.key.rpartition(".")
            size = p.value.size
            picks = np.arange(size) if size <= samples else rng.choice(size, samples, replace=False)
            numeric = numerical_gradient(objective, p.value, h, indices=picks)
            full = analytic[p.key].reshape(-1)
            error = rel_error(full[picks], numeric, scale=float(np.abs(full).max()))
            results.append(GradResult(layer_label, name, error))
        return results
    finally:
        for layer in model.layers:
            layer.fixed_noise = False
