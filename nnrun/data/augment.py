"""Training-time image augmentation: random crops of a zero-padded image and random horizontal flips.

The trainer applies it to training batches only, after normalisation, with its own random stream.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field

from nnrun.errors import ConfigError

Shape = tuple[int, ...]


class AugmentConfig(BaseModel):
    """`data.augment`: random crop of the original size from the image padded by crop_padding zeros, and a flip."""

    model_config = ConfigDict(extra="forbid")

    crop_padding: Annotated[
        int, Field(ge=0, description="pixels of zeros added on every side before a random crop of the original size")
    ] = 4
    flip: Annotated[bool, Field(description="flip each image left-right with probability 0.5")] = True


def augment_shorthand(value: Any) -> Any:
    """`augment: true` means every default, `augment: false` none."""
    if value is True:
        return {}
    if value is False:
        return None
    return value


class Augment:
    """Random crop + horizontal flip of a batch of images (C, H, W), or of flattened images of that shape.

    The padding is zeros of the batch it is applied to: after `normalize: standardize` that is the
    training mean, as if the image had been padded with mean-coloured pixels. Vectorised NumPy, small next
    to a convolution step, so no kernel (figures in benchmarks/README.md).
    """

    def __init__(self, crop_padding: int, flip: bool, image_shape: Shape):
        if len(image_shape) != 3:
            raise ConfigError(
                f"augmentation needs images (C, H, W), but the examples have shape {tuple(image_shape)}",
                where="data.augment",
                hint="remove data.augment for feature data",
            )
        self.crop_padding = int(crop_padding)
        self.flip = bool(flip)
        self.image_shape = tuple(int(d) for d in image_shape)

    def __repr__(self) -> str:
        return f"Augment(crop_padding={self.crop_padding}, flip={self.flip}, image_shape={self.image_shape})"

    def __call__(self, xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A new augmented batch shaped like xb: (B, C, H, W) or (B, C*H*W); xb is not modified.

        Draws from rng, in this order: the (B, 2) crop offsets when crop_padding > 0, then B flips when flip.
        """
        n = len(xb)
        images = xb.reshape(n, *self.image_shape)
        c, h, w = self.image_shape
        p = self.crop_padding
        if p > 0:
            offsets = rng.integers(0, 2 * p + 1, size=(n, 2))
            padded = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=xb.dtype)
            padded[:, :, p : p + h, p : p + w] = images
            # every (h, w) window of each padded image; one fancy index picks each image's own window
            windows = sliding_window_view(padded, (h, w), axis=(2, 3))
            out = windows[np.arange(n), :, offsets[:, 0], offsets[:, 1]]
        else:
            out = images.copy()
        if self.flip:
            flipped = rng.random(n) < 0.5
            out[flipped] = out[flipped][..., ::-1]
        return out.reshape(xb.shape)
