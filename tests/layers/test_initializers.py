"""Initializers: shapes and dtypes, sample statistics, bounds, spec resolution and config round trips."""

import math

import numpy as np
import pytest

from nnrun import initializers
from nnrun.errors import ConfigError
from nnrun.registry import INITIALIZERS

FAN_IN, FAN_OUT = 300, 200
SHAPE = (FAN_IN, FAN_OUT)  # 60 000 draws: the sample std is within ~0.6% of the true one (3 sigma)
STD_OF_NORMAL_TRUNCATED_AT_2 = 0.8796  # sqrt(1 - 2·2·φ(2) / (Φ(2) - Φ(-2)))

# name -> (expected mean, expected std, bound on |x| or None) for the default config
EXPECTED = {
    "zeros": (0.0, 0.0, 0.0),
    "constant": (0.0, 0.0, 0.0),
    "normal": (0.0, 0.01, None),
    "truncated_normal": (0.0, 0.1 * STD_OF_NORMAL_TRUNCATED_AT_2, 0.2),
    "uniform": (0.0, 0.1 / math.sqrt(12), 0.05),
    "xavier_normal": (0.0, math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    "glorot_normal": (0.0, math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    "xavier_uniform": (0.0, math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "glorot_uniform": (0.0, math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "he_normal": (0.0, math.sqrt(2 / FAN_IN), None),
    "kaiming_normal": (0.0, math.sqrt(2 / FAN_IN), None),
    "he_uniform": (0.0, math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    "kaiming_uniform": (0.0, math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
}


def draw(spec, shape=SHAPE, dtype=np.float64, seed=0):
    return initializers.get(spec)(shape, FAN_IN, FAN_OUT, np.random.default_rng(seed), dtype)


def test_every_initializer_is_covered():
    assert sorted(EXPECTED) == INITIALIZERS.names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (4, 5), (8, 3, 3, 3)])
def test_shape_and_dtype(name, dtype, shape):
    values = draw(name, shape, dtype)
    assert values.shape == shape
    assert values.dtype == dtype
    assert values.flags.c_contiguous
    assert np.all(np.isfinite(values))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_statistics(name):
    mean, std, bound = EXPECTED[name]
    values = draw(name)
    assert values.std() == pytest.approx(std, rel=0.02, abs=1e-12)
    assert abs(values.mean() - mean) <= 5 * std / math.sqrt(values.size) + 1e-12
    if bound is not None:
        assert np.abs(values).max() <= bound
        if bound > 0:
            assert np.abs(values).max() > 0.95 * bound  # the whole allowed range is used


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_same_seed_same_draw(name):
    np.testing.assert_array_equal(draw(name, seed=4), draw(name, seed=4))
    if EXPECTED[name][1] > 0:
        assert not np.array_equal(draw(name, seed=4), draw(name, seed=5))


def test_truncated_normal_stays_within_two_std():
    values = draw({"type": "truncated_normal", "std": 0.5, "mean": 1.0})
    assert np.all(np.abs(values - 1.0) <= 1.0)
    assert values.mean() == pytest.approx(1.0, abs=0.01)
    assert values.std() == pytest.approx(0.5 * STD_OF_NORMAL_TRUNCATED_AT_2, rel=0.02)
    assert np.abs(values - 1.0).max() > 0.98  # truncated at 2 std, not narrower


def test_configured_parameters():
    assert np.all(draw({"type": "constant", "value": 0.25}, (3, 4)) == 0.25)
    normal = draw({"type": "normal", "std": 2.0, "mean": -1.0})
    assert normal.mean() == pytest.approx(-1.0, abs=0.05) and normal.std() == pytest.approx(2.0, rel=0.02)
    uniform = draw({"type": "uniform", "low": 1.0, "high": 3.0})
    assert uniform.min() >= 1.0 and uniform.max() < 3.0
    gained = draw({"type": "he_uniform", "gain": 2.0})
    assert np.abs(gained).max() <= 2.0 * math.sqrt(6 / FAN_IN)
    assert gained.std() == pytest.approx(2.0 * math.sqrt(2 / FAN_IN), rel=0.02)
    xavier = draw({"type": "xavier_normal", "gain": 0.5})
    assert xavier.std() == pytest.approx(0.5 * math.sqrt(2 / (FAN_IN + FAN_OUT)), rel=0.02)


def test_he_uses_fan_in_and_glorot_both_fans():
    rng = np.random.default_rng(0)
    wide = initializers.get("he_normal")((200, 400), 200, 400, rng, np.float64)
    assert wide.std() == pytest.approx(math.sqrt(2 / 200), rel=0.02)
    glorot = initializers.get("glorot_uniform")((200, 400), 200, 400, rng, np.float64)
    assert np.abs(glorot).max() <= math.sqrt(6 / 600)
    assert np.abs(glorot).max() > 0.99 * math.sqrt(6 / 600)


def test_get_resolves_names_mappings_and_instances():
    by_name = initializers.get("he_normal")
    assert isinstance(by_name, initializers.HeNormal) and by_name.gain == 1.0
    by_mapping = initializers.get({"type": "truncated_normal", "std": 0.3})
    assert isinstance(by_mapping, initializers.TruncatedNormal) and by_mapping.std == 0.3 and by_mapping.mean == 0.0
    assert initializers.get(by_mapping) is by_mapping
    assert isinstance(initializers.get("glorot_uniform"), initializers.XavierUniform)
    assert isinstance(initializers.get("kaiming_normal"), initializers.HeNormal)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_round_trip(name):
    config = initializers.get(name).get_config()
    assert config["type"] == name
    assert initializers.get(config).get_config() == config


def test_unknown_names_and_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="did you mean 'he_normal'") as error:
        initializers.get("he_normall", where="layer fc1: weight_init")
    assert "layer fc1: weight_init" in str(error.value)
    assert "xavier_uniform" in error.value.hint  # the hint lists what is registered
    with pytest.raises(ConfigError, match="did you mean 'truncated_normal'"):
        initializers.get({"type": "truncated_norm"})
    with pytest.raises(ConfigError, match="unknown key"):
        initializers.get({"type": "normal", "stdev": 0.1})
    with pytest.raises(ConfigError, match="std"):
        initializers.get({"type": "normal", "std": -1})
    with pytest.raises(ConfigError, match="type"):
        initializers.get({"std": 0.1})
