"""The run config: schema, YAML source with line numbers, `--set` overrides, validation and the reference.

schema.py     the pydantic sections (Config, ModelConfig, SweepConfig, ...) and every default, stated once
source.py     YAML reading: safe, duplicate keys refused, a line for every key path, size and depth limits
overrides.py  `--set key.path=value`, parsed and applied (the API a sweep calls too)
sweep.py      the checks of sweep.parameters, one entry at a time
validate.py   the one validation path: load_config, config_from_dict
locate.py     where a problem is: the override, else the file's line
reference.py  the Markdown reference of every key
"""

from nnrun.config.locate import LineMap
from nnrun.config.overrides import Override, apply_overrides
from nnrun.config.reference import config_reference
from nnrun.config.schema import (
    Config,
    EarlyStoppingConfig,
    ModelConfig,
    OptimizerConfig,
    SweepConfig,
    SweepMetric,
    SweepSchedule,
    TrainConfig,
    metric_direction,
)
from nnrun.config.source import parse_yaml, read_yaml
from nnrun.config.validate import config_from_dict, load_config, read_config, validate
from nnrun.io import dump_yaml

__all__ = [
    "Config",
    "LineMap",
    "EarlyStoppingConfig",
    "ModelConfig",
    "OptimizerConfig",
    "Override",
    "SweepConfig",
    "SweepMetric",
    "SweepSchedule",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_reference",
    "dump_yaml",
    "load_config",
    "metric_direction",
    "parse_yaml",
    "read_config",
    "read_yaml",
    "validate",
]
