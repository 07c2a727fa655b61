"""The run config: its pydantic schema, YAML loading with line numbers, `--set` overrides and the resolved dump.

Every mistake becomes a ConfigError that names the file and line (or the --set override), the key path and
what is allowed, e.g. `cnn.yaml:12: model.layers[2].units: Input should be greater than 0 (got 0)`.
"""

from __future__ import annotations

import copy
import inspect
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

import nnrun.data  # noqa: F401  (registration of datasets)
import nnrun.layers  # noqa: F401  (registration of layers)
import nnrun.losses  # noqa: F401  (registration of losses)
import nnrun.optimizers  # noqa: F401  (registration of optimizers)
import nnrun.schedules  # noqa: F401  (registration of schedules)
from nnrun import initializers
from nnrun.errors import ConfigError, did_you_mean
from nnrun.registry import DATASETS, INITIALIZERS, LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, Registry

__all__ = [
    "Config",
    "EarlyStoppingConfig",
    "ModelConfig",
    "OptimizerConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_reference",
    "dump_yaml",
    "load_config",
    "parse_yaml",
    "read_yaml",
]

# Keys of the optimizer section that belong to the training loop rather than to the optimizer class.
OPTIMIZER_COMMON_KEYS = ("weight_decay", "decay_bias", "clip_norm", "schedule")
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
LAYER_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
DEFAULT_LOSS = "softmax_cross_entropy"
DEFAULT_OPTIMIZER = "adam"
DEFAULT_SCHEDULE = "constant"
DEFAULT_WEIGHT_INIT = "xavier_uniform"
DEFAULT_BIAS_INIT = "zeros"


# --- schema --------------------------------------------------------------------------------------------


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


Monitor = Literal["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]


class EarlyStoppingConfig(Section):
    """Stop training when a metric has not improved for `patience` evaluations."""

    monitor: Monitor = Field(
        "val_loss",
        description="metric watched at each evaluation; test_* is allowed but then the test set picks the model",
    )
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="min: lower is better, max: higher is better, auto: max for *_acc and min for *_loss"
    )
    patience: int = Field(3, ge=1, description="evaluations without improvement before the run stops")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")
    restore_best: bool = Field(True, description="end with the weights of the best evaluation, not the last")

    def direction(self) -> Literal["min", "max"]:
        """`mode` with auto resolved from the monitored metric."""
        if self.mode != "auto":
            return self.mode
        return "max" if self.monitor.endswith("_acc") else "min"


class TrainConfig(Section):
    """How long and how to iterate: epochs or steps, batch sizes, evaluation, early stopping, checkpoints."""

    epochs: int | None = Field(
        10, gt=0, description="passes over the training set; null (or left out) when max_steps is given"
    )
    max_steps: int | None = Field(
        None, gt=0, description="stop after this many optimizer steps instead of a number of epochs"
    )
    eval_every: int | None = Field(
        None, gt=0, description="evaluate every this many steps; null = once per epoch"
    )
    batch_size: int = Field(50, gt=0, description="training examples per optimizer step")
    eval_batch_size: int = Field(1000, gt=0, description="examples per forward pass when evaluating")
    shuffle: bool = Field(True, description="reshuffle the training set every epoch (from the run seed)")
    early_stopping: EarlyStoppingConfig | None = Field(
        None,
        description="null = train to the end; a mapping (keys below) stops when the monitored metric stalls",
    )
    checkpoint: bool = Field(True, description="write a resumable checkpoint after every epoch")
    threads: int | None = Field(None, gt=0, description="threads for BLAS and numba; null = all cores")

    @model_validator(mode="after")
    def _one_length(self) -> TrainConfig:
        if self.max_steps is not None:
            if self.epochs is not None and "epochs" in self.model_fields_set:
                raise ValueError(
                    f"give either epochs ({self.epochs}) or max_steps ({self.max_steps}), not both; "
                    "set the other to null (e.g. --set train.epochs=null)"
                )
            self.epochs = None
        elif self.epochs is None:
            raise ValueError("give the length of training: epochs or max_steps")
        return self


