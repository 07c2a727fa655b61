"""From a config's data section to a Dataset: the loader it names, validated, then loaded and preprocessed; or
to a DataShape, the same dataset's shape and classes without loading it."""

from __future__ import annotations

import inspect
from typing import Any

from nnrun.data.base import Loader
from nnrun.data.dataset import Dataset, DataShape
from nnrun.errors import ConfigError
from nnrun.registry import DATASETS


def get_loader(data_cfg: dict[str, Any]) -> Loader:
    """Validate a data section (`{dataset: name, ...}`) and construct its loader."""
    if not isinstance(data_cfg, dict) or not ({"dataset", "type"} & data_cfg.keys()):
        raise ConfigError(
            f"the data section must be a mapping with a 'dataset' key, got {data_cfg!r}",
            where="data",
            hint=f"datasets: {', '.join(DATASETS.names())}",
        )
    spec = dict(data_cfg)
    if "dataset" in spec:
        # `type` is accepted too, for a section the config module has already renamed
        if "type" in spec:
            raise ConfigError("give the dataset once, as `dataset:` (not also `type:`)", where="data")
        spec["type"] = spec.pop("dataset")
    return DATASETS.build(spec, where="data")


def load_dataset(data_cfg: dict[str, Any], seed: int) -> Dataset:
    """The Dataset for a config's data section, preprocessed; the seed fixes generated points, splits, subsamples."""
    return get_loader(data_cfg).load(seed)


def dataset_info() -> dict[str, str]:
    """Registered dataset name -> one-line description."""
    return {name: (inspect.getdoc(cls) or "").split("\n")[0] for name, cls in DATASETS.items()}


def peek_dataset(data_cfg: dict[str, Any]) -> DataShape | None:
    """The input_shape and class_names `load_dataset` would give, without loading the data and never downloading.

    None when the dataset can only be described by loading it; DataNotFound (a DataError) when the user's
    files are not there. See `Loader.peek`.
    """
    return get_loader(data_cfg).peek()
