"""A trainable parameter as the optimizer sees it: the array, its gradient, and its weight decay."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class Param:
    """`value` and `grad` are the layer's own arrays, updated in place, never replaced."""

    key: str  # unique within a model: "<index>.<layer name or type>.<param>", e.g. "04.hidden.weight"
    value: np.ndarray
    grad: np.ndarray
    weight_decay: float = 0.0  # L2 coefficient λ: the loss gains λ/2·‖value‖², the gradient λ·value
