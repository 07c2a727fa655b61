"""Name -> class registries for layers, losses, optimizers, initializers, schedules and datasets.

A class registers under its YAML `type:` name. Its constructor's annotated keyword arguments are the
single source of truth for its config: `schema(name)` turns them into a pydantic model that forbids
unknown keys, and `get_config()` on an instance returns the same keys, so `cls(**config)` rebuilds it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pydantic

from nnrun.errors import ConfigError, did_you_mean


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

    def build(self, spec: str | dict[str, Any], *, where: str | None = None, **extra: Any) -> Any:
        """Validate a `name` or `{type: name, ...}` spec and construct the class from it."""
        config = validate_spec(self, spec, where=where)
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


def validate_spec(registry: Registry, spec: str | dict[str, Any], *, where: str | None = None) -> dict[str, Any]:
    """Check a spec against its class's schema and return it with every default filled in."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(
            f"a {registry.kind} must be a name or a mapping with a 'type' key, got {spec!r}",
            where=where,
            hint=f"registered {registry.kind} types: {', '.join(registry.names())}",
        )
    registry.get(spec["type"], where=where)
    model = registry.schema(spec["type"])
    try:
        return model.model_validate(spec).model_dump()
    except pydantic.ValidationError as error:
        raise ConfigError(format_validation_error(error, model), where=where) from None


def format_validation_error(error: pydantic.ValidationError, model: type[pydantic.BaseModel]) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = f"unknown key{did_you_mean(str(item['loc'][-1]), model.model_fields)}"
            message += f"; allowed keys: {', '.join(model.model_fields)}"
        lines.append(f"{key}: {message}" if key else message)
    return "; ".join(lines)


LAYERS = Registry("layer")
LOSSES = Registry("loss")
OPTIMIZERS = Registry("optimizer")
INITIALIZERS = Registry("initializer")
SCHEDULES = Registry("schedule")
DATASETS = Registry("dataset")