class ModelConfig(Section):
    """The network: the per-example input shape, model-wide initializer defaults and the layer list."""

    input_shape: tuple[Annotated[int, Field(gt=0)], ...] = Field(
        min_length=1,
        description="per-example shape the first layer sees, e.g. [1, 28, 28] (C, H, W) or [784]; "
        "images given to a flat input_shape of the same size are flattened",
    )
    weight_init: Any = Field(
        DEFAULT_WEIGHT_INIT,
        description="default initializer for weights: a name or {type: ..., ...} (initializers below)",
        json_schema_extra={"yaml_type": "initializer"},
    )
    bias_init: Any = Field(
        DEFAULT_BIAS_INIT,
        description="default initializer for biases: a name or {type: ..., ...}",
        json_schema_extra={"yaml_type": "initializer"},
    )
    weight_scale: float | None = Field(
        None,
        gt=0,
        description="cs231n shorthand: the default weight init becomes {type: normal, std: weight_scale}",
    )
    layers: list[dict[str, Any]] = Field(
        min_length=1,
        description="the layers in order: each {type: ..., its keys, name: optional} (layer tables below); "
        "a bare name such as `relu` is short for {type: relu}",
        json_schema_extra={"yaml_type": "list of layers"},
    )


class OptimizerConfig(Section):
    """The optimizer (its own keys such as lr sit beside `type`) plus the keys the training loop applies."""

    type: str = Field(
        DEFAULT_OPTIMIZER, description="optimizer name; its own keys (lr, beta1, ...) are listed under Optimizers"
    )
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="the optimizer's own keys with every default filled in (written flat beside `type`)",
    )
    weight_decay: float = Field(0.0, ge=0, description="L2 coefficient λ: the loss gains λ/2·‖w‖² per weight")
    decay_bias: bool = Field(False, description="apply weight_decay to biases and batchnorm scale/shift too")
    clip_norm: float | None = Field(None, gt=0, description="clip the gradients to this global L2 norm; null = off")
    schedule: dict[str, Any] = Field(
        default_factory=lambda: {"type": DEFAULT_SCHEDULE},
        description="learning-rate schedule: a name or {type: ..., ...} (schedules below)",
        json_schema_extra={"yaml_type": "schedule"},
    )

    @property
    def lr(self) -> float:
        return self.args["lr"]

    def spec(self) -> dict[str, Any]:
        """`{type, **args}`: what OPTIMIZERS.build takes."""
        return {"type": self.type, **copy.deepcopy(self.args)}


class Config(Section):
    """One training run.

    Build it with `load_config` or `config_from_dict`: they also check and expand the registry-typed parts
    (data, layers, loss, optimizer keys, schedule, initializers), which constructing it directly does not.
    """

    name: str = Field(
        description="run name, also the folder results/<name>/ (letters, digits, _ - .); "
        "defaults to the config file's name"
    )
    seed: int = Field(0, ge=0, description="seeds the weights, dropout, shuffling and the data split")
    dtype: Literal["float32", "float64"] = Field("float32", description="floating-point type of weights and data")
    data: dict[str, Any] = Field(
        description="{dataset: name, ...}: the dataset and its own keys (datasets below)",
        json_schema_extra={"yaml_type": "dataset"},
    )
    model: ModelConfig = Field(description="the network (keys below)")
    loss: dict[str, Any] = Field(
        default_factory=lambda: {"type": DEFAULT_LOSS},
        description="a name or {type: ..., ...} (losses below)",
        json_schema_extra={"yaml_type": "loss"},
    )
    optimizer: OptimizerConfig = Field(
        default_factory=OptimizerConfig, description="the optimizer and weight decay, clipping, schedule (keys below)"
    )
    train: TrainConfig = Field(default_factory=TrainConfig, description="the training loop (keys below)")

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(
                "must be letters, digits, '_', '-' or '.' and not start with '.', since it names results/<name>/"
            )
        return value

    def resolved(self) -> dict[str, Any]:
        """A plain dict with every default filled in; `config_from_dict` turns it back into an equal Config."""
        optimizer = self.optimizer
        return _plain(
            {
                "name": self.name,
                "seed": self.seed,
                "dtype": self.dtype,
                "data": self.data,
                "model": self.model.model_dump(),
                "loss": self.loss,
                "optimizer": {
                    "type": optimizer.type,
                    **optimizer.args,
                    "weight_decay": optimizer.weight_decay,
                    "decay_bias": optimizer.decay_bias,
                    "clip_norm": optimizer.clip_norm,
                    "schedule": optimizer.schedule,
                },
                "train": self.train.model_dump(),
            }
        )


