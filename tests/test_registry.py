"""Every registered class, in every registry: its config round-trips, and unknown names are helpful errors."""

from __future__ import annotations

import pytest

import nnrun.config  # noqa: F401  (fills every registry)
from nnrun.errors import ConfigError
from nnrun.registry import DATASETS, INITIALIZERS, LAYERS, LOSSES, OPTIMIZERS, SCHEDULES

# sample values for arguments without a default
REQUIRED = {"units": 7, "filters": 3, "kernel": 3, "every": 2, "path": "x.npz"}
REGISTRIES = [LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, INITIALIZERS, DATASETS]
ENTRIES = [(registry, name) for registry in REGISTRIES for name in registry.names()]


@pytest.mark.parametrize(("registry", "name"), ENTRIES, ids=[f"{r.kind}-{n}" for r, n in ENTRIES])
def test_get_config_round_trips(registry, name):
    fields = registry.schema(name).model_fields
    args = {key: REQUIRED[key] for key, field in fields.items() if field.is_required() and key != "type"}
    instance = registry.get(name)(**args)
    config = instance.get_config()
    assert config["type"] == name
    assert set(config) == set(fields)
    rebuilt = registry.get(config["type"])(**{k: v for k, v in config.items() if k != "type"})
    assert rebuilt.get_config() == config


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.kind)
def test_unknown_name_lists_the_registered_ones(registry):
    name = registry.names()[0]
    with pytest.raises(ConfigError) as info:
        registry.get(name + "x")
    assert f"did you mean '{name}'" in str(info.value)
    assert all(n in info.value.hint for n in registry.names())


def test_required_layers_are_registered():
    assert set(LAYERS.names()) >= {"dense", "conv2d", "maxpool2d", "avgpool2d", "flatten", "dropout", "batchnorm",
                                   "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "identity"}  # fmt: skip
    assert set(LOSSES.names()) >= {"softmax_cross_entropy", "logistic", "hinge", "mse"}
    assert set(OPTIMIZERS.names()) >= {"sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam"}
    assert set(SCHEDULES.names()) >= {"constant", "step", "exponential", "cosine"}
