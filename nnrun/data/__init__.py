"""Datasets: importing this package registers every loader in `nnrun.registry.DATASETS`.

`load_dataset(cfg["data"], seed)` turns the config's data section into a Dataset; `batches` iterates a split.
Every module in this folder is imported here, so a new dataset registers by being a file: no list to edit.
"""

import importlib
import pkgutil

from nnrun.data.augment import Augment, AugmentConfig
from nnrun.data.base import Loader
from nnrun.data.dataset import Dataset, Split, batches, num_batches
from nnrun.data.load import dataset_info, get_loader, load_dataset

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "Augment",
    "AugmentConfig",
    "Dataset",
    "Loader",
    "Split",
    "batches",
    "dataset_info",
    "get_loader",
    "load_dataset",
    "num_batches",
]
