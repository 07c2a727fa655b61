"""Reading folders of PNG/JPEG images (one sub-folder per class) into one uint8 (N, C, H, W) array.

Shared by notMNIST's letter folders and the `image_folder` dataset. Pillow comes with matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnrun.errors import DataError

SUFFIXES = (".png", ".jpg", ".jpeg")

# Pillow modes by what they hold. 16-bit and float modes are refused rather than guessed at:
# Pillow's convert("L") clips 16-bit values instead of scaling them.
GREY_MODES = {"1", "L", "LA", "La"}
RGB_MODES = {"RGB", "RGBA", "RGBa", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"}
CHANNELS = {"grey": 1, "rgb": 3}


class UnreadableImage(Exception):
    """Pillow could not decode the file (empty, truncated, not an image)."""


@dataclass
class ImageSet:
    """x: (N, C, H, W) uint8; y: (N,) int64; skipped: files that could not be decoded (when skipping)."""

    x: np.ndarray
    y: np.ndarray
    skipped: list[Path] = field(default_factory=list)


def image_files(folder: Path) -> list[Path]:
    """The PNG and JPEG files in `folder` (not hidden ones), sorted by name so the order is reproducible."""
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def class_folders(root: Path) -> list[Path]:
    """The sub-folders of `root` (not hidden ones), sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def colour(mode: str, path: Path) -> str:
    """'grey' or 'rgb' for a Pillow mode."""
    if mode in GREY_MODES:
        return "grey"
    if mode in RGB_MODES:
        return "rgb"
    raise DataError(
        f"{path}: image mode {mode!r} (16-bit or floating point) is not supported",
        hint="save the images as 8-bit grey or RGB PNG/JPEG",
    )


def open_image(path: Path):
    """The decoded Pillow image; UnreadableImage when the file is empty, truncated or not an image."""
    from PIL import Image  # imported here: only image datasets need it

    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # Pillow reports a bad file as UnidentifiedImageError (an OSError), OSError("truncated"), or
        # SyntaxError/ValueError from inside a decoder
        raise UnreadableImage(f"{type(error).__name__}: {error}") from None


def unreadable(path: Path, error: UnreadableImage) -> DataError:
    return DataError(f"cannot read image {path}: {error}", hint="delete or replace the file")


def image_shape(path: Path, mode: str = "auto") -> tuple[int, int, int]:
    """(C, H, W) of the image at `path` as read_labelled_images reads it when it comes first."""
    try:
        image = open_image(path)
    except UnreadableImage as error:
        raise unreadable(path, error) from None
    kind = colour(image.mode, path)
    return CHANNELS[kind if mode == "auto" else mode], image.size[1], image.size[0]


def read_labelled_images(
    files: Sequence[tuple[Path, int]],
    *,
    mode: str = "auto",
    size: tuple[int, int] | None = None,
    skip_unreadable: bool = False,
) -> ImageSet:
    """Decode (file, label) pairs into one preallocated uint8 array.

    mode: "grey" or "rgb" converts every image; "auto" takes the first image's and requires the rest
    to match. size: required (width, height), else the first image's. A file that cannot be decoded
    is a DataError, or with skip_unreadable is left out and listed in `skipped`.
    """
    skipped: list[Path] = []
    x: np.ndarray | None = None
    y = np.empty(len(files), dtype=np.int64)
    first: Path | None = None
    auto = mode == "auto"
    n = 0
    for path, label in files:
        try:
            image = open_image(path)
        except UnreadableImage as error:
            if skip_unreadable:
                skipped.append(path)
                continue
            raise unreadable(path, error) from None
        kind = colour(image.mode, path)
        if x is None:
            first = path
            mode = kind if auto else mode
            size = size or image.size
            x = np.empty((len(files), CHANNELS[mode], size[1], size[0]), dtype=np.uint8)
        elif auto and kind != mode:
            raise DataError(
                f"{path} is a {kind} image but {first} is {mode}",
                hint="set `mode: grey` or `mode: rgb` in the data section to convert every image",
            )
        if image.size != size:
            like = f" like {first}" if first != path else ""
            raise DataError(
                f"{path} is {image.size[0]}x{image.size[1]} pixels, expected {size[0]}x{size[1]}{like}",
                hint="all images must have the same size: resize them first",
            )
        x[n] = pixels(image, mode)
        y[n] = label
        n += 1
    if x is None:
        return ImageSet(np.empty((0, 1, 0, 0), dtype=np.uint8), y[:0], skipped)
    return ImageSet(x[:n], y[:n], skipped)


def pixels(image, mode: str) -> np.ndarray:
    """(C, H, W) uint8 pixels of a Pillow image in 'grey' (C=1) or 'rgb' (C=3)."""
    if mode == "grey":
        return np.asarray(image if image.mode == "L" else image.convert("L"))[None]
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB")).transpose(2, 0, 1)