MODEL_KEYS = tuple(ModelConfig.model_fields)  # a layer name must not shadow these in `--set model.<name>.…`


# --- public API ------------------------------------------------------------------------------------------


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config, apply `--set key.path=value` overrides and validate it."""
    path = Path(path)
    source = str(path)
    raw, lines = read_yaml(path)
    if isinstance(raw, dict) and "name" not in raw:
        raw["name"] = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).lstrip(".") or "run"
    return _build(raw, source, lines, overrides)


def config_from_dict(raw: dict[str, Any], source: str = "<dict>", overrides: Sequence[str] = ()) -> Config:
    """Validate a config given as a Python dict (notebooks, resumed runs); same checks as load_config."""
    return _build(copy.deepcopy(raw), source, None, overrides)


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML text for a config dict, keys in their given order, short lists of numbers inline."""
    return yaml.dump(_plain(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def read_yaml(path: Path) -> tuple[Any, dict[tuple, tuple[int, int, bool]]]:
    """The file's data and a map key path -> (line of the key, line of the value, value is a collection)."""
    hint = "check the path; the configs/ folder has examples (configs/quickstart.yaml)"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", where=str(path), hint=hint) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", where=str(path), hint=hint) from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"not UTF-8 text ({error.reason})", where=str(path), hint=hint) from None
    except OSError as error:
        raise ConfigError(f"cannot read the config file: {error.strerror}", where=str(path)) from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str = "<string>") -> tuple[Any, dict[tuple, tuple[int, int, bool]]]:
    """Parse YAML text (safe tags only); duplicate keys are an error, unlike yaml.safe_load."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[tuple, tuple[int, int, bool]] = {}
        problems: list[Problem] = []
        _walk(node, (), lines, problems, frozenset())
        if problems:
            _raise(problems, source, lines, [])
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        what = " ".join(part for part in (error.context, error.problem) if part) or "invalid YAML"
        where = f"{source}:{mark.line + 1}" if mark else source
        column = f" (column {mark.column + 1})" if mark else ""
        raise ConfigError(
            f"invalid YAML: {what}{column}",
            where=where,
            hint="check the indentation and the `key: value` syntax on that line and the one before",
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML: {error}", where=source) from None
    finally:
        loader.dispose()


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> list[tuple[str, tuple]]:
    """Apply `key.path=value` overrides to `raw` in place; return (override, resolved key path) pairs.

    Paths: `train.epochs`, `model.layers.2.units` or `model.layers[2].units`, `model.hidden.units` (a layer by
    its name). A missing key is created, so a misspelt one is reported by validation with did-you-mean.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    return [(text, _apply_override(raw, text)) for text in overrides]


# --- validation ------------------------------------------------------------------------------------------


@dataclass
class Problem:
    loc: tuple  # key path in the raw YAML structure: str keys, int list indices
    message: str
    at_key: bool = False  # point at the key's line (unknown or duplicate key) rather than the value's


def _build(raw: Any, source: str, lines: dict | None, overrides: Sequence[str]) -> Config:
    if raw is None:
        raise ConfigError(
            "the config is empty",
            where=source,
            hint="a config is a mapping with the sections data, model, loss, optimizer, train; "
            "see configs/quickstart.yaml",
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"the top level must be a mapping of sections (name, data, model, ...), got {_kind(raw)}",
            where=f"{source}:1" if lines is not None else source,
            hint="see configs/quickstart.yaml",
        )
    applied = apply_overrides(raw, overrides)
    problems: list[Problem] = []
    config = _validate(raw, problems)
    if problems:
        _raise(problems, source, lines, applied)
    return config


