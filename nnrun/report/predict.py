"""A trained run's predicted class for each example of a split, as its loss reads the logits (one or two)."""

from __future__ import annotations

import numpy as np

from nnrun import losses  # noqa: F401  # importing it registers the losses in LOSSES
from nnrun.data import Split, batches
from nnrun.registry import LOSSES
from nnrun.results import Run

BATCH = 4096  # examples per forward pass


def predict(run: Run, split: Split) -> np.ndarray:
    """(N,) int64 classes for split.x, scaled as the training batches were (nnrun.data.batches)."""
    model = run.model()
    loss = LOSSES.build(run.config["loss"])
    return np.concatenate([loss.predict(model.forward(xb)) for xb, _ in batches(split, BATCH, model.dtype)])
