"""Datasets that configs may already name but this version cannot load yet (they need downloads).

They are registered so that a config naming them validates; `load` raises a DataError that says so.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from nnrun.data.base import Dataset, Loader, SplitSize
from nnrun.errors import DataError
from nnrun.registry import DATASETS

Path = Annotated[str | None, Field(description="folder holding the downloaded files; null = the default cache")]
Val = Annotated[SplitSize, Field(description="validation examples taken from the training set: a fraction or a count")]


class NotAvailable(Loader):
    def __init__(self, path: str | None, val: int | float):
        self.path = path
        self.val = val

    def load(self, seed: int) -> Dataset:
        raise DataError(
            f"the {self.type_name} loader is not available yet in this version",
            where="data.dataset",
            hint="use `dataset: digits` (8x8 digits bundled with scikit-learn) or a synthetic set "
            "(moons, circles, spirals, xor), which need no download",
        )


@DATASETS.register("mnist")
class Mnist(NotAvailable):
    """MNIST handwritten digits, 28x28 grey, 10 classes (not available yet in this version)."""

    def __init__(self, path: Path = None, val: Val = 5000):
        super().__init__(path, val)


@DATASETS.register("fashion_mnist")
class FashionMnist(NotAvailable):
    """Fashion-MNIST clothing images, 28x28 grey, 10 classes (not available yet in this version)."""

    def __init__(self, path: Path = None, val: Val = 5000):
        super().__init__(path, val)


@DATASETS.register("cifar10")
class Cifar10(NotAvailable):
    """CIFAR-10 photos, 32x32 colour, 10 classes (not available yet in this version)."""

    def __init__(self, path: Path = None, val: Val = 5000):
        super().__init__(path, val)


@DATASETS.register("notmnist")
class NotMnist(NotAvailable):
    """notMNIST letters A-J, 28x28 grey, 10 classes (not available yet in this version)."""

    def __init__(
        self,
        path: Path = None,
        val: Val = 5000,
        test: Annotated[SplitSize, Field(description="test examples: a fraction or a count")] = 0.1,
    ):
        super().__init__(path, val)
        self.test = test
