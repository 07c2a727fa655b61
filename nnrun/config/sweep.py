"""The checks of `sweep.parameters`, each entry at its own key path (the schema sees only a mapping there).

The section's other keys are in schema.py (SweepConfig). `nnrun train` ignores the section (and says so);
`nnrun sweep` turns it into trials (nnrun.sweeps). The keys are checked with the rest of the config, so
that a mistake is named with its file line.

A parameter is a `--set` key path with its values:
    model.hidden.units: [100, 500]                                   a list: the grid's values, or a choice
    optimizer.lr: {distribution: log_uniform, low: 1.0e-4, high: 0.1}    random and tpe only
    model.hidden.units: {distribution: int, low: 10, high: 100}      random draws; a grid takes every int
    loss, model.out.units: [[logistic, 1], [softmax_cross_entropy, 2]]   linked: paths set together
"""

from __future__ import annotations

import importlib.util
import json
import math
from typing import Any

from nnrun.io import inline
from nnrun.registry import Problem

DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int")
GRID_INT_LIMIT = 1000  # an int range a grid expands into more values than this is surely a mistake


def parameter_problems(sweep: Any) -> list[Problem]:
    """Problems with the `sweep.parameters` entries, each at its own key path, and with tpe's own keys."""
    if not isinstance(sweep, dict):
        return []
    problems = search_problems(sweep)
    if not isinstance(sweep.get("parameters"), dict):
        return problems
    method = sweep.get("method", "grid")
    for key, values in sweep["parameters"].items():
        loc = ("sweep", "parameters", key)
        paths = linked_paths(key) if isinstance(key, str) else [key]
        message = next(filter(None, map(_path_problem, paths)), None) or _values_problem(values, method)
        if message is None and len(paths) > 1:
            message = _linked_problem(values, len(paths))
        if message:
            problems.append(Problem(loc, message, at_key=message.startswith("the key")))
    return problems


def search_problems(sweep: dict[str, Any]) -> list[Problem]:
    """tpe's keys: `batch` only with it, n_trials at least batch, and Optuna installed."""
    method, batch, n_trials = sweep.get("method", "grid"), sweep.get("batch"), sweep.get("n_trials")
    if method != "tpe":
        if batch is None:
            return []
        return [
            Problem(("sweep", "batch"), f"batch applies to method: tpe; {method} search has no rounds (drop batch)")
        ]
    problems = []
    if not optuna_installed():
        problems.append(
            Problem(
                ("sweep", "method"),
                "method: tpe asks Optuna for its points, and Optuna (an optional extra) is not installed; "
                "install it with: pip install 'nnrun[tpe]'",
            )
        )
    numbers = [value for value in (batch, n_trials) if isinstance(value, int) and not isinstance(value, bool)]
    if len(numbers) == 2 and 0 < n_trials < batch:
        problems.append(
            Problem(
                ("sweep", "n_trials"),
                f"n_trials ({n_trials}) is below batch ({batch}), the points each round asks for; raise n_trials "
                "or lower batch",
            )
        )
    return problems


def optuna_installed() -> bool:
    return importlib.util.find_spec("optuna") is not None


BUDGET_KEYS = ("train.epochs", "train.max_steps")


def schedule_problems(config: Any) -> list[Problem]:
    """Problems of `sweep.schedule` against the rest of a valid Config: its budget is the last rung, so it
    must be above `min` and the same for every point. The rungs against the evaluations are checked per point
    by the sweep's plan (they may need the data's size)."""
    sweep = config.sweep
    if sweep is None or sweep.schedule is None:
        return []
    problems = []
    for key in sweep.parameters:
        paths = linked_paths(key) if isinstance(key, str) else []
        if any(path in BUDGET_KEYS or path == "train" for path in paths):
            problems.append(
                Problem(
                    ("sweep", "parameters", key),
                    "a schedule trains every point to the same maximum, the config's budget, so the budget cannot "
                    "be a parameter; set it in the config's train: section",
                    at_key=True,
                )
            )
    train = config.train
    unit, maximum = ("steps", train.max_steps) if train.max_steps else ("epochs", train.epochs)
    if sweep.schedule.min >= maximum:
        key = "train.max_steps" if unit == "steps" else "train.epochs"
        problems.append(
            Problem(
                ("sweep", "schedule", "min"),
                f"the first rung, {sweep.schedule.min} {unit}, is not below the maximum, {key} = {maximum}; "
                "lower min or raise the budget",
            )
        )
    return problems


def linked_paths(key: str) -> list[str]:
    """The key paths a parameter sets: one, or several written `a.b, c.d` whose values go together."""
    return [path.strip() for path in key.split(",")]


def _linked_problem(values: Any, count: int) -> str | None:
    options = values if isinstance(values, list) else values.get("values")
    if not isinstance(options, list):
        return f"linked paths take a list of [{count} values] entries, one value per path"
    for option in options:
        if not isinstance(option, list) or len(option) != count:
            return f"each entry of linked paths must be a list of {count} values, one per path (got {inline(option)})"
    return None


def _repeated(values: list[Any]) -> str | None:
    seen = set()
    for value in values:
        key = json.dumps(value, sort_keys=True, default=str)
        if key in seen:
            return inline(value)
        seen.add(key)
    return None


def _path_problem(path: Any) -> str | None:
    if not isinstance(path, str) or not path:
        return "the key must be a --set key path such as model.hidden.units"
    root = path.split(".")[0].split("[")[0]
    if root == "seed":
        return "the key is the run seed: list the seeds in sweep.seeds, which every point is trained with"
    if root == "sweep":
        return "the key points into the sweep section itself; a parameter varies the run config"
    return None


def _values_problem(values: Any, method: str) -> str | None:
    if isinstance(values, list):
        if not values:
            return "an empty list of values; give at least one"
        repeated = _repeated(values) if method == "tpe" else None
        return f"the value {repeated} is listed twice; tpe tells the choices apart by their value" if repeated else None
    if not isinstance(values, dict):
        return (
            f"give a list of values, e.g. [{inline(values)}, ...] (got {inline(values)}); "
            "a single value belongs in the config itself"
        )
    kind = values.get("distribution")
    if kind not in DISTRIBUTIONS:
        return f"a mapping here needs distribution: one of {', '.join(DISTRIBUTIONS)} (got {inline(kind)})"
    keys = {"choice": {"values"}}.get(kind, {"low", "high"})
    extra = sorted(set(values) - keys - {"distribution"})
    missing = sorted(keys - set(values))
    if extra or missing:
        return f"distribution: {kind} takes {' and '.join(sorted(keys))}" + (
            f" (missing {', '.join(missing)})" if missing else f" (not {', '.join(extra)})"
        )
    if kind == "choice":
        return _values_problem(values["values"], method) if values["values"] != [] else "values is an empty list"
    low, high = values["low"], values["high"]
    numbers = (int,) if kind == "int" else (int, float)
    if not all(isinstance(v, numbers) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)):
        what = "integers" if kind == "int" else "numbers"
        return f"low and high must be {what} (got {inline(low)} and {inline(high)})"
    ordered = low <= high if kind == "int" else low < high
    if not ordered:
        return f"low must be below high (got low {low}, high {high})"
    if kind == "log_uniform" and low <= 0:
        return f"log_uniform needs low > 0 (got {low})"
    if method == "grid" and kind in ("uniform", "log_uniform"):
        return f"a grid cannot take every value of a {kind} range: list the values, or use method: random or tpe"
    if method == "grid" and high - low + 1 > GRID_INT_LIMIT:
        return f"a grid would expand this int range into {high - low + 1} values; list the values you want"
    return None
