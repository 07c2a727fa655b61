"""Evaluate a finished run's saved weights on a split of its dataset (the Python side of `nnrun eval`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnrun.errors import RunError


def evaluate_run(run_dir: str | Path, split: str = "test", save_logits: str | Path | None = None) -> dict[str, Any]:
    """Loss and accuracy of run_dir/model.npz on `split`; optionally save {"logits", "labels"} to an .npz."""
    from nnrun.config import config_from_dict
    from nnrun.data import load_dataset
    from nnrun.model import load_model
    from nnrun.registry import LOSSES
    from nnrun.results import atomic_savez, load_run

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
    loss = LOSSES.build(resolved["loss"])
    data = dataset.splits[split]
    from nnrun.data import batches

    logits, loss_sum = [], 0.0
    for xb, yb in batches(data, config.train.eval_batch_size, np.dtype(config.dtype)):
        out = model.forward(xb, train=False).copy()
        loss_sum += loss.value(out, yb) * len(yb)
        logits.append(out)
    logits = np.concatenate(logits)
    accuracy = float(np.mean(loss.predict(logits) == data.y))
    if save_logits is not None:
        atomic_savez(save_logits, {"logits": logits, "labels": data.y})
    return {"split": split, "loss": loss_sum / len(data.y), "accuracy": accuracy, "n": len(data.y)}
