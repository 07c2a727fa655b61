"""Loss and accuracy of a model on one split: the evaluation of training, and of `nnrun eval` on a saved run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnrun.config import config_from_dict
from nnrun.data import Split, batches, load_dataset
from nnrun.errors import RunError
from nnrun.io import atomic_savez
from nnrun.losses import Loss
from nnrun.model import Sequential, load_model
from nnrun.registry import LOSSES
from nnrun.results import load_run


@dataclass
class Evaluation:
    loss: float  # mean data loss per example (no L2 penalty)
    accuracy: float
    n: int
    logits: np.ndarray | None = None  # (n, outputs), when asked for


def evaluate(model: Sequential, loss: Loss, split: Split, batch_size: int, *, keep_logits: bool = False) -> Evaluation:
    """The model in evaluation mode (dropout off, batchnorm running statistics) over the split once, in order."""
    loss_sum, correct, kept = 0.0, 0, []
    for xb, yb in batches(split, batch_size, model.dtype):
        logits = model.forward(xb, train=False)
        loss_sum += loss.value(logits, yb) * len(yb)
        correct += int(np.count_nonzero(loss.predict(logits) == yb))
        if keep_logits:
            kept.append(logits.copy())  # the next forward pass may reuse the layers' output buffers
    n = len(split.y)
    logits = np.concatenate(kept) if keep_logits else None
    return Evaluation(loss_sum / n, correct / n, n, logits)


def evaluate_run(run_dir: str | Path, split: str = "test", save_logits: str | Path | None = None) -> dict[str, Any]:
    """Loss and accuracy of run_dir/model.npz on `split`; optionally save {"logits", "labels"} to an .npz."""
    run = load_run(run_dir)
    config = config_from_dict(run.config, source=str(run.path / "config.yaml"))
    resolved = config.resolved()
    dataset = load_dataset(resolved["data"], config.seed)
    if split not in dataset.splits:
        raise RunError(
            f"dataset '{dataset.name}' has no '{split}' split in this run",
            hint=f"available splits: {', '.join(dataset.splits)}",
        )
    model = load_model(run.path / "model.npz", dtype=config.dtype)
    data = dataset.splits[split]
    result = evaluate(model, LOSSES.build(resolved["loss"]), data, config.train.eval_batch_size, keep_logits=True)
    if save_logits is not None:
        atomic_savez(save_logits, {"logits": result.logits, "labels": data.y})
    return {"split": split, "loss": result.loss, "accuracy": result.accuracy, "n": result.n}
