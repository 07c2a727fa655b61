"""`method: tpe`: Optuna's TPE sampler asked for each round's points, from the results so far.

Optuna is a library here, never the driver: only this module imports it, and only the sweep's driver calls
it. Before every round an in-memory study is rebuilt from the rounds already run, each suggestion told in
its fixed order with its point's result as the summary reads it (the seed mean of the metric). A point the
schedule stopped is told as pruned, with the value at its last rung as the intermediate value there; a point
without a result (every seed failed) is told as failed. The sampler is then seeded from
(sampler_seed, round) and asked for `batch` points one after another. So a round's points are a pure function
of the spec and of the results told before it: not of the worker count, Dask, the order trials finish in, or
a restart of the driver. rounds.json keeps every round's points, so a resumed study continues them exactly.

Choices are told to Optuna as their JSON text: it takes only scalars, and would confuse True with 1.
Floats are kept to six significant digits, as random search's are, so that a trial's --set reads as typed.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnrun.config import LineMap, SweepConfig
from nnrun.errors import ConfigError
from nnrun.sweeps.space import Point, round_significant

INSTALL = "pip install 'nnrun[tpe]'"


def optuna() -> Any:
    """The optuna module, or a ConfigError naming the install command."""
    try:
        import optuna as module
    except ImportError:
        raise ConfigError(
            "method: tpe asks Optuna for its points, and Optuna (an optional extra) is not installed",
            hint=f"install it with: {INSTALL}",
        ) from None
    module.logging.set_verbosity(logging.WARNING)  # it would log every told trial
    return module


@dataclass(frozen=True)
class Told:
    """A suggestion's result, as Optuna is told it."""

    point: Point
    state: str  # complete, pruned or failed
    value: float | None = None
    step: int | None = None  # pruned: the rung (in the sweep's resource) it stopped at


class Space:
    """The spec's parameters as Optuna distributions, with the codes between points and Optuna's params."""

    def __init__(self, spec: SweepConfig, source: str = "<dict>", lines: LineMap | None = None):
        module = optuna()
        self.parameters = spec.parameters
        self.distributions: dict[str, Any] = {}
        for key, values in spec.parameters.items():
            try:
                self.distributions[key] = distribution(module, values)
            except (ValueError, TypeError) as error:
                line = (lines or {}).get(("sweep", "parameters", key))
                raise ConfigError(
                    f"Optuna cannot take this distribution: {error}",
                    where=f"{source}:{line[0]}" if line else f"{source}: sweep.parameters.{key}",
                    hint="give uniform, log_uniform or int with numbers low < high, or choice with distinct values",
                ) from None

    def encode(self, point: Point) -> dict[str, Any]:
        """Optuna's params for a point."""
        return {key: code(value) if kind(self.parameters[key]) == "choice" else value for key, value in point.items()}

    def decode(self, params: dict[str, Any]) -> Point:
        """The point for Optuna's params, in spec order: choices decoded, floats to six digits within the range."""
        point = {}
        for key, values in self.parameters.items():
            value, sort = params[key], kind(values)
            if sort == "choice":
                options = values if isinstance(values, list) else values["values"]
                value = next(option for option in options if code(option) == value)
            elif sort == "int":
                value = int(value)
            else:
                value = min(max(round_significant(float(value)), values["low"]), values["high"])
            point[key] = value
        return point


def distribution(module: Any, values: Any) -> Any:
    sort = kind(values)
    if sort == "choice":
        options = values if isinstance(values, list) else values["values"]
        return module.distributions.CategoricalDistribution([code(option) for option in options])
    if sort == "int":
        return module.distributions.IntDistribution(values["low"], values["high"])
    return module.distributions.FloatDistribution(values["low"], values["high"], log=sort == "log_uniform")


def kind(values: Any) -> str:
    return "choice" if isinstance(values, list) else values["distribution"]


def code(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def round_seed(sampler_seed: int, number: int) -> int:
    """The sampler's seed for round `number`: the same for a resumed study as for an uninterrupted one."""
    return int(np.random.SeedSequence([sampler_seed, number]).generate_state(1)[0])


def suggest(space: Space, spec: SweepConfig, goal: str, told: Sequence[Told], number: int, size: int) -> list[Point]:
    """Round `number`'s `size` points: a study rebuilt from `told`, in order, then the sampler asked."""
    study = rebuild(space, spec, goal, told, number)
    # asked one after another: the points asked before are running, and the sampler spreads the rest around them
    return [space.decode(study.ask(space.distributions).params) for _ in range(size)]


def rebuild(space: Space, spec: SweepConfig, goal: str, told: Sequence[Told], number: int) -> Any:
    """An in-memory Optuna study holding every told result in order, its TPE sampler seeded for the round."""
    module = optuna()
    states = module.trial.TrialState
    study = module.create_study(
        direction="maximize" if goal == "max" else "minimize",
        sampler=module.samplers.TPESampler(seed=round_seed(spec.sampler_seed, number)),
    )
    trials = []
    for result in told:
        options: dict[str, Any] = {"params": space.encode(result.point), "distributions": space.distributions}
        if result.state == "complete":
            options.update(state=states.COMPLETE, value=result.value)
        elif result.state == "pruned":
            options.update(state=states.PRUNED, intermediate_values={result.step: result.value})
        else:
            options.update(state=states.FAIL)
        trials.append(module.trial.create_trial(**options))
    study.add_trials(trials)
    return study


def told_result(point: Point, summary: dict[str, Any], metric: str, scheduled: bool) -> Told:
    """A point's result from its summary row: its seed mean at the top (complete) or at the rung the schedule
    stopped it at (pruned), failed when no seed gave a finite value."""
    value = summary.get(f"{metric}_mean")
    if value is None or not math.isfinite(value):
        return Told(point, "failed")
    if scheduled and summary.get("stopped"):
        return Told(point, "pruned", float(value), int(summary["rung"]))
    return Told(point, "complete", float(value))


def timed_suggest(*args: Any) -> tuple[list[Point], float]:
    """suggest() and the seconds it took (rounds.json keeps them: the driver's own time per round)."""
    start = time.perf_counter()
    found = suggest(*args)
    return found, time.perf_counter() - start
