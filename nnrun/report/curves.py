"""A run's curves: accuracy and loss for train, val and test against epoch (or step, when the run evaluated
by steps), the learning rate in a small panel when it changes, and the best evaluation marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnrun.errors import RunError
from nnrun.report.style import SPLIT_COLORS, SPLIT_LINES, loss_label, metric_axis, pyplot, save
from nnrun.results import Run, load_run


def plot_run(run_dir: str | Path, out: str | Path | None = None, fmt: str = "png") -> Path:
    """Draw the run's curves into `out` (default: the run folder) as curves.<fmt>; returns the file."""
    run = load_run(run_dir)
    if not run.history:
        raise RunError(
            f"{run.path} has no evaluation to draw yet (status {run.status})",
            hint="a run writes metrics.csv at its first evaluation; plot it again later",
        )
    return save(curves_figure(run), Path(out or run.path) / f"curves.{fmt}")


def curves_figure(run: Run) -> Any:
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator  # imported here with matplotlib itself (style.pyplot)

    history = run.history
    by_step = any(isinstance(row["epoch"], float) and not float(row["epoch"]).is_integer() for row in history)
    x_key = "step" if by_step else "epoch"
    lrs = [row.get("lr") for row in history]
    lr_changes = len({lr for lr in lrs if lr is not None}) > 1
    rows, heights = (2, [3, 1]) if lr_changes else (1, [1])
    figure, axes = plt.subplots(
        rows, 2, figsize=(10, 4.6 if lr_changes else 3.8), height_ratios=heights, squeeze=False,
        constrained_layout=True, sharex="col",
    )  # fmt: skip
    ax_acc, ax_loss = axes[0]
    x = [row[x_key] for row in history]
    for split in ("train", "val", "test"):
        for ax, metric in ((ax_acc, "acc"), (ax_loss, "loss")):
            points = [
                (a, row[f"{split}_{metric}"]) for a, row in zip(x, history) if row.get(f"{split}_{metric}") is not None
            ]
            if points:
                ax.plot(*zip(*points), SPLIT_LINES[split], color=SPLIT_COLORS[split], label=split,
                        marker="o" if len(points) < 30 else None, markersize=3)  # fmt: skip
    ax_acc.set(ylabel="accuracy", title="accuracy")
    ax_loss.set(ylabel=loss_label(run.config), title="loss")
    best = run.summary.get("best")
    if best and best.get(x_key) is not None and len(history) > 1:
        label = f"best {run.summary.get('monitor', '')} ({x_key} {best[x_key]})"
        for ax in (ax_acc, ax_loss):
            ax.axvline(best[x_key], color="0.4", linestyle="-.", linewidth=1, label=label)
    for ax, metric in ((ax_acc, "acc"), (ax_loss, "loss")):
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5 on a run of two epochs
        metric_axis(ax, metric)
    if lr_changes:
        for ax in axes[1]:
            ax.plot(x, lrs, color="0.3")
            ax.set(ylabel="learning rate", xlabel=x_key)
    else:
        for ax in axes[0]:
            ax.set(xlabel=x_key)
    status = run.summary.get("status", "")
    figure.suptitle(f"{run.config.get('name', run.path.name)}" + (f" ({status})" if status else ""))
    return figure
