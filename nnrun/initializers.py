"""Weight initializers, each a registered class called as init(shape, fan_in, fan_out, rng, dtype).

Specs in YAML are a name (`he_normal`) or a mapping (`{type: truncated_normal, std: 0.1}`).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from nnrun.errors import ConfigError
from nnrun.registry import INITIALIZERS, Configurable

Std = Annotated[float, Field(gt=0, description="standard deviation")]
Mean = Annotated[float, Field(description="mean")]
# The model-wide defaults (`model.weight_init`, `model.bias_init`), used wherever none is given.
DEFAULT_WEIGHT_INIT = "xavier_uniform"
DEFAULT_BIAS_INIT = "zeros"

Gain = Annotated[float, Field(gt=0, description="scale factor on the fan-based bound or std")]


class Initializer(Configurable):
    def __call__(self, shape, fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> np.ndarray:
        return self.sample(tuple(shape), fan_in, fan_out, rng).astype(dtype, copy=False)

    def sample(self, shape, fan_in, fan_out, rng) -> np.ndarray:
        raise NotImplementedError


def get(spec: str | dict[str, Any] | Initializer, *, where: str | None = None) -> Initializer:
    """Resolve a name, a `{type: ...}` mapping or an Initializer into an Initializer (Keras' initializers.get)."""
    if isinstance(spec, Initializer):
        return spec
    return INITIALIZERS.build(spec, where=where)


@INITIALIZERS.register("zeros")
class Zeros(Initializer):
    """All zeros."""

    def sample(self, shape, fan_in, fan_out, rng):
        return np.zeros(shape)


@INITIALIZERS.register("constant")
class Constant(Initializer):
    """Every entry equal to `value`."""

    def __init__(self, value: Annotated[float, Field(description="the constant")] = 0.0):
        self.value = value

    def sample(self, shape, fan_in, fan_out, rng):
        return np.full(shape, self.value)


@INITIALIZERS.register("normal")
class Normal(Initializer):
    """N(mean, std²). cs231n's `weight_scale` is normal with std = weight_scale."""

    def __init__(self, std: Std = 0.01, mean: Mean = 0.0):
        self.std = std
        self.mean = mean

    def sample(self, shape, fan_in, fan_out, rng):
        return rng.normal(self.mean, self.std, size=shape)


@INITIALIZERS.register("truncated_normal")
class TruncatedNormal(Initializer):
    """N(mean, std²) redrawn outside mean ± 2·std, as TensorFlow's truncated_normal does."""

    def __init__(self, std: Std = 0.1, mean: Mean = 0.0):
        self.std = std
        self.mean = mean

    def sample(self, shape, fan_in, fan_out, rng):
        return self.mean + self.std * truncated_standard_normal(shape, rng)


@INITIALIZERS.register("uniform")
class Uniform(Initializer):
    """U(low, high)."""

    def __init__(
        self,
        low: Annotated[float, Field(description="lower bound")] = -0.05,
        high: Annotated[float, Field(description="upper bound")] = 0.05,
    ):
        if not low < high:
            raise ConfigError(f"uniform needs low < high, got low={low}, high={high}")
        self.low = low
        self.high = high

    def sample(self, shape, fan_in, fan_out, rng):
        return rng.uniform(self.low, self.high, size=shape)


@INITIALIZERS.register("xavier_normal")
class XavierNormal(Initializer):
    """Glorot & Bengio: N(0, 2 / (fan_in + fan_out)) × gain²."""

    def __init__(self, gain: Gain = 1.0):
        self.gain = gain

    def sample(self, shape, fan_in, fan_out, rng):
        return rng.normal(0.0, self.gain * math.sqrt(2.0 / (fan_in + fan_out)), size=shape)


@INITIALIZERS.register("xavier_uniform")
class XavierUniform(Initializer):
    """Glorot & Bengio: U(±gain·sqrt(6 / (fan_in + fan_out)))."""

    def __init__(self, gain: Gain = 1.0):
        self.gain = gain

    def sample(self, shape, fan_in, fan_out, rng):
        limit = self.gain * math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape)


@INITIALIZERS.register("he_normal")
class HeNormal(Initializer):
    """He et al.: N(0, gain² · 2 / fan_in), for relu networks."""

    def __init__(self, gain: Gain = 1.0):
        self.gain = gain

    def sample(self, shape, fan_in, fan_out, rng):
        return rng.normal(0.0, self.gain * math.sqrt(2.0 / fan_in), size=shape)


@INITIALIZERS.register("he_uniform")
class HeUniform(Initializer):
    """He et al.: U(±gain·sqrt(6 / fan_in))."""

    def __init__(self, gain: Gain = 1.0):
        self.gain = gain

    def sample(self, shape, fan_in, fan_out, rng):
        limit = self.gain * math.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, size=shape)


# The common aliases resolve to the same classes.
INITIALIZERS.register("glorot_normal")(type("GlorotNormal", (XavierNormal,), {"__doc__": XavierNormal.__doc__}))
INITIALIZERS.register("glorot_uniform")(type("GlorotUniform", (XavierUniform,), {"__doc__": XavierUniform.__doc__}))
INITIALIZERS.register("kaiming_normal")(type("KaimingNormal", (HeNormal,), {"__doc__": HeNormal.__doc__}))
INITIALIZERS.register("kaiming_uniform")(type("KaimingUniform", (HeUniform,), {"__doc__": HeUniform.__doc__}))


def truncated_standard_normal(shape, rng: np.random.Generator) -> np.ndarray:
    values = rng.standard_normal(size=shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(size=int(outside.sum()))
        outside = np.abs(values) > 2.0
    return values