def _validate(raw: dict[str, Any], problems: list[Problem]) -> Config | None:
    """Structure via the pydantic sections, then every registry-typed part against its class's schema."""
    prepared = _prepare(raw)
    try:
        Config.model_validate(prepared)
    except pydantic.ValidationError as error:
        problems.extend(_problems(error, (), prepared))

    final = dict(prepared)
    data = prepared.get("data")
    if isinstance(data, dict):
        final["data"] = _check_spec(DATASETS, data, ("data",), problems, type_key="dataset")
    loss = prepared.get("loss")
    if isinstance(loss, dict):
        final["loss"] = _check_spec(LOSSES, loss, ("loss",), problems)
    optimizer = prepared.get("optimizer")
    if isinstance(optimizer, dict):
        final["optimizer"] = _check_optimizer(optimizer, problems)
    model = prepared.get("model")
    if isinstance(model, dict):
        final["model"] = _check_model(model, problems)
    if problems:
        return None
    return Config.model_validate(final)


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


def _check_spec(
    registry: Registry,
    spec: Any,
    loc: tuple,
    problems: list[Problem],
    *,
    type_key: str = "type",
    beside: Iterable[str] = (),
) -> dict[str, Any] | None:
    """Validate `{type_key: name, **keys}` against the class's schema; return it with every default filled in.

    `beside` names keys that sit in the same mapping but are checked elsewhere (the optimizer's common keys).
    """
    kind = registry.kind
    registered = f"{kind} types: {', '.join(registry.names())}"
    if isinstance(spec, str):
        spec = {type_key: spec}
    if not isinstance(spec, dict):
        expected = f"expected a {kind} name or a mapping with a '{type_key}' key"
        problems.append(Problem(loc, f"{expected}, got {_kind(spec)}; {registered}"))
        return None
    if type_key not in spec:
        problems.append(Problem(loc, f"missing key '{type_key}' (the {kind}); {registered}"))
        return None
    name = spec[type_key]
    if not isinstance(name, str):
        problems.append(Problem(loc + (type_key,), f"expected a {kind} name, got {_kind(name)}; {registered}"))
        return None
    try:
        registry.get(name)
    except ConfigError as error:
        problems.append(Problem(loc + (type_key,), f"{error.what}; {error.hint}"))
        return None
    if type_key != "type" and "type" in spec:
        problems.append(Problem(loc + ("type",), f"unknown key 'type' (did you mean '{type_key}'?)", at_key=True))
        return None
    schema = registry.schema(name)
    beside = tuple(beside)
    body = {("type" if k == type_key else k): v for k, v in spec.items() if k not in beside}
    try:
        validated = schema.model_validate(body).model_dump()
    except pydantic.ValidationError as error:
        allowed = [type_key if k == "type" else k for k in schema.model_fields] + list(beside)
        problems.extend(_problems(error, loc, body, allowed=allowed, rename={"type": type_key}))
        return None
    return {type_key: validated.pop("type"), **validated}


def _check_optimizer(optimizer: dict[str, Any], problems: list[Problem]) -> dict[str, Any] | None:
    """`optimizer` is already split ({type, args, common keys}); check the class's keys and the schedule."""
    args = None
    if isinstance(optimizer.get("type"), str) and isinstance(optimizer.get("args"), dict):
        spec = {"type": optimizer["type"], **optimizer["args"]}
        # the common keys sit in the same YAML mapping, so did-you-mean should offer them too
        checked = _check_spec(OPTIMIZERS, spec, ("optimizer",), problems, beside=OPTIMIZER_COMMON_KEYS)
        if checked is not None:
            checked.pop("type")
            args = checked
    schedule = optimizer.get("schedule")
    if isinstance(schedule, dict):
        schedule = _check_spec(SCHEDULES, schedule, ("optimizer", "schedule"), problems)
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
                    f"model.weight_init is also given ({_inline(model['weight_init'])}); keep only one of them",
                )
            )
        out["weight_init"] = scaled

    layers = model.get("layers")
    if isinstance(layers, list):
        out["layers"] = []
        for index, layer in enumerate(layers):
            if not isinstance(layer, dict):
                continue  # the pydantic pass has reported it
            checked = _check_spec(LAYERS, layer, ("model", "layers", index), problems)
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
    checked = _check_spec(INITIALIZERS, spec, loc, problems)
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
        elif name in MODEL_KEYS:
            message = f"'{name}' is a key of the model section; a layer named so could not be addressed by --set"
        elif name in first:
            message = f"'{name}' is already the name of model.layers[{first[name]}]; layer names must be unique"
        else:
            first[name] = index
        if message:
            problems.append(Problem(loc, message))


