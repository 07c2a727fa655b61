"""Numerical gradient checks: analytic backward against central differences, in float64.

Used by `nnrun gradcheck` on a whole network and by the tests on every layer and loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-6


@dataclass
class GradResult:
    layer: str
    param: str  # "input" for the gradient with respect to the layer's input
    max_rel_error: float

    @property
    def passed(self) -> bool:
        return self.max_rel_error <= TOLERANCE


def numerical_gradient(f: Callable[[], float], array: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d array by central differences, perturbing `array` in place and restoring it."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat = array.reshape(-1)  # a view: writes reach the array f reads
    assert np.shares_memory(flat, array), "numerical_gradient needs a contiguous array"
    out = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        out[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-3) -> float:
    """max |a - n| / max(|a| + |n|, floor·scale), elementwise, as cs231n reports it.

    scale is the largest gradient entry (at least 1). Central differences carry round-off of about
    1e-10·scale, so an entry far below the largest is judged against floor·scale rather than its own
    size: an error of 1e-9·scale on it still fails the 1e-6 tolerance.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"gradient shapes differ: {analytic.shape} vs {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), 1.0)
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
