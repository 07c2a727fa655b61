"""A run's per-layer diagnostics (diagnostics.csv, `train.diagnostics: true`) against epoch: the spread of
each activation, the share of dead relus, each weight's gradient norm and its update/weight ratio.

One line per layer, coloured from the input (dark) to the output (light), so a gradient that fades towards
the input (report 002's sigmoid nets) shows as a fan of lines ordered by depth on the log axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnrun.errors import RunError
from nnrun.io import read_csv
from nnrun.report.style import pyplot, save
from nnrun.results import load_run

NONLINEAR = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax")
UPDATE_RATIO_GUIDE = 1e-3  # cs231n's rule of thumb for a healthy learning rate

PANELS = [  # (column, title, y label, log axis, which rows)
    ("act_std", "activation spread", "std of the layer's output", False, "activations"),
    ("dead_frac", "dead relus", "share of units 0 on every probe example", False, "relus"),
    ("grad_norm", "gradient norm", "‖∂loss/∂W‖", True, "weights"),
    ("update_ratio", "update / weight", "‖ΔW‖ / ‖W‖ per step", True, "weights"),
]


def plot_diagnostics(run_dir: str | Path, out: str | Path | None = None, fmt: str = "png") -> Path:
    """Draw diagnostics.csv as training_diagnostics.<fmt> in `out` (default: the run folder)."""
    run = load_run(run_dir)
    path = run.path / "diagnostics.csv"
    if not path.is_file():
        raise RunError(f"{run.path} has no diagnostics.csv", hint="train with --set train.diagnostics=true")
    rows = read_csv(path, text=["layer"])
    if not rows:
        raise RunError(f"{path} has no evaluation yet")
    return save(diagnostics_figure(run.config.get("name", run.path.name), rows), Path(out or run.path) /
                f"training_diagnostics.{fmt}")  # fmt: skip


def diagnostics_figure(name: str, rows: list[dict[str, Any]]) -> Any:
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator  # imported here with matplotlib itself (style.pyplot)

    by_step = any(isinstance(row["epoch"], float) and not float(row["epoch"]).is_integer() for row in rows)
    x_key = "step" if by_step else "epoch"
    layers = list(dict.fromkeys(row["layer"] for row in rows))
    names = {row["layer"]: row["name"] for row in rows}
    # the spread that matters is after the nonlinearities, where units saturate or die
    nonlinear = {layer for layer in layers if names[layer].split(" ")[0] in NONLINEAR}
    colours = plt.get_cmap("viridis")
    figure, axes = plt.subplots(2, 2, figsize=(12.5, 7), layout="constrained", sharex=True)
    for ax, (column, title, label, log, which) in zip(axes.flat, PANELS):
        drawn = 0
        for order, layer in enumerate(layers):
            points = [
                (row[x_key], row[column]) for row in rows if row["layer"] == layer and row.get(column) is not None
            ]
            if not points or (which == "activations" and nonlinear and layer not in nonlinear):
                continue
            colour = colours(order / max(len(layers) - 1, 1) * 0.9)
            ax.plot(*zip(*points), color=colour, marker="o" if len(points) < 30 else None, markersize=2.5,
                    label=f"{layer} {names[layer]}")  # fmt: skip
            drawn += 1
        if log and drawn:
            ax.set_yscale("log")
        if column == "update_ratio" and drawn:
            ax.axhline(UPDATE_RATIO_GUIDE, color="0.5", linestyle="--", linewidth=1, label="1e-3 (rule of thumb)")
        if not drawn:
            ax.text(0.5, 0.5, "no relu layers" if which == "relus" else "nothing to draw", ha="center",
                    va="center", transform=ax.transAxes, color="0.5")  # fmt: skip
        ax.set(title=title, ylabel=label, xlabel=x_key if ax in axes[1] else None)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # one legend for the four panels: a layer has one colour in all of them
    handles = {}
    for ax in axes.flat:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(text, handle)
    labels = [f"{layer} {names[layer]}" for layer in layers]
    ordered = [text for text in labels if text in handles] + [text for text in handles if text not in labels]
    figure.legend([handles[text] for text in ordered], ordered, loc="outside right center", fontsize=8, title="layer",
                  title_fontsize=8, frameon=False)  # fmt: skip
    figure.suptitle(f"{name}: per-layer diagnostics (probe batch, dark = input side, light = output side)")
    return figure
