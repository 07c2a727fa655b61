"""One look for every figure: the same colour for the same split everywhere, report-sized fonts, Agg,
accuracies in % on an axis that stays inside their range, legends in the order of their values.

A figure is saved atomically (nnrun.io) as png, svg or pdf, so a folder never holds half a picture.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from nnrun.io import atomic_write_bytes

SPLIT_COLORS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
SPLIT_LINES = {"train": "-", "val": "--", "test": ":"}
FORMATS = ("png", "svg", "pdf")
DPI = 110
RC = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), with nnrun's style applied."""
    import matplotlib  # imported here: slow to load, and training imports the figures' modules

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(RC)
    return plt


def save(figure: Any, path: str | Path) -> Path:
    """Write `figure` to `path` (its suffix picks the format) atomically, and close it."""
    path = Path(path)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.suffix.lstrip("."), dpi=DPI)
    pyplot().close(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def loss_label(config: dict[str, Any]) -> str:
    kind = (config.get("loss") or {}).get("type", "loss") if isinstance(config.get("loss"), dict) else "loss"
    return {"softmax_cross_entropy": "cross-entropy loss", "logistic": "logistic loss", "hinge": "hinge loss",
            "mse": "squared error"}.get(kind, "loss")  # fmt: skip


def value_order(value: Any) -> tuple:
    """A sort key for parameter values in a legend or on an axis: numbers by value (4, 16, 64, where text
    would give 16, 4, 64), lists item by item, then text and booleans; None last. Mixed kinds never raise."""
    if value is None:
        return (3, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    if isinstance(value, (list, tuple)):
        return (1, tuple(value_order(item) for item in value))
    return (2, str(value))


def metric_range(metric: str) -> tuple[float | None, float | None]:
    """(lowest, highest) a metric can be: an accuracy lies in [0, 1], a loss is never negative."""
    if metric.endswith("acc"):
        return 0.0, 1.0
    if metric.endswith("loss"):
        return 0.0, None
    return None, None


def clipped(values: list[float], metric: str) -> list[float]:
    """`values` (the edges of a mean ± std band) moved inside the metric's range: no accuracy above 100 %."""
    low, high = metric_range(metric)
    low = -math.inf if low is None else low
    high = math.inf if high is None else high
    return [min(max(value, low), high) for value in values]


def metric_axis(ax: Any, metric: str) -> None:
    """Keep the y-axis of `metric` inside its range (a band near 100 % took it to 104 %), an accuracy's in %."""
    low, high = metric_range(metric)
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom if low is None else max(bottom, low), top if high is None else min(top, high))
    if metric.endswith("acc"):
        ax.yaxis.set_major_formatter(percent_ticks())


def percent_ticks() -> Any:
    """Tick labels of fractions in %, as the tables print accuracies: 0.95 -> `95 %`, 0.875 -> `87.5 %`."""
    from matplotlib.ticker import FuncFormatter  # imported here with matplotlib itself (pyplot)

    return FuncFormatter(lambda fraction, _: f"{100 * fraction:g} %")
