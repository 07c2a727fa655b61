"""Reading config YAML: safe tags only, YAML 1.2 floats, duplicate keys refused, and a line for every key path.

The line map lets every problem found later (by validation, or in an override) point at its line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from nnrun.config.locate import LineMap, raise_problems
from nnrun.errors import ConfigError
from nnrun.registry import Problem


class YamlLoader(yaml.SafeLoader):
    """SafeLoader that reads 1e-3 as a float, as YAML 1.2 does (YAML 1.1 needs a dot: 1.0e-3)."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: Path) -> tuple[Any, LineMap]:
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


def parse_yaml(text: str, source: str = "<string>") -> tuple[Any, LineMap]:
    """Parse YAML text (safe tags only); duplicate keys are an error, unlike yaml.safe_load."""
    loader = YamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: LineMap = {}
        problems: list[Problem] = []
        _walk(node, (), lines, problems, frozenset())
        if problems:
            raise_problems(problems, source, lines, [])
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


def _walk(node: yaml.Node, path: tuple, lines: LineMap, problems: list[Problem], active: frozenset) -> None:
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
