"""Reading config YAML: safe tags only, YAML 1.2 floats, duplicate keys refused, and a line for every key path.

The line map lets every problem found later (by validation, or in an override) point at its line. Hostile
input (huge, deeply nested, an alias bomb, binary) is refused here, with a ConfigError, before it is walked.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.reader import Reader

from nnrun.config.locate import LineMap, raise_problems
from nnrun.errors import ConfigError
from nnrun.io import inline
from nnrun.registry import Problem

# A config is a few KB of YAML nesting about six levels (the largest shipped one is 2 KB). These limits refuse
# hostile documents within a second, before anything walks or copies the tree: pure-Python PyYAML parses
# some 200 KB a second, hence the size limit, and the node limit also stops an alias bomb ("billion laughs").
MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 10_000  # values and keys, every alias counted as the nodes it repeats
MAX_INT_CHARS = 100  # Python refuses to print ints beyond 4300 digits, and 1:2:3... (base 60) grows fast

FILE_HINT = "a config is a YAML text file of a few KB; check the path (configs/quickstart.yaml is an example)"
ALIAS_HINT = "an alias (*name) repeats its anchor (&name); write the values out, or repeat fewer of them"
DEPTH_HINT = "a config nests a few levels (model.layers[0].weight_init.type); look for unclosed brackets"


class Refused(Exception):
    """A document beyond a limit, or a value no constructor can read; `mark` is where in the text."""

    def __init__(self, what: str, mark: yaml.Mark | None, hint: str):
        super().__init__(what)
        self.what, self.mark, self.hint = what, mark, hint


class YamlLoader(yaml.SafeLoader):
    """SafeLoader that reads 1e-3 as a float, as YAML 1.2 does (YAML 1.1 needs a dot: 1.0e-3), and that
    refuses documents deeper than MAX_DEPTH or larger than MAX_NODES as it composes them."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0
        self.nodes = 0
        self.sizes: dict[int, int] = {}  # id(anchored node) -> its nodes, once composed

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = self.anchors.get(event.anchor)
            if node is not None:  # an undefined alias is reported by compose_node
                if id(node) not in self.sizes:
                    raise Refused(
                        f"the alias *{event.anchor} is inside its own anchor &{event.anchor}: it repeats forever",
                        event.start_mark,
                        ALIAS_HINT,
                    )
                self._count(self.sizes[id(node)], event.start_mark, f" (the alias *{event.anchor} repeats its nodes)")
            return super().compose_node(parent, index)
        if self.depth >= MAX_DEPTH:
            raise Refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark, DEPTH_HINT)
        self.depth += 1
        first = self.nodes
        self._count(1, event.start_mark, "")
        node = super().compose_node(parent, index)
        self.depth -= 1
        if isinstance(node, yaml.ScalarNode) and (found := unprintable(node.value)):
            # an escape in quotes ("\x00", "\ud800") makes one; messages that quote it could not be printed
            raise Refused(
                f"the string '{shown(node.value, 60)}' holds {found[1]}",
                event.start_mark,
                "no setting needs control characters; remove the escape (tabs and newlines are fine)",
            )
        if event.anchor is not None:
            self.sizes[id(node)] = self.nodes - first
        return node

    def _count(self, nodes: int, mark: yaml.Mark, how: str) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            hint = ALIAS_HINT if how else FILE_HINT
            raise Refused(f"more than {MAX_NODES:,} values and keys{how}; a config has a few hundred", mark, hint)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as error:
            # an explicit tag on a value it does not fit (!!int x, !!bool 2) or an impossible date (2001-13-45)
            kind = node.tag.rpartition(":")[2]
            impossible_date = kind == "timestamp" and isinstance(error, ValueError)  # say why: month 13, ...
            detail = f" ({error})" if impossible_date else ""
            raise Refused(
                f"cannot read {inline(node.value) if isinstance(node.value, str) else 'this'} as {kind}{detail}",
                node.start_mark,
                "quote the value to mean a string, or drop the explicit tag (!!int, !!float, ...)",
            ) from None

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(node.value) > MAX_INT_CHARS:
            raise Refused(
                f"an integer of {len(node.value):,} characters; the most nnrun reads is {MAX_INT_CHARS}",
                node.start_mark,
                "no setting needs a number this long; quote it if it is meant as a string",
            )
        return super().construct_yaml_int(node)


YamlLoader.add_constructor("tag:yaml.org,2002:int", YamlLoader.construct_yaml_int)
YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: Path) -> tuple[Any, LineMap]:
    """The file's data and a map key path -> (line of the key, line of the value, value is a collection)."""
    hint = "check the path; the configs/ folder has examples (configs/quickstart.yaml)"
    try:
        # never more than the limit: a dataset or /dev/zero given by mistake must not fill memory
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("config file not found", where=str(path), hint=hint) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", where=str(path), hint=hint) from None
    except OSError as error:
        raise ConfigError(f"cannot read the config file: {error.strerror}", where=str(path)) from None
    if len(data) > MAX_BYTES:
        raise ConfigError(
            f"the file is {_file_size(path)}, more than the {MAX_BYTES // 1024} KiB a config may have",
            where=str(path),
            hint=FILE_HINT,
        )
    return parse_yaml(_decode(data, str(path)), str(path))


