"""The layering of nnrun/: every import points down the stack drawn in the README, and no module is too long.

Imports anywhere in a module count, function-local ones included: a local import hides a dependency from
a reader, not from this test.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "nnrun"

# Bottom to top. A module may import its own layer and the layers below it, never one above.
# docs/architecture.md draws this table (test_the_architecture_page_draws_this_table).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("the foundation", ("nnrun", "nnrun.errors", "nnrun.io", "nnrun.registry", "nnrun.params", "nnrun.runtime")),
    ("numba kernels on arrays", ("nnrun.kernels",)),
    (
        "the building blocks",
        ("nnrun.initializers", "nnrun.layers", "nnrun.losses", "nnrun.optimizers", "nnrun.schedules", "nnrun.data"),
    ),
    ("schema, YAML, --set, validation", ("nnrun.config",)),
    ("Sequential", ("nnrun.model",)),
    ("reading run and sweep folders, drawing and exporting them", ("nnrun.results", "nnrun.report", "nnrun.export")),
    ("one run's lifecycle", ("nnrun.runs",)),
    ("gradcheck, sanity, verify, a config against its data", ("nnrun.checks",)),
    ("studies", ("nnrun.sweeps",)),
    ("the reports' experiments", ("nnrun.reproduce",)),
    ("nnrun bench", ("nnrun.bench",)),
    ("the command line", ("nnrun.cli", "nnrun.__main__")),
]
MAX_LINES = 500


DIAGRAM_START, DIAGRAM_END = "<!-- layers: start -->", "<!-- layers: end -->"


def diagram() -> str:
    """LAYERS as a Markdown table, top to bottom: a package's name ends in a slash."""
    rows = ["| layer | modules |", "|---|---|"]
    for what, prefixes in reversed(LAYERS):
        names = []
        for prefix in prefixes:
            path = ROOT / prefix.replace(".", "/")
            names.append("`__init__.py`" if prefix == "nnrun" else f"`{path.name}/`" if path.is_dir() else
                         f"`{path.name}.py`")  # fmt: skip
        rows.append(f"| {what} | {' · '.join(names)} |")
    return "\n".join(rows)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The nnrun modules `path` imports; `from pkg import name` counts as pkg.name where that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return {name for name in found if name == "nnrun" or name.startswith("nnrun.")}


def layer_of(module: str) -> int:
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    if rank is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_architecture.py")
    return rank


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """`a (layer) imports b (higher layer)` for every import that points up the stack."""
    problems = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                problems.append(
                    f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
                )
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among modules (the root package `nnrun`, whose names load lazily, left out)."""
    found, state = [], {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if target == "nnrun" or target == module:
                continue
            if state.get(target) == "open":
                found.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, set(known)) for name, path in known.items()}


def test_every_import_points_down_the_layers():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_checks_catch_an_upward_import_and_a_cycle():
    """What the two tests above would report if io imported the trainer, and model imported results."""
    graph = import_graph()
    graph["nnrun.io"] = graph["nnrun.io"] | {"nnrun.runs.trainer"}
    assert "nnrun.io (the foundation) imports nnrun.runs.trainer (one run's lifecycle)" in upward_imports(graph)
    graph["nnrun.model"] = graph["nnrun.model"] | {"nnrun.results"}
    # the search reports each cycle from where it first entered it, which depends on the rest of the graph
    assert any(cycle[0] == cycle[-1] and {"nnrun.model", "nnrun.results"} <= set(cycle) for cycle in cycles(graph))


def test_results_and_plots_never_import_the_trainer():
    graph = import_graph()
    readers = [name for name in graph if name == "nnrun.results" or name.startswith("nnrun.report")]
    assert len(readers) > 2
    for reader in readers:
        reach, todo = set(), [reader]
        while todo:
            for target in graph.get(todo.pop(), ()):
                if target not in reach:
                    reach.add(target)
                    todo.append(target)
        assert not {m for m in reach if m.startswith(("nnrun.runs", "nnrun.sweeps", "nnrun.cli", "nnrun.bench"))}, (
            reader
        )


def test_the_architecture_page_draws_this_table():
    """Regenerate with: NNRUN_UPDATE_README=1 python -m pytest tests/test_architecture.py"""
    page = (ROOT / "docs" / "architecture.md").read_text()
    head, rest = page.split(DIAGRAM_START)
    _, tail = rest.split(DIAGRAM_END)
    expected = f"{head}{DIAGRAM_START}\n{diagram()}\n{DIAGRAM_END}{tail}"
    if os.environ.get("NNRUN_UPDATE_README"):
        (ROOT / "docs" / "architecture.md").write_text(expected)
    assert page == expected, (
        "docs/architecture.md's diagram is stale: NNRUN_UPDATE_README=1 pytest tests/test_architecture.py"
    )


def test_every_package_in_the_table_exists():
    for _, prefixes in LAYERS:
        for prefix in prefixes:
            path = ROOT / prefix.replace(".", "/")
            assert path.is_dir() or path.with_suffix(".py").is_file(), prefix


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_short(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by concept (or say at its top why not)"
