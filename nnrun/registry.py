"""Name -> class registries for layers, losses, optimizers, initializers, schedules and datasets.

A class registers under its YAML `type:` name. Its constructor's annotated keyword arguments are the
single source of truth for its config: `schema(name)` turns them into a pydantic model that forbids
unknown keys, and `get_config()` on an instance returns the same keys, so `cls(**config)` rebuilds it.

`Registry.check` is the one place a `{type: name, ...}` spec is validated: the config validates every
spec of a file through it (collecting Problems with their key paths), and `Registry.build` through it too.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pydantic

from nnrun.errors import ConfigError, did_you_mean, kind_of
from nnrun.io import inline


@dataclass
class Problem:
    """One thing wrong in a config: where (a key path of str keys and int list indices) and what."""

    loc: tuple
    message: str
    at_key: bool = False  # point at the key's line (unknown or duplicate key) rather than the value's


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._classes: dict[str, type] = {}
        self._schemas: dict[str, type[pydantic.BaseModel]] = {}

    def register(self, name: str) -> Callable[[type], type]:
        def decorate(cls: type) -> type:
            if name in self._classes:
                raise RuntimeError(f"{self.kind} '{name}' is registered twice")
            cls.type_name = name
            self._classes[name] = cls
            return cls

        return decorate

    def get(self, name: str, *, where: str | None = None) -> type:
        try:
            return self._classes[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} type '{name}'{did_you_mean(name, self._classes)}",
                where=where,
                hint=f"registered {self.kind} types: {', '.join(sorted(self._classes))}",
            ) from None

    def names(self) -> list[str]:
        return sorted(self._classes)

    def items(self) -> Iterator[tuple[str, type]]:
        return iter(sorted(self._classes.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def schema(self, name: str) -> type[pydantic.BaseModel]:
        """The pydantic model for `{type: name, **kwargs}` built from the constructor signature."""
        if name not in self._schemas:
            self._schemas[name] = schema_from_signature(self.get(name), name)
        return self._schemas[name]

    def check(
        self, spec: Any, loc: tuple = (), *, type_key: str = "type", beside: Iterable[str] = ()
    ) -> tuple[dict[str, Any] | None, list[Problem]]:
        """Validate `{type_key: name, **keys}` (or a bare name) against the class's schema.

        Returns the spec with every default filled in (None when it is invalid) and the problems found,
        each with its key path under `loc`. `beside` names keys that sit in the same mapping but are
        checked elsewhere (the optimizer's common keys): did-you-mean offers them too.
        """
        registered = f"{self.kind} types: {', '.join(self.names())}"
        if isinstance(spec, str):
            spec = {type_key: spec}
        if not isinstance(spec, dict):
            expected = f"expected a {self.kind} name or a mapping with a '{type_key}' key"
            return None, [Problem(loc, f"{expected}, got {kind_of(spec)}; {registered}")]
        if type_key not in spec:
            return None, [Problem(loc, f"missing key '{type_key}' (the {self.kind}); {registered}")]
        name = spec[type_key]
        if not isinstance(name, str):
            return None, [Problem(loc + (type_key,), f"expected a {self.kind} name, got {kind_of(name)}; {registered}")]
        try:
            self.get(name)
        except ConfigError as error:
            return None, [Problem(loc + (type_key,), f"{error.what}; {error.hint}")]
        if type_key != "type" and "type" in spec:
            return None, [Problem(loc + ("type",), f"unknown key 'type' (did you mean '{type_key}'?)", at_key=True)]
        schema = self.schema(name)
        beside = tuple(beside)
        body = {("type" if k == type_key else k): v for k, v in spec.items() if k not in beside}
        try:
            validated = schema.model_validate(body).model_dump()
        except pydantic.ValidationError as error:
            allowed = [type_key if k == "type" else k for k in schema.model_fields] + list(beside)
            return None, problems_from(error, loc, body, schema, allowed=allowed, rename={"type": type_key})
        return {type_key: validated.pop("type"), **validated}, []

    def validate(self, spec: Any, *, where: str | None = None) -> dict[str, Any]:
        """`check`, raising a ConfigError that lists every problem."""
        name = spec if isinstance(spec, str) else spec.get("type") if isinstance(spec, dict) else None
        if isinstance(name, str):
            self.get(name, where=where)  # an unknown name: did-you-mean, and the registered names as the hint
        checked, problems = self.check(spec)
        if problems:
            raise problems_error(problems, where)
        return checked

    def build(self, spec: str | dict[str, Any], *, where: str | None = None, **extra: Any) -> Any:
        """Validate a `name` or `{type: name, ...}` spec and construct the class from it."""
        config = self.validate(spec, where=where)
        return self.get(config.pop("type"))(**config, **extra)


class Configurable:
    """Base of every registered class: get_config() reads back the constructor's arguments.

    Subclasses store each constructor argument as an attribute of the same name (Keras' convention),
    so `cls(**config_without_type)` rebuilds an equal object.
    """

    type_name: str

    def get_config(self) -> dict[str, Any]:
        return {"type": self.type_name, **{p.name: getattr(self, p.name) for p in parameters(type(self))}}


def parameters(cls: type) -> list[inspect.Parameter]:
    """The keyword parameters a config may set: cls.__init__'s, and its parents' where it takes **kwargs.

    A constructor that ends in **kwargs passes them up (`super().__init__(**common)`), so the parent's
    parameters are part of the config too; a subclass may redeclare one to change its default.
    Annotations are evaluated, so p.annotation is the real type even under `from __future__ import annotations`.
    """
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is object:
            break
        passes_up = False
        for p in list(inspect.signature(init, eval_str=True).parameters.values())[1:]:
            if p.kind == inspect.Parameter.VAR_KEYWORD:
                passes_up = True
            elif p.kind != inspect.Parameter.VAR_POSITIONAL:
                found.setdefault(p.name, p)
        if not passes_up:
            break
    return list(found.values())


def schema_from_signature(cls: type, name: str) -> type[pydantic.BaseModel]:
    fields: dict[str, Any] = {"type": (Literal[name], name)}
    for p in parameters(cls):
        default = ... if p.default is inspect.Parameter.empty else p.default
        annotation = Any if p.annotation is inspect.Parameter.empty else p.annotation
        fields[p.name] = (annotation, default)
    return pydantic.create_model(
        f"{cls.__name__}Config",
        __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **fields,
    )


# --- problems ------------------------------------------------------------------------------------


def problems_from(
    error: pydantic.ValidationError,
    prefix: tuple,
    value: Any,
    schema: type[pydantic.BaseModel],
    *,
    allowed: list[str] | None = None,
    rename: dict[str, str] | None = None,
) -> list[Problem]:
    """One Problem per key path from a pydantic error on `value` (validated by `schema`), under `prefix`.

    Union branches of one value are joined with 'or'. An unknown key lists the keys allowed where it
    sits: `allowed` at the top of `value`, else the fields of the nested section of `schema`.
    """
    grouped: dict[tuple, list[dict[str, Any]]] = {}
    for item in error.errors(include_url=False):
        grouped.setdefault(_trim_loc(item["loc"], value), []).append(item)
    out = []
    for loc, items in grouped.items():
        full = prefix + tuple((rename or {}).get(p, p) if i == 0 else p for i, p in enumerate(loc))
        kinds = {item["type"] for item in items}
        if "extra_forbidden" in kinds:
            keys = allowed if allowed is not None and len(loc) == 1 else allowed_keys(schema, loc[:-1])
            out.append(Problem(full, unknown_key_message(str(loc[-1]), keys), at_key=True))
        elif "missing" in kinds:
            out.append(Problem(full, "required key is missing"))
        else:
            messages = []
            for item in items:
                message = re.sub(r"^(Value error|Assertion failed), ", "", item["msg"])
                message = re.sub(r" or instance of \w+", "", message)
                if item["type"] == "literal_error" and isinstance(item.get("input"), str):
                    choices = re.findall(r"'([^']*)'", item.get("ctx", {}).get("expected", ""))
                    message += did_you_mean(item["input"], choices)
                # an error inside one union branch (the 2nd entry of a [kh, kw] pair) keeps its index
                inner = "".join(f"[{p}]" for p in item["loc"][len(loc) :] if isinstance(p, int))
                message = f"{inner}: {message}" if inner else message
                if message not in messages:
                    messages.append(message)
            text = " or ".join(messages)
            got = inline(_get(value, loc))
            if "got " not in text and len(got) <= 60 and not isinstance(_get(value, loc), dict):
                text += f" (got {got})"
            out.append(Problem(full, text))
    return out


def problems_error(problems: list[Problem], where: str | None = None) -> ConfigError:
    """One ConfigError for problems found outside a file (a spec built in Python): `path: message; ...`."""
    return ConfigError(
        "; ".join(f"{path_text(p.loc)}: {p.message}" if p.loc else p.message for p in problems), where=where
    )


def allowed_keys(schema: type[pydantic.BaseModel], loc: tuple) -> list[str]:
    """Field names of the pydantic section found at `loc` inside `schema` (for did-you-mean on an unknown key).

    Fields marked `json_schema_extra={"internal": True}` are filled in by nnrun, never written by a user.
    """
    section = schema
    for part in loc:
        field = section.model_fields.get(part) if isinstance(part, str) else None
        inner = section_type(field.annotation) if field else None
        if inner is None:
            return []
        section = inner
    return [key for key, field in section.model_fields.items() if not is_internal(field)]


def is_internal(field: Any) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("internal"))


def section_type(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The pydantic model inside an annotation (`EarlyStoppingConfig | None` -> EarlyStoppingConfig)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = section_type(arg)
        if found:
            return found
    return None


def unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    return f"unknown key '{key}'{did_you_mean(key, allowed)}; allowed keys: {', '.join(allowed)}"


def path_text(loc: tuple) -> str:
    """A key path as written in messages and --set: `model.layers[2].units`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


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


LAYERS = Registry("layer")
LOSSES = Registry("loss")
OPTIMIZERS = Registry("optimizer")
INITIALIZERS = Registry("initializer")
SCHEDULES = Registry("schedule")
DATASETS = Registry("dataset")
