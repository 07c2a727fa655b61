"""scikit-learn's bundled 8x8 handwritten digits: the offline image set for smoke tests and quick runs."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from nnrun.data.base import Loader, SplitSize
from nnrun.data.dataset import Dataset, Split
from nnrun.errors import DataError
from nnrun.registry import DATASETS


@DATASETS.register("digits")
class Digits(Loader):
    """8x8 handwritten digits bundled with scikit-learn (1797 images, 10 classes), input (1, 8, 8).

    Pixels are integers 0..16, kept as uint8 and scaled into [0, 1] by `batches` (x / 16). There is no
    official split: val and test are held out of all 1797, stratified by class and seeded from the run seed.
    """

    shape = (1, 8, 8)
    classes = 10
    builtin = True

    def __init__(
        self,
        *,
        val: Annotated[SplitSize, Field(description="validation examples: a fraction of all, or a count")] = 0.15,
        test: Annotated[SplitSize, Field(description="test examples: a fraction of all, or a count")] = 0.2,
        **common: Any,
    ):
        self.test = test
        super().__init__(val=val, **common)

    def load_raw(self, seed: int) -> Dataset:
        x, y = load_images()
        train = Split(x, y, scale=1 / 16)
        return Dataset(self.type_name, {"train": train}, self.shape, 10, [str(k) for k in range(10)])


@functools.cache
def load_images() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as read-only x: (1797, 1, 8, 8) uint8 in 0..16 and y: (1797,) int64."""
    table = shipped_table()
    if table is not None:
        images, target = table[:, :64], table[:, 64]
    else:
        from sklearn.datasets import load_digits

        try:
            bunch = load_digits()
        except OSError as error:  # the csv ships inside scikit-learn; this means a broken install
            raise DataError(f"cannot read scikit-learn's digits: {error}", hint="reinstall scikit-learn") from None
        images, target = bunch.images, bunch.target
    if not np.array_equal(images, np.round(images)) or images.min() < 0 or images.max() > 16:
        raise DataError("scikit-learn's digits are not integers in 0..16 as expected")
    x = images.astype(np.uint8).reshape(-1, 1, 8, 8)
    y = target.astype(np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def shipped_table() -> np.ndarray | None:
    """The (1797, 65) table that `sklearn.datasets.load_digits` reads (64 pixels, then the label), read
    straight from the file scikit-learn ships, or None where that file is not where it has always been.

    Importing sklearn.datasets costs far more than finding the package and reading its 1797 rows
    (figures in benchmarks/README.md).
    """
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    try:
        table = np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError):
        return None
    return table if table.shape == (1797, 65) else None
