"""`--set key.path=value` overrides: parsed into an Override, applied to a raw config dict in place.

The same API serves `nnrun train --set` and the points of a sweep: `Override.parse("train.epochs=3")`
from text, `Override.of("model.hidden.units", 500)` from a value, then `apply_overrides(raw, [...])`.

Paths: `train.epochs`, `model.layers.2.units` or `model.layers[2].units`, `model.hidden.units` (a layer by
its name). A missing key is created, so that validation reports a misspelt one with did-you-mean.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nnrun.config.schema import MODEL_KEYS
from nnrun.config.source import MAX_DEPTH, parse_yaml, shown, unprintable
from nnrun.errors import ConfigError, did_you_mean, kind_of
from nnrun.io import inline
from nnrun.registry import path_text

HINT = (
    "e.g. --set train.epochs=3, --set optimizer.lr=1e-3, --set model.layers.2.units=100, --set model.hidden.units=100"
)
_NUMBER = re.compile(r"[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Override:
    """One override: the key path as written, its parts, the value, and the text messages quote."""

    path: str
    parts: tuple[str, ...]
    value: Any
    text: str

    @classmethod
    def parse(cls, text: str) -> Override:
        """From `key.path=value`; the value is YAML (`3`, `1e-3`, `[3, 8]`, `{type: step, every: 2}`, `null`)."""
        if not isinstance(text, str):
            raise ConfigError(f"an override must be a string key.path=value, got {text!r:.100}", hint=HINT)
        where = f"--set {shown(text)}"
        if found := unprintable(text):
            raise ConfigError(
                f"the override holds {found[1]} (character {found[0] + 1})",
                where=where,
                hint='write it as plain text; in a quoted YAML value, escapes such as "\\t" are allowed',
            )
        path, sep, value_text = text.partition("=")
        if not sep or not path.strip():
            raise ConfigError("an override must look like key.path=value", where=where, hint=HINT)
        return cls(path.strip(), split_path(path.strip(), where), parse_value(value_text, where), text)

    @classmethod
    def of(cls, path: str, value: Any) -> Override:
        """From a key path and a Python value; `text` is the `--set` argument that gives the same override."""
        # a string goes bare when it reads back as itself (optimizer.type=sgd), else quoted ('1e-3', 'null')
        bare = isinstance(value, str) and value == _plain_reading(value)
        text = f"{path}={value if bare else inline(value)}"
        return cls(path, split_path(path, f"--set {text}"), value, text)


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str | Override]) -> list[tuple[Override, tuple]]:
    """Apply overrides (text or Override) to `raw` in place, in order; return each with its resolved key path."""
    if isinstance(overrides, str):
        overrides = [overrides]
    applied = []
    for item in overrides:
        override = item if isinstance(item, Override) else Override.parse(item)
        applied.append((override, apply_override(raw, override)))
    return applied


def apply_override(raw: dict[str, Any], override: Override) -> tuple:
    """Set one override's value in `raw`; return the key path it resolved to (layer names become indices)."""
    where = f"--set {override.text}"
    parts = override.parts
    node: Any = raw
    resolved: list[Any] = []
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(node, list):
            key: Any = _list_index(node, part, tuple(resolved), where)
        elif resolved == ["model"] and part not in node and part not in MODEL_KEYS and (not last or _named(node, part)):
            # `model.<layer name>.key`, or a whole layer `model.<layer name>`: the layer list is searched by name
            layers = node.get("layers")
            index = _layer_by_name(layers if isinstance(layers, list) else [], part, where)
            resolved.append("layers")
            node = node["layers"]
            key = index
        else:
            key = part
        resolved.append(key)
        if last:
            value = override.value
            if len(parts) == 2 and resolved[1] == "layers" and isinstance(value, dict) and "name" not in value:
                value = {**value, "name": part}  # a layer replaced by its name keeps it, for later overrides
            node[key] = value
            break
        child = node[key] if (isinstance(node, list) or key in node) else None
        if child is None:
            child = {}
        elif isinstance(child, str):
            # a spec given by name (`loss: hinge`, `schedule: constant`, a layer `- relu`) opens into a mapping
            child = {"dataset" if tuple(resolved) == ("data",) else "type": child}
        elif not isinstance(child, (dict, list)):
            here = path_text(tuple(resolved))
            raise ConfigError(
                f"{here} is {kind_of(child)} ({inline(child)}), it has no key '{parts[position + 1]}'",
                where=where,
                hint=f"set it as a whole: --set {here}=...",
            )
        node[key] = child
        node = child
    return tuple(resolved)


def split_path(path: str, where: str) -> tuple[str, ...]:
    """`model.layers[2].units` -> ("model", "layers", "2", "units")."""
    parts = re.sub(r"\[(-?\d+)\]", r".\1", path).split(".")
    if any(not part or "[" in part or "]" in part for part in parts):
        raise ConfigError(f"malformed key path '{shown(path)}'", where=where, hint=HINT)
    if len(parts) > MAX_DEPTH:
        # each part opens a level: a deeper path only builds a tree nothing can walk
        raise ConfigError(
            f"the key path has {len(parts):,} parts; a config nests at most {MAX_DEPTH} levels", where=where, hint=HINT
        )
    return tuple(parts)


def parse_value(text: str, where: str) -> Any:
    value, _ = parse_yaml(
        text,
        where,
        in_file=False,
        syntax_hint="quote it in the shell so YAML sees a string: --set \"name='my: run'\"",
    )
    # YAML 1.1 reads some numbers (1e-3) as strings; a value that reads as a number is meant as one
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    return value


def _plain_reading(text: str) -> Any:
    try:
        return parse_value(text, "")
    except ConfigError:
        return None


def _named(model: dict[str, Any], name: str) -> bool:
    layers = model.get("layers")
    return isinstance(layers, list) and any(isinstance(layer, dict) and layer.get("name") == name for layer in layers)


def _list_index(items: list, part: str, path: tuple, where: str) -> int:
    count = len(items)
    if re.fullmatch(r"-?\d+", part):
        # no list is longer than 18 digits, and int() refuses numbers of over 4300
        index = int(part) if len(part) <= 18 else shown(part, 40)
        if isinstance(index, int) and -count <= index < count:
            return index % count
        listing = f"; layers: {_layer_listing(items)}" if path == ("model", "layers") else ""
        raise ConfigError(
            f"index {index} is out of range: {path_text(path)} has {count} entries (0..{count - 1}){listing}",
            where=where,
        )
    if path == ("model", "layers"):
        return _layer_by_name(items, part, where)
    raise ConfigError(f"{path_text(path)} is a list; give an index from 0 to {count - 1}, not '{part}'", where=where)


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