def _problems(
    error: pydantic.ValidationError,
    prefix: tuple,
    value: Any,
    *,
    allowed: list[str] | None = None,
    rename: dict[str, str] | None = None,
) -> list[Problem]:
    """One Problem per key path from a pydantic error; union branches of one value are joined with 'or'."""
    grouped: dict[tuple, list[dict[str, Any]]] = {}
    for item in error.errors(include_url=False):
        grouped.setdefault(_trim_loc(item["loc"], value), []).append(item)
    out = []
    for loc, items in grouped.items():
        full = prefix + tuple((rename or {}).get(p, p) if i == 0 else p for i, p in enumerate(loc))
        kinds = {item["type"] for item in items}
        if "extra_forbidden" in kinds:
            keys = allowed if allowed is not None and len(loc) == 1 else _allowed_keys(full[:-1])
            out.append(Problem(full, _unknown_key_message(str(loc[-1]), keys), at_key=True))
        elif "missing" in kinds:
            out.append(Problem(full, "required key is missing"))
        else:
            messages = []
            for item in items:
                message = re.sub(r"^(Value error|Assertion failed), ", "", item["msg"])
                message = re.sub(r" or instance of \w+", "", message)
                # an error inside one union branch (the 2nd entry of a [kh, kw] pair) keeps its index
                inner = "".join(f"[{p}]" for p in item["loc"][len(loc) :] if isinstance(p, int))
                message = f"{inner}: {message}" if inner else message
                if message not in messages:
                    messages.append(message)
            text = " or ".join(messages)
            got = _inline(_get(value, loc))
            if "got " not in text and len(got) <= 60 and not isinstance(_get(value, loc), dict):
                text += f" (got {got})"
            out.append(Problem(full, text))
    return out


def _trim_loc(loc: tuple, value: Any) -> tuple:
    """The part of a pydantic loc that exists in the input (union branch tags such as 'int' are dropped)."""
    kept: list[Any] = []
    node = value
    for position, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and position == len(loc) - 1:
            kept.append(part)  # a missing key
            break
        else:
            break
        kept.append(part)
    return tuple(kept)


