"""The one validation path from YAML or a dict to a Config: the sections by their pydantic schema, then every
registry-typed part (data, loss, optimizer, schedule, initializers, layers) by its registered class.

Every mistake becomes a ConfigError that names the file and line (or the --set override), the key path and
what is allowed, e.g. `cnn.yaml:12: model.layers[2].units: Input should be greater than 0 (got 0)`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydantic

from nnrun import initializers
from nnrun.config.locate import LineMap, raise_problems
from nnrun.config.overrides import Override, apply_overrides
from nnrun.config.schema import (
    DEFAULT_LOSS,
    DEFAULT_OPTIMIZER,
    DEFAULT_SCHEDULE,
    LAYER_NAME_PATTERN,
    MAX_NAME,
    MODEL_KEYS,
    OPTIMIZER_COMMON_KEYS,
    Config,
)
from nnrun.config.source import read_yaml
from nnrun.config.sweep import parameter_problems, schedule_problems
from nnrun.errors import ConfigError, kind_of
from nnrun.initializers import DEFAULT_BIAS_INIT, DEFAULT_WEIGHT_INIT
from nnrun.io import inline
from nnrun.registry import DATASETS, INITIALIZERS, LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, Problem, problems_from


def load_config(path: str | Path, overrides: Sequence[str | Override] = ()) -> Config:
    """Read a YAML config, apply `--set key.path=value` overrides and validate it."""
    raw, lines = read_config(path)
    return validate(raw, str(path), lines, overrides)


def read_config(path: str | Path) -> tuple[Any, LineMap]:
    """The config file's raw data, its name defaulting to the file's, and the line of every key path."""
    path = Path(path)
    raw, lines = read_yaml(path)
    if isinstance(raw, dict) and "name" not in raw:
        raw["name"] = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).lstrip(".")[:MAX_NAME] or "run"
    return raw, lines


def config_from_dict(raw: dict[str, Any], source: str = "<dict>", overrides: Sequence[str | Override] = ()) -> Config:
    """Validate a config given as a Python dict (notebooks, resumed runs); same checks as load_config."""
    return validate(copy.deepcopy(raw), source, None, overrides)


def validate(raw: Any, source: str, lines: LineMap | None, overrides: Sequence[str | Override] = ()) -> Config:
    """Apply the overrides to `raw` (in place) and validate it; every problem is raised at once, located."""
    if raw is None:
        raise ConfigError(
            "the config is empty",
            where=source,
            hint="a config is a mapping with the sections data, model, loss, optimizer, train; "
            "see configs/quickstart.yaml",
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"the top level must be a mapping of sections (name, data, model, ...), got {kind_of(raw)}",
            where=f"{source}:1" if lines is not None else source,
            hint="see configs/quickstart.yaml",
        )
    applied = [(override.text, path) for override, path in apply_overrides(raw, overrides)]
    problems: list[Problem] = []
    config = _validate(raw, problems)
    if problems:
        raise_problems(problems, source, lines, applied)
    return config


def _validate(raw: dict[str, Any], problems: list[Problem]) -> Config | None:
    """Structure via the pydantic sections, then every registry-typed part against its class's schema."""
    prepared = _prepare(raw)
    try:
        Config.model_validate(prepared)
    except pydantic.ValidationError as error:
        problems.extend(problems_from(error, (), prepared, Config))

    final = dict(prepared)
    data = prepared.get("data")
    if isinstance(data, dict):
        final["data"] = _check(DATASETS, data, ("data",), problems, type_key="dataset")
    loss = prepared.get("loss")
    if isinstance(loss, dict):
        final["loss"] = _check(LOSSES, loss, ("loss",), problems)
    optimizer = prepared.get("optimizer")
    if isinstance(optimizer, dict):
        final["optimizer"] = _check_optimizer(optimizer, problems)
    model = prepared.get("model")
    if isinstance(model, dict):
        final["model"] = _check_model(model, problems)
    problems.extend(parameter_problems(prepared.get("sweep")))
    if problems:
        return None
    config = Config.model_validate(final)
    problems.extend(schedule_problems(config))
    return None if problems else config


def _check(registry, spec: Any, loc: tuple, problems: list[Problem], **options: Any) -> dict[str, Any] | None:
    checked, found = registry.check(spec, loc, **options)
    problems.extend(found)
    return checked


