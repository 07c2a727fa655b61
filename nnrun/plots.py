"""Figures drawn from run folders only: plotting reads what a run wrote and never trains."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from nnrun.io import atomic_write_bytes
from nnrun.results import load_run


def plot_run(run_dir: str | Path) -> Path:
    """Draw run_dir/curves.png from the folder's metrics.csv and config; returns its path."""
    run = load_run(run_dir)
    path = run.path / "curves.png"
    plot_curves(run.history, path, title=run.config.get("name", ""))
    return path


def plot_curves(history: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Accuracy and loss against epoch for train, val and test, side by side, saved atomically as PNG."""
    import matplotlib  # imported here: it is slow to load, and training imports this module

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for split, style in (("train", "-"), ("val", "--"), ("test", ":")):
        for ax, metric in ((ax_acc, "acc"), (ax_loss, "loss")):
            values = [row.get(f"{split}_{metric}") for row in history]
            if any(v is not None for v in values):
                points = [(e, v) for e, v in zip(epochs, values) if v is not None]
                ax.plot(*zip(*points), style, marker="o" if len(points) < 30 else None, markersize=3, label=split)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
