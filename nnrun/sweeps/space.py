"""The parameter points of a sweep: every combination of a grid, or seeded draws for random search.

A point is {key path: value} in the order the spec lists its parameters. Random draws of floats keep six
significant digits, so that a trial's `--set` reads as a user would type it (optimizer.lr=0.000316228).
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np

from nnrun.config import Override, SweepConfig
from nnrun.config.sweep import linked_paths

Point = dict[str, Any]


def points(spec: SweepConfig) -> tuple[list[Point], int]:
    """The spec's points in order, and how many random draws repeated an earlier point (dropped)."""
    if spec.method == "grid":
        return grid(spec.parameters), 0
    drawn = draw(spec.parameters, spec.n_trials, spec.sampler_seed)
    unique: dict[str, Point] = {}
    for point in drawn:
        unique.setdefault(json.dumps(point, sort_keys=True), point)
    return list(unique.values()), len(drawn) - len(unique)


def grid(parameters: dict[str, Any]) -> list[Point]:
    """Every combination, the last parameter varying fastest (as nested loops written in spec order)."""
    paths = list(parameters)
    choices = [grid_values(parameters[path]) for path in paths]
    return [dict(zip(paths, combination)) for combination in itertools.product(*choices)]


def grid_values(values: Any) -> list[Any]:
    if isinstance(values, list):
        return values
    if values["distribution"] == "choice":
        return values["values"]
    return list(range(values["low"], values["high"] + 1))  # int: both ends included


def draw(parameters: dict[str, Any], n_trials: int, seed: int) -> list[Point]:
    """`n_trials` points, each parameter drawn in spec order from one generator seeded by `seed`."""
    rng = np.random.default_rng(seed)
    return [{path: sample(values, rng) for path, values in parameters.items()} for _ in range(n_trials)]


def sample(values: Any, rng: np.random.Generator) -> Any:
    if isinstance(values, list) or values["distribution"] == "choice":
        options = values if isinstance(values, list) else values["values"]
        return options[int(rng.integers(len(options)))]
    kind, low, high = values["distribution"], values["low"], values["high"]
    if kind == "int":
        return int(rng.integers(low, high + 1))
    if kind == "log_uniform":
        return round_significant(math.exp(rng.uniform(math.log(low), math.log(high))))
    return round_significant(rng.uniform(low, high))


def round_significant(value: float, digits: int = 6) -> float:
    return float(f"{value:.{digits}g}")


def point_overrides(point: Point) -> list[tuple[str, Override]]:
    """The point's `--set` overrides, each with the parameter key it comes from (linked keys give several)."""
    out = []
    for key, value in point.items():
        paths = linked_paths(key)
        values = value if len(paths) > 1 else [value]
        out += [(key, Override.of(path, item)) for path, item in zip(paths, values)]
    return out