def _prepare(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy in the shape of the pydantic sections: shorthand names expanded, optimizer keys split."""
    prepared = copy.deepcopy(raw)
    if isinstance(prepared.get("data"), str):
        prepared["data"] = {"dataset": prepared["data"]}
    prepared.setdefault("loss", DEFAULT_LOSS)
    if isinstance(prepared["loss"], str):
        prepared["loss"] = {"type": prepared["loss"]}
    optimizer = prepared.setdefault("optimizer", {})
    if isinstance(optimizer, str):
        optimizer = prepared["optimizer"] = {"type": optimizer}
    if isinstance(optimizer, dict):
        split = {k: v for k, v in optimizer.items() if k in OPTIMIZER_COMMON_KEYS}
        split["type"] = optimizer.get("type", DEFAULT_OPTIMIZER)
        split["args"] = {k: v for k, v in optimizer.items() if k not in OPTIMIZER_COMMON_KEYS and k != "type"}
        schedule = split.get("schedule")
        if schedule is None or isinstance(schedule, str):
            split["schedule"] = {"type": schedule or DEFAULT_SCHEDULE}
        prepared["optimizer"] = split
    model = prepared.get("model")
    if isinstance(model, dict) and isinstance(model.get("layers"), list):
        model["layers"] = [{"type": layer} if isinstance(layer, str) else layer for layer in model["layers"]]
    return prepared


def _check_optimizer(optimizer: dict[str, Any], problems: list[Problem]) -> dict[str, Any] | None:
    """`optimizer` is already split ({type, args, common keys}); check the class's keys and the schedule."""
    args = None
    if isinstance(optimizer.get("type"), str) and isinstance(optimizer.get("args"), dict):
        spec = {"type": optimizer["type"], **optimizer["args"]}
        # the common keys sit in the same YAML mapping, so did-you-mean should offer them too
        checked = _check(OPTIMIZERS, spec, ("optimizer",), problems, beside=OPTIMIZER_COMMON_KEYS)
        if checked is not None:
            checked.pop("type")
            args = checked
    schedule = optimizer.get("schedule")
    if isinstance(schedule, dict):
        schedule = _check(SCHEDULES, schedule, ("optimizer", "schedule"), problems)
    if args is None or schedule is None:
        return None
    return {**optimizer, "args": args, "schedule": schedule}


def _check_model(model: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """The model section with initializer specs and layers expanded (only used when `problems` stays empty)."""
    out = dict(model)
    out["weight_init"] = _check_init(model.get("weight_init", DEFAULT_WEIGHT_INIT), ("model", "weight_init"), problems)
    out["bias_init"] = _check_init(model.get("bias_init", DEFAULT_BIAS_INIT), ("model", "bias_init"), problems)
    scale = model.get("weight_scale")
    if out["weight_init"] is not None and _is_number(scale) and scale > 0:
        scaled = {"type": "normal", "std": float(scale), "mean": 0.0}
        default = _check_init(DEFAULT_WEIGHT_INIT, (), problems)
        # an explicit default (a base config's `xavier_uniform`) gives way to weight_scale, anything else clashes
        if "weight_init" in model and out["weight_init"] not in (default, scaled):
            problems.append(
                Problem(
                    ("model", "weight_scale"),
                    f"weight_scale {scale} makes the default weight init {{type: normal, std: {scale}}}, but "
                    f"model.weight_init is also given ({inline(model['weight_init'])}); keep only one of them",
                )
            )
        out["weight_init"] = scaled

    layers = model.get("layers")
    if isinstance(layers, list):
        out["layers"] = []
        for index, layer in enumerate(layers):
            if not isinstance(layer, dict):
                continue  # the pydantic pass has reported it
            checked = _check(LAYERS, layer, ("model", "layers", index), problems)
            if checked is None:
                continue
            for key, value in checked.items():
                if key.endswith("_init") and value is not None:
                    checked[key] = _check_init(value, ("model", "layers", index, key), problems)
            out["layers"].append(checked)
        _check_layer_names(layers, problems)
    return out


def _check_init(spec: Any, loc: tuple, problems: list[Problem]) -> dict[str, Any] | None:
    """Validate an initializer spec, then construct it through nnrun.initializers.get so its own checks run."""
    checked = _check(INITIALIZERS, spec, loc, problems)
    if checked is None:
        return None
    try:
        initializers.get(checked)
    except ConfigError as error:
        problems.append(Problem(loc, error.what))
        return None
    return checked


def _check_layer_names(layers: list[Any], problems: list[Problem]) -> None:
    first: dict[str, int] = {}
    for index, layer in enumerate(layers):
        name = layer.get("name") if isinstance(layer, dict) else None
        if not isinstance(name, str):
            continue  # null, or a wrong type the layer schema reports
        loc = ("model", "layers", index, "name")
        message = None
        if re.fullmatch(r"-?\d+", name):
            message = "must not be a number (numbers address layers by index: --set model.layers.N.key=...)"
        elif not LAYER_NAME_PATTERN.fullmatch(name):
            message = "must be letters, digits, '_' or '-' (it becomes part of --set paths and weight keys)"
        elif len(name) > MAX_NAME:  # weight keys are names in the .npz (a zip archive), which has a limit
            message = f"is {len(name)} characters long; a layer name may have at most {MAX_NAME}"
        elif name in MODEL_KEYS:
            message = f"'{name}' is a key of the model section; a layer named so could not be addressed by --set"
        elif name in first:
            message = f"'{name}' is already the name of model.layers[{first[name]}]; layer names must be unique"
        else:
            first[name] = index
        if message:
            problems.append(Problem(loc, message))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
