"""From a config's data section to a Dataset: the loader it names, validated, then loaded and preprocessed."""

from __future__ import annotations

import inspect
from typing import Any

from nnrun.data.base import Loader
from nnrun.data.dataset import Dataset
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
