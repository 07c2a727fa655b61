"""What the first layer learned to look for: the first conv2d's filters, or for an MLP on images the first
dense layer's weights of each unit drawn at the image's shape.

Each filter is scaled on its own, symmetric about zero, so the pattern shows whatever its norm: grey
filters on a blue-white-red map (negative, zero, positive), colour filters as RGB about mid-grey.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnrun.errors import RunError
from nnrun.report.style import pyplot

GRID = 8  # up to GRID x GRID filters


def first_filters(model: Any, image_shape: tuple[int, ...] | None) -> tuple[np.ndarray, str]:
    """(n, C, h, w) weights of the first layer that looks at the image, and words for the figure's title."""
    for index, layer in enumerate(model.layers):
        if not layer.params:
            continue
        weight = next((array for key, array in layer.params.items() if key.endswith("weight")), None)
        where = f"layer {index} {layer.describe()}"
        if weight is not None and weight.ndim == 4:
            return weight, f"{where}: {weight.shape[0]} filters {weight.shape[2]}×{weight.shape[3]}"
        if weight is not None and weight.ndim == 2 and image_shape and weight.shape[0] == np.prod(image_shape):
            # a dense unit's incoming weights, one per pixel: the template it matches
            return weight.T.reshape(-1, *image_shape), f"{where}: {weight.shape[1]} units' input weights"
        break
    raise RunError("its first layer with weights is neither a conv2d nor a dense layer on image pixels")


def filters_figure(model: Any, image_shape: tuple[int, ...] | None, title: str) -> Any:
    weights, what = first_filters(model, image_shape)
    shown = weights[: GRID * GRID].astype(np.float64)
    channels = shown.shape[1]
    if channels not in (1, 3):  # neither grey nor RGB: the channels' mean is the honest single picture
        shown = shown.mean(axis=1, keepdims=True)
        what += f", mean over {channels} input channels"
    columns = min(GRID, len(shown))
    rows = -(-len(shown) // columns)
    plt = pyplot()
    cell = 1.2 if shown.shape[-1] < 12 else 1.0
    figure, axes = plt.subplots(rows, columns, figsize=(cell * columns + 0.4, cell * rows + 0.7), squeeze=False,
                                layout="constrained")  # fmt: skip
    for ax in axes.flat:
        ax.axis("off")
    for ax, kernel in zip(axes.flat, shown):
        extent = float(np.abs(kernel).max()) or 1.0
        if kernel.shape[0] == 3:
            ax.imshow(np.moveaxis(kernel / (2 * extent) + 0.5, 0, -1), interpolation="nearest")
        else:
            ax.imshow(kernel[0], cmap="RdBu_r", vmin=-extent, vmax=extent, interpolation="nearest")
    more = f" (the first {len(shown)})" if len(weights) > len(shown) else ""
    figure.suptitle(f"{title}: {what}{more}", fontsize=10)
    return figure
