"""Decision boundaries of networks on 2-D data (moons, circles, spirals, xor), as report 004 draws them: the
class the trained model predicts over the plane, with the data points on top.

The data is made again from the run's config and seed (the same points, the same split), and the grid goes
through the same scaling as the training batches (nnrun.data.batches).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnrun.data import Split, load_dataset
from nnrun.errors import RunError
from nnrun.report.predict import predict
from nnrun.report.style import pyplot, save
from nnrun.results import Run, load_run, percent

RESOLUTION = 200  # grid points along each axis
CLASS_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"]


def is_planar(config: dict[str, Any]) -> bool:
    return list(config.get("model", {}).get("input_shape", [])) == [2]


def plot_boundary(run_dir: str | Path, out: str | Path | None = None, fmt: str = "png") -> Path:
    """Draw the run's decision boundary as boundary.<fmt> in `out` (default: the run folder)."""
    run = load_run(run_dir)
    if not is_planar(run.config):
        raise RunError(f"{run.path} is not a 2-D model (input_shape {run.config['model']['input_shape']})")
    if not (run.path / "model.npz").is_file():
        raise RunError(f"{run.path} has no model.npz to draw a boundary from (status {run.status})")
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(5.2, 4.6), layout="constrained")
    draw(ax, run)
    ax.set_title(f"{run.config['name']}: {describe(run)}")
    return save(figure, Path(out or run.path) / f"boundary.{fmt}")


def draw(ax: Any, run: Run, split: str = "train") -> None:
    """The predicted class over the data's bounding box (with a margin), and the split's points on top."""
    dataset = load_dataset(run.config["data"], run.config["seed"])
    points = dataset.splits[split]
    low, high = points.x.min(axis=0), points.x.max(axis=0)
    margin = 0.15 * (high - low)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], RESOLUTION)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], RESOLUTION)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(points.x.dtype)
    plane = Split(grid, np.zeros(len(grid), np.int64), scale=points.scale, mean=points.mean, std=points.std)
    predicted = predict(run, plane)
    classes = max(dataset.num_classes, 2)
    colors = CLASS_COLORS[:classes]
    from matplotlib.colors import ListedColormap  # imported here with matplotlib itself (style.pyplot)

    ax.contourf(xs, ys, predicted.reshape(len(ys), len(xs)), levels=np.arange(classes + 1) - 0.5,
                cmap=ListedColormap(colors), alpha=0.25)  # fmt: skip
    for label in range(classes):
        mine = points.y == label
        ax.scatter(
            points.x[mine, 0], points.x[mine, 1], s=8, color=colors[label], edgecolors="none", label=f"class {label}"
        )
    ax.set(xlabel="x₁", ylabel="x₂")
    ax.grid(False)


def describe(run: Run, network: bool = True) -> str:
    """'tanh 3 units, test acc 97.40 %, train loss 0.071': what report 004 prints beside each boundary."""
    hidden = next((layer for layer in run.config["model"]["layers"] if layer.get("type") == "dense_stack"), None)
    parts = []
    if hidden and network:
        parts.append(f"{hidden['activation']} {'-'.join(map(str, hidden['units'])) or 'no hidden'} units")
    last = run.summary.get("last") or {}
    if last.get("test_acc") is not None:
        parts.append(f"test acc {percent(last['test_acc'])}")
    if last.get("train_loss") is not None:
        parts.append(f"train loss {last['train_loss']:.3f}")
    return ", ".join(parts)


def boundaries_figure(runs: list[tuple[str, Run]]) -> Any:
    """Small multiples: one boundary per (label, run), three to a row."""
    plt = pyplot()
    columns = min(3, len(runs))
    rows = -(-len(runs) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.7 * rows), squeeze=False, layout="constrained")
    for ax, (label, run) in zip(axes.flat, runs):
        draw(ax, run)
        ax.set_title(f"{label}\n{describe(run, network=False)}", fontsize=9)
    for ax in axes.flat[len(runs) :]:
        ax.set_visible(False)
    return figure
