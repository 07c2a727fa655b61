"""One look for every figure: the same colour for the same split everywhere, report-sized fonts, Agg.

A figure is saved atomically (nnrun.io) as png, svg or pdf, so a folder never holds half a picture.
"""

from __future__ import annotations

import io
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
