"""Datasets: importing this package registers every loader in `nnrun.registry.DATASETS`.

`load_dataset(cfg["data"], seed)` turns the config's data section into a Dataset; `batches` iterates a split.
`peek_dataset(cfg["data"])` gives its input shape and classes without loading it (`nnrun check`).
Every module in this folder is imported here, so a new dataset registers by being a file: no list to edit.
"""

import importlib
import pkgutil

from nnrun.data.augment import Augment, AugmentConfig
from nnrun.data.base import Loader
from nnrun.data.dataset import Dataset, DataShape, Split, batches, num_batches
from nnrun.data.load import dataset_info, get_loader, load_dataset, peek_dataset
from nnrun.data.locate import DataNotFound

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "Augment",
    "AugmentConfig",
    "DataNotFound",
    "DataShape",
    "Dataset",
    "Loader",
    "Split",
    "batches",
    "dataset_info",
    "get_loader",
    "load_dataset",
    "num_batches",
    "peek_dataset",
]