def _get(value: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _allowed_keys(loc: tuple) -> list[str]:
    """Field names of the pydantic section found at `loc` (for did-you-mean on an unknown key)."""
    section: type[BaseModel] = Config
    for part in loc:
        field = section.model_fields.get(str(part)) if isinstance(part, str) else None
        inner = _section_type(field.annotation) if field else None
        if inner is None:
            return []
        section = inner
    return [key for key in section.model_fields if not (section is OptimizerConfig and key == "args")]


def _section_type(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _section_type(arg)
        if found:
            return found
    return None


def _unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    return f"unknown key '{key}'{did_you_mean(key, allowed)}; allowed keys: {', '.join(allowed)}"


# --- error locations -----------------------------------------------------------------------------------


def _raise(problems: list[Problem], source: str, lines: dict | None, applied: list[tuple[str, tuple]]) -> None:
    rendered = []
    for order, problem in enumerate(problems):
        where, rank = _where(problem, source, lines, applied)
        rendered.append((rank, order, where, f"{_path_text(problem.loc)}: {problem.message}"))
    rendered.sort(key=lambda r: (r[0], r[1]))  # file lines first, then overrides in the order given
    if len(rendered) == 1:
        _, _, where, what = rendered[0]
        error = ConfigError(what, where=where)
    else:
        error = ConfigError("\n".join(f"{where}: {what}" for _, _, where, what in rendered))
    error.problems = [(where, what) for _, _, where, what in rendered]
    raise error


def _where(
    problem: Problem, source: str, lines: dict | None, applied: list[tuple[str, tuple]]
) -> tuple[str, tuple[int, int]]:
    """Where to report a problem (the override that set its key, else file:line) and a rank to sort by."""
    loc = problem.loc
    for index in range(len(applied) - 1, -1, -1):
        text, path = applied[index]
        # changing a `type` reshapes the whole spec: its sibling keys' errors come from the override too
        scope = path[:-1] if path and path[-1] in ("type", "dataset") else path
        if loc[: len(scope)] == scope or (loc and scope[: len(loc)] == loc):
            return f"--set {text}", (1, index)
    if lines:
        line = _line(loc, problem.at_key, lines)
        if line is not None:
            return f"{source}:{line}", (0, line)
    return source, (2, 0)


def _line(loc: tuple, at_key: bool, lines: dict) -> int | None:
    if loc in lines:
        key_line, value_line, collection = lines[loc]
        # a whole section is wrong (train: epochs and max_steps both given): point at its key, `train:`
        return key_line if at_key or collection else value_line
    for n in range(len(loc) - 1, 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]][0]  # a missing key: point at the mapping that should hold it
    return None


def _path_text(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


# --- YAML ------------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads 1e-3 as a float, as YAML 1.2 does (YAML 1.1 needs a dot: 1.0e-3)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class _Dumper(yaml.SafeDumper):
    pass


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = len(data) <= 8 and all(isinstance(item, (int, float, str, bool)) or item is None for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def _walk(node: yaml.Node, path: tuple, lines: dict, problems: list[Problem], active: frozenset) -> None:
    """Record the line of every key path and report duplicate keys, which yaml.safe_load would drop silently."""
    if id(node) in active:  # a recursive alias
        return
    active = active | {id(node)}
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            key_line = key_node.start_mark.line + 1
            if key in first:
                problems.append(
                    Problem(
                        path + (key,),
                        f"duplicate key '{key}' (first given on line {first[key]}); YAML would keep only the last",
                        at_key=True,
                    )
                )
            else:
                first[key] = key_line
            collection = isinstance(value_node, yaml.CollectionNode)
            lines[path + (key,)] = (key_line, value_node.start_mark.line + 1, collection)
            _walk(value_node, path + (key,), lines, problems, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            line = item.start_mark.line + 1
            lines[path + (index,)] = (line, line, isinstance(item, yaml.CollectionNode))
            _walk(item, path + (index,), lines, problems, active)


# --- overrides -------------------------------------------------------------------------------------------

_OVERRIDE_HINT = (
    "e.g. --set train.epochs=3, --set optimizer.lr=1e-3, --set model.layers.2.units=100, --set model.hidden.units=100"
)
_NUMBER = re.compile(r"[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def _apply_override(raw: dict[str, Any], text: str) -> tuple:
    where = f"--set {text}"
    if not isinstance(text, str):
        raise ConfigError(f"an override must be a string key.path=value, got {text!r}", hint=_OVERRIDE_HINT)
    path_text, sep, value_text = text.partition("=")
    path_text = path_text.strip()
    if not sep or not path_text:
        raise ConfigError("an override must look like key.path=value", where=where, hint=_OVERRIDE_HINT)
    parts = re.sub(r"\[(-?\d+)\]", r".\1", path_text).split(".")
    if any(not part or "[" in part or "]" in part for part in parts):
        raise ConfigError(f"malformed key path '{path_text}'", where=where, hint=_OVERRIDE_HINT)
    value = _parse_value(value_text, where)

    node: Any = raw
    resolved: list[Any] = []
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(node, list):
            key: Any = _list_index(node, part, tuple(resolved), where)
        elif resolved == ["model"] and part not in node and part not in MODEL_KEYS and not last:
            # `model.<layer name>.key`: the layer list is searched by name
            layers = node.get("layers")
            index = _layer_by_name(layers if isinstance(layers, list) else [], part, where)
            resolved.append("layers")
            node = node["layers"]
            key = index
        else:
            key = part
        resolved.append(key)
        if last:
            node[key] = value
            break
        child = node[key] if (isinstance(node, list) or key in node) else None
        if child is None:
            child = {}
        elif isinstance(child, str):
            # a spec given by name (`loss: hinge`, `schedule: constant`, a layer `- relu`) opens into a mapping
            child = {"dataset" if tuple(resolved) == ("data",) else "type": child}
        elif not isinstance(child, (dict, list)):
            here = _path_text(tuple(resolved))
            raise ConfigError(
                f"{here} is {_kind(child)} ({_inline(child)}), it has no key '{parts[position + 1]}'",
                where=where,
                hint=f"set it as a whole: --set {here}=...",
            )
        node[key] = child
        node = child
    return tuple(resolved)


def _parse_value(text: str, where: str) -> Any:
    try:
        value = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            f"the value is not valid YAML: {problem}",
            where=where,
            hint="quote it in the shell so YAML sees a string: --set \"name='my: run'\"",
        ) from None
    # YAML 1.1 reads some numbers (1e-3) as strings; a value that reads as a number is meant as one
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    return value


def _list_index(items: list, part: str, path: tuple, where: str) -> int:
    count = len(items)
    if re.fullmatch(r"-?\d+", part):
        index = int(part)
        if -count <= index < count:
            return index % count
        listing = f"; layers: {_layer_listing(items)}" if path == ("model", "layers") else ""
        raise ConfigError(
            f"index {index} is out of range: {_path_text(path)} has {count} entries (0..{count - 1}){listing}",
            where=where,
        )
    if path == ("model", "layers"):
        return _layer_by_name(items, part, where)
    raise ConfigError(
        f"{_path_text(path)} is a list; give an index from 0 to {count - 1}, not '{part}'", where=where
    )


def _layer_by_name(layers: list, name: str, where: str) -> int:
    names = [layer.get("name") for layer in layers if isinstance(layer, dict) and isinstance(layer.get("name"), str)]
    for index, layer in enumerate(layers):
        if isinstance(layer, dict) and layer.get("name") == name:
            return index
    suggestion = did_you_mean(name, names + list(MODEL_KEYS))
    raise ConfigError(
        f"the model has no key or layer named '{name}'{suggestion}",
        where=where,
        hint=f"layers: {_layer_listing(layers)}; address a layer as model.<name>.<key> or model.layers.<index>.<key>",
    )


def _layer_listing(layers: list) -> str:
    entries = []
    for index, layer in enumerate(layers):
        kind = layer.get("type") if isinstance(layer, dict) else layer
        name = layer.get("name") if isinstance(layer, dict) else None
        entries.append(f"{index} {name} ({kind})" if name else f"{index} {kind}")
    return ", ".join(entries) if entries else "none"


# --- reference -------------------------------------------------------------------------------------------


def config_reference() -> str:
    """Markdown tables of every config key, from the schema and the registered classes' signatures."""
    out = [
        "# Config reference",
        "",
        "Generated by `nnrun.config.config_reference()` from the schema and the registered classes.",
        "A registered component is written as a name (`relu`) or a mapping (`{type: dense, units: 10}`).",
        "",
    ]
    sections = [
        ("Top level", Config, ""),
        ("`model`", ModelConfig, ""),
        (
            "`optimizer`",
            OptimizerConfig,
            "The optimizer's own keys (`lr`, `beta1`, ...) are written beside `type`; see Optimizers below.",
        ),
        ("`train`", TrainConfig, "Give `epochs` or `max_steps`, not both."),
        ("`train.early_stopping`", EarlyStoppingConfig, ""),
    ]
    for title, section, note in sections:
        out += [f"## {title}", "", _doc(section)]
        if note:
            out.append(note)
        fields = [(name, field) for name, field in section.model_fields.items() if name != "args"]
        out += [""] + _table(fields)
    from nnrun.data.base import Loader
    from nnrun.registry import schema_from_signature

    common = {k: f for k, f in schema_from_signature(Loader, "common").model_fields.items() if k != "type"}
    out += [
        "## `data`",
        "",
        "`dataset` names the dataset. The preprocessing keys below apply to every dataset, in this order:",
        "classes, positive, test and val splits, n_train/n_test, normalize, flatten, augment. Each dataset's",
        "own keys (and any preprocessing default it changes) are listed under Datasets below.",
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
        f"| `dataset` | string | required | one of {', '.join(DATASETS.names())} |",
        *_table(common.items())[2:],
    ]
    registries = [
        ("Layers", LAYERS, "model.layers[]"),
        ("Losses", LOSSES, "loss"),
        ("Optimizers", OPTIMIZERS, "optimizer"),
        ("Schedules", SCHEDULES, "optimizer.schedule"),
        ("Initializers", INITIALIZERS, "weight_init / bias_init"),
        ("Datasets", DATASETS, "data"),
    ]
    for title, registry, where in registries:
        names = ", ".join(f"`{name}`" for name in registry.names())
        out += [f"## {title}", "", f"Used in `{where}`. Registered: {names}.", ""]
        for name, cls in registry.items():
            type_key = "dataset" if registry is DATASETS else "type"
            out += [f"### `{name}`", "", f"`{type_key}: {name}`. {_doc(cls)}", ""]
            fields = [
                (key, field)
                for key, field in registry.schema(name).model_fields.items()
                if key != "type" and not (registry is DATASETS and _same_field(field, common.get(key)))
            ]
            out += _table(fields) if fields else ["No keys.", ""]
    return "\n".join(out).rstrip() + "\n"


def _same_field(field: FieldInfo, common: FieldInfo | None) -> bool:
    """A dataset key that is the shared preprocessing key unchanged (so the data table already lists it)."""
    return common is not None and field.default == common.default and field.annotation == common.annotation


_FIELD_NOTES = {"name": "optional unique name; `--set model.<name>.<key>=...` addresses the layer by it"}


def _table(fields: Iterable[tuple[str, FieldInfo]]) -> list[str]:
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in fields:
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        kind = extra.get("yaml_type") or _type_text(field.annotation, field.metadata)
        if field.is_required():
            default = "required"
        else:
            value = field.default_factory() if field.default_factory is not None else field.default
            if isinstance(value, BaseModel):
                default = "every key's default"
            else:
                default = f"`{value if isinstance(value, str) else _inline(value)}`"
        description = field.description or _FIELD_NOTES.get(name, "")
        rows.append(f"| `{name}` | {_cell(kind)} | {_cell(default)} | {_cell(description)} |")
    return rows + [""]


def _doc(obj: Any) -> str:
    text = inspect.getdoc(obj) or ""
    return " ".join(text.split("\n\n")[0].split())


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type_text(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    text = _type_name(annotation)
    constraints = _constraints(metadata)
    return f"{text} ({constraints})" if constraints else text


def _type_name(tp: Any) -> str:
    origin, args = get_origin(tp), get_args(tp)
    if tp is type(None):
        return "null"
    if tp is Any:
        return "any"
    if origin is Annotated:
        constraints = _constraints(args[1:])
        return f"{_type_name(args[0])} {constraints}".strip()
    if origin is Literal:
        return " | ".join(_inline(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin in (list, Sequence):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_type_name(args[0])}"
        return "[" + ", ".join(_type_name(a) for a in args) + "]"
    if origin is dict or tp is dict:
        return "mapping"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "mapping"
    names = {int: "int", float: "float", str: "string", bool: "bool"}
    if tp in names:
        return names[tp]
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _constraints(metadata: Iterable[Any]) -> str:
    parts = []
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    for item in metadata:
        if isinstance(item, FieldInfo):
            parts.append(_constraints(item.metadata))
            continue
        for attr, symbol in symbols.items():
            if getattr(item, attr, None) is not None:
                parts.append(f"{symbol} {getattr(item, attr)}")
        if getattr(item, "min_length", None) is not None:
            parts.append(f"length >= {item.min_length}")
        if getattr(item, "max_length", None) is not None:
            parts.append(f"length <= {item.max_length}")
    return ", ".join(p for p in parts if p)


# --- small helpers ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Deep copy into YAML-safe builtins: tuples become lists, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _inline(value: Any) -> str:
    """A short one-line YAML rendering for messages and tables."""
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, str):
        return repr(value)
    try:
        text = yaml.dump(_plain(value), Dumper=_Dumper, default_flow_style=True, width=10_000).strip()
    except yaml.YAMLError:
        return repr(value)
    return text.removesuffix("...").strip()


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer", float: "a float"}
    return names.get(type(value), f"a {type(value).__name__}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