def _file_size(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if size <= MAX_BYTES:  # a pipe or a device: its size is unknown
        return "larger"
    return f"{size / (1 << 20):,.1f} MiB" if size >= 1 << 20 else f"{size / 1024:,.0f} KiB"


def _decode(data: bytes, source: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(
            "not UTF-8 text: the file is UTF-16", where=source, hint="save it as UTF-8 (most editors offer it)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError(
            f"not UTF-8 text ({error.reason}): byte 0x{data[error.start]:02x} at offset {error.start}; "
            "is this a binary file?",
            where=f"{source}:{line}",
            hint=FILE_HINT,
        ) from None


def parse_yaml(
    text: str, source: str = "<string>", *, in_file: bool = True, syntax_hint: str | None = None
) -> tuple[Any, LineMap]:
    """Parse YAML text (safe tags only); duplicate keys are an error, unlike yaml.safe_load.

    `in_file=False` for a `--set` value: problems are located by `source` alone, not by source:line.
    """
    what = "the file" if in_file else "the value"
    if len(text) > MAX_BYTES:
        raise ConfigError(
            f"{what} has {len(text):,} characters; a config may have at most {MAX_BYTES // 1024} KiB",
            where=source,
            hint=FILE_HINT,
        )
    if found := unprintable(text):
        line, column = _position(text, found[0])
        raise ConfigError(
            f"{what} holds {found[1]} (column {column}), which YAML text cannot; is it binary data?",
            where=f"{source}:{line}" if in_file else source,
            hint=FILE_HINT if in_file else 'write the value as plain text; YAML escapes ("\\t") are allowed',
        )
    loader = YamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: LineMap = {}
        problems: list[Problem] = []
        _walk(node, (), lines, problems)
        if problems:
            raise_problems(problems, source, lines if in_file else None, [])
        return loader.construct_document(node), lines
    except Refused as error:
        raise ConfigError(error.what, where=_where(source, error.mark, in_file), hint=error.hint) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(part for part in (error.context, error.problem) if part) or "a syntax error"
        invalid = "invalid YAML" if in_file else "the value is not valid YAML"
        if "constructor for the tag" in (error.problem or ""):  # !!python/..., or a tag of one's own
            hint = "a config holds plain values: drop the tag, or quote the value to mean a string"
        else:
            hint = syntax_hint or "check the indentation and the `key: value` syntax on that line and the one before"
        raise ConfigError(
            f"{invalid}: {problem}{_column(mark, in_file)}", where=_where(source, mark, in_file), hint=hint
        ) from None
    except yaml.YAMLError as error:
        invalid = "invalid YAML" if in_file else "the value is not valid YAML"
        raise ConfigError(f"{invalid}: {error}", where=source, hint=syntax_hint) from None
    finally:
        loader.dispose()


def shown(text: str, limit: int = 200) -> str:
    """`text` for a message: unprintable characters escaped, and cut to `limit` characters."""
    text = Reader.NON_PRINTABLE.sub(lambda match: repr(match.group())[1:-1], text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unprintable(text: str) -> tuple[int, str] | None:
    """(index, name) of the first character YAML text cannot hold: NUL, other controls, a lone surrogate."""
    bad = Reader.NON_PRINTABLE.search(text)
    if bad is None:
        return None
    character = "a NUL byte" if bad.group() == "\0" else f"the unprintable character U+{ord(bad.group()):04X}"
    return bad.start(), character


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of text[index]."""
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


def _where(source: str, mark: yaml.Mark | None, in_file: bool) -> str:
    return f"{source}:{mark.line + 1}" if mark and in_file else source


def _column(mark: yaml.Mark | None, in_file: bool) -> str:
    if mark is None:
        return ""
    if in_file or mark.line == 0:  # the line is in `where`, or there is only one
        return f" (column {mark.column + 1})"
    return f" (line {mark.line + 1}, column {mark.column + 1})"


def _walk(node: yaml.Node, path: tuple, lines: LineMap, problems: list[Problem]) -> None:
    """Record the line of every key path and report duplicate keys, which yaml.safe_load would drop silently.

    The composer has refused recursive aliases and bounded the nodes an alias repeats, so this ends, quickly.
    """
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            key_line = key_node.start_mark.line + 1
            if key_node.tag != "tag:yaml.org,2002:str":
                # `1:`, `null:`, `on:` would reach validation as a number, None or True, named by nothing
                kind = key_node.tag.rpartition(":")[2]
                problems.append(
                    Problem(
                        path + (key,),
                        f"the key '{key}' reads as {kind}, not as a name; write it in quotes",
                        at_key=True,
                    )
                )
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
            _walk(value_node, path + (key,), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            line = item.start_mark.line + 1
            lines[path + (index,)] = (line, line, isinstance(item, yaml.CollectionNode))
            _walk(item, path + (index,), lines, problems)
