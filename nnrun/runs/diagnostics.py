"""Per-layer statistics of a training run, for `train.diagnostics: true`: what cs231n has students print by
hand to see a net that does not learn (saturated or dead units, vanishing gradients, a bad learning rate).

At each evaluation, one row per layer (a dense_stack's blocks each count as their layers):
- act_mean, act_std: the layer's output on a fixed probe batch (the first PROBE training examples, in
  evaluation mode, so the numbers move only with the weights);
- dead_frac: for a relu, the share of its units that are 0 for every probe example;
- weight_norm, grad_norm: ‖W‖ and ‖∂loss/∂W‖ of the last training step's batch;
- update_ratio: ‖ΔW‖ / ‖W‖ of that step (cs231n's rule of thumb: about 1e-3).

Reading the weights and running an evaluation-mode forward draw no random numbers and change no state a
training step reads, so a run's metrics.csv is the same bytes with diagnostics on or off.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nnrun.data import Split, batches
from nnrun.layers import Layer

PROBE = 256  # examples in the probe batch
DIAGNOSTIC_COLUMNS = [
    "epoch", "step", "layer", "name",
    "act_mean", "act_std", "dead_frac", "weight_norm", "grad_norm", "update_ratio",
]  # fmt: skip


def flat_layers(model: Any) -> Iterator[tuple[str, Layer]]:
    """("4", layer), or ("0.1", child) for the layers inside a dense_stack, in the order they run."""
    for index, layer in enumerate(model.layers):
        children = getattr(layer, "layers", None)
        if isinstance(children, list) and children:
            for inner, child in enumerate(children):
                yield f"{index}.{inner}", child
        else:
            yield str(index), layer


class Probe:
    """Takes a model's per-layer statistics; `before_step` must precede the step an evaluation follows."""

    def __init__(self, model: Any, train: Split):
        self.model = model
        sample = Split(train.x[:PROBE], train.y[:PROBE], train.scale, train.mean, train.std)
        self.x = next(batches(sample, PROBE, model.dtype))[0]
        self.layers = list(flat_layers(model))
        self.before: dict[str, np.ndarray] = {}

    def before_step(self) -> None:
        """Keep each weight as it is now, for the update ratio of the step about to be taken."""
        self.before = {label: layer.params["weight"].copy() for label, layer in self.layers if "weight" in layer.params}

    def rows(self, epoch: Any, step: int) -> list[dict[str, Any]]:
        x = self.x.reshape((len(self.x), *self.model.input_shape))
        rows = []
        for label, layer in self.layers:
            x = layer.forward(x, False)
            out = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
            row: dict[str, Any] = {"epoch": epoch, "step": step, "layer": label, "name": layer.describe(),
                                   "act_mean": float(out.mean()), "act_std": float(out.std())}  # fmt: skip
            if layer.type_name == "relu":
                row["dead_frac"] = float(np.mean(np.all(out <= 0, axis=0)))
            if "weight" in layer.params:
                weight = layer.params["weight"].astype(np.float64)
                row["weight_norm"] = float(np.linalg.norm(weight))
                row["grad_norm"] = float(np.linalg.norm(layer.grads["weight"].astype(np.float64)))
                if label in self.before:
                    change = np.linalg.norm(weight - self.before[label])
                    row["update_ratio"] = float(change / max(np.linalg.norm(self.before[label]), 1e-30))
            rows.append(row)
        self.before = {}
        return rows
