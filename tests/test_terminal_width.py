"""What a new user sees in an 80-column terminal (issue 26): no word broken, no header cut to ambiguity, paths
whole, no value placeholder on a flag, and no bracketed text eaten by rich's markup."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from nnrun.cli import app
from nnrun.data import locate
from nnrun.data.base import Loader
from nnrun.data.dataset import Dataset
from nnrun.registry import DATASETS
from tests.sweeps.studies import tiny_study

WIDTH = 80


def run(*args: str, width: int = WIDTH):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(width)})


def flat(text: str) -> str:
    """The text with every run of whitespace (a wrap, an indent) made one space."""
    return " ".join(text.split())


def too_long(text: str, width: int = WIDTH, exempt: tuple[str, ...] = ()) -> list[str]:
    return [line for line in text.splitlines() if len(line) > width and line.strip() not in exempt]


def table_cells(text: str) -> dict[str, dict[str, list[str]]]:
    """title -> first cell -> the row's cells, each with its wrapped lines joined, for the rich tables in `text`."""
    tables: dict[str, dict[str, list[str]]] = {}
    title, row = "", None
    for line in text.splitlines():
        if not line.startswith("│"):
            if line.strip() and line.strip()[0] not in "┏┃┡└":
                title, row = line.strip(), None
            continue
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if cells[0]:
            row = tables.setdefault(title, {}).setdefault(cells[0], cells)
        else:
            for k, cell in enumerate(cells[1:], start=1):
                row[k] = f"{row[k]} {cell}".strip()
    return tables


# --- --help ------------------------------------------------------------------------------------------


def verbs(group: Any = None, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every verb of `nnrun`, `nnrun data`'s too, as its words."""
    import typer.main

    group = group or typer.main.get_command(app)
    out = []
    for name, command in group.commands.items():
        words = [*prefix, name]
        out += verbs(command, tuple(words)) if hasattr(command, "commands") else [words]
    return out


VERBS = verbs()


@pytest.mark.parametrize("verb", [[], ["data"], *VERBS], ids=lambda verb: " ".join(verb) or "nnrun")
def test_help_shows_flags_without_a_value_placeholder(verb):
    result = run(*verb, "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    # a verb with a required option marks it with * in a column of its own, before every option's name
    help_line = next(line for line in result.stdout.splitlines() if line.lstrip("│ *").startswith("--help"))
    assert flat(help_line.strip("│ *")) == "--help Show this message and exit."
    assert not too_long(result.stdout)


def test_sweep_help_keeps_the_placeholders_of_options_that_take_a_value():
    lines = run("sweep", "--help").stdout.splitlines()
    row = {line.split()[1]: flat(line) for line in lines if line.startswith("│ --")}
    assert "<path>" in row["--out"] and "<int>" in row["--workers"] and "KEY=VALUE" in row["--set"]
    for flag in ("--quiet", "--force", "--dry-run", "--no-plot", "--offline", "--debug"):
        assert "<" not in row[flag], row[flag]


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_help_prose_fills_its_lines(verb):
    """A docstring's line breaks inside a paragraph do not show: each line is as full as the next word allows
    (an Example paragraph keeps its lines)."""
    text = run(*verb, "--help").stdout
    prose = text.split("Usage:")[1].split("╭")[0].splitlines()[1:]
    paragraphs = "\n".join(line.strip() for line in prose).split("\n\n")
    for paragraph in paragraphs:
        lines = paragraph.strip().splitlines()
        if not lines or lines[0].startswith("Example"):
            continue
        for line, after in zip(lines, lines[1:]):
            assert len(line) + 1 + len(after.split()[0]) > WIDTH - 4, f"a short line: {line!r} before {after!r}"


# --- nnrun layers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [WIDTH, 250])
def test_layers_shows_every_registered_description_whole(width):
    import nnrun.config  # noqa: F401  (fills the registries)
    from nnrun.registry import INITIALIZERS, LAYERS, LOSSES, OPTIMIZERS, SCHEDULES

    result = run("layers", width=width)
    assert result.exit_code == 0, result.output
    assert not too_long(result.stdout, width)
    tables = table_cells(result.stdout)
    for registry in (LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, INITIALIZERS, DATASETS):
        plural = registry.kind + ("es" if registry.kind.endswith("s") else "s")
        for name, cls in registry.items():
            doc = (cls.__doc__ or "").strip().splitlines()
            assert tables[plural][name][2] == flat(doc[0] if doc else ""), (plural, name)
    # the texts rich's markup used to eat
    assert "dense -> [batchnorm] -> activation -> [dropout]" in tables["layers"]["dense_stack"][2]
    assert "softmax(z)[y]" in tables["losses"]["softmax_cross_entropy"][2]


# --- nnrun data list ---------------------------------------------------------------------------------


class FoundFiles(Loader):
    """A dataset found in a deep folder, for the [terminal] tests: its path stays whole, its words too."""

    shape = (3,)
    classes = 2
    folder: Path  # set by the fixture

    def __init__(self, *, path: str | None = None, **common: Any):
        self.path = path
        super().__init__(**common)

    def locate(self) -> Path | None:
        return self.folder

    def fetch(self) -> Path:
        return self.folder

    def load_raw(self, seed: int) -> Dataset:
        raise NotImplementedError("listed, never loaded")


@pytest.fixture
def found(tmp_path, monkeypatch):
    """Empty data folders in tmp_path, and a dataset whose files are found at a path longer than a line."""
    monkeypatch.setenv("NNRUN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(locate, "SYSTEM_DIRS", (tmp_path / "system",))
    folder = tmp_path / "a folder with spaces" / ("deep-" * 12) / "found_files"
    monkeypatch.setattr(FoundFiles, "folder", folder, raising=False)
    monkeypatch.setitem(DATASETS._classes, "found_files", FoundFiles)
    FoundFiles.type_name = "found_files"
    return folder


def test_data_list_at_80_columns_keeps_words_and_paths_whole(found):
    from nnrun.data.catalog import entries

    assert len(str(found)) > WIDTH
    result = run("data", "list")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert not too_long(text, exempt=(str(found),))
    lines = text.splitlines()
    assert str(found) in [line.strip() for line in lines]  # the path alone on its line, to copy
    for entry in entries():
        assert flat(entry.description) in flat(text), entry.name  # no word broken, no [text] eaten
    headline = {line.split()[0]: line for line in lines if line and not line.startswith(" ")}
    assert "built in" in headline["digits"] and "[1, 8, 8]" in headline["digits"]
    assert "needs data.path" in headline["npz"]
    assert "not present" in headline["cifar10"]
    assert len(lines) < 60  # it was about 110


def test_data_list_in_a_wide_terminal_is_one_table(found):
    result = run("data", "list", width=400)
    rows = table_cells(result.stdout)["datasets"]
    assert rows["found_files"][-1] == str(found)
    assert rows["found_files"][3] == flat(FoundFiles.__doc__)
    assert rows["xor"][3].startswith("Points uniform in [-1, 1]²")


# --- nnrun sweep -------------------------------------------------------------------------------------


def test_parameter_headers_are_their_shortest_distinct_ending():
    from nnrun.sweeps.summary import short_names

    assert short_names(["model.hidden.units", "optimizer.lr"]) == {
        "model.hidden.units": "units",
        "optimizer.lr": "lr",
    }
    assert short_names(["model.hidden.units", "model.head.units", "model.layers.2.units", "seed_like"]) == {
        "model.hidden.units": "hidden.units",
        "model.head.units": "head.units",
        "model.layers.2.units": "2.units",
        "seed_like": "seed_like",
    }
    assert short_names(["a.x", "x"]) == {"a.x": "a.x", "x": "x"}


def summary_row(point: int, units: int, lr: float, best: int = 0) -> dict[str, Any]:
    row = {"point": point, "model.hidden.units": units, "optimizer.lr": lr, "seeds": 3, "failed": 0, "best": best}
    for k, metric in enumerate(["test_acc", "val_acc", "train_acc", "test_loss", "val_loss", "train_loss"]):
        row[f"{metric}_mean"], row[f"{metric}_std"] = 0.6769 + 0.01 * k + 0.001 * point, 0.1305
    return row


def finished_view(rows: list[dict[str, Any]], parameters: list[str], width: int = WIDTH) -> str:
    from nnrun.sweeps.progress import RichSweepView, SweepStart

    view = RichSweepView(Console(file=io.StringIO(), width=width, record=True))
    view.start(SweepStart("hidden_units", Path("/tmp/x"), len(rows), 3, 3 * len(rows), 0, 0, 1, 1, "best", {}))
    view.finish(rows, parameters, "val_acc")
    return view.console.export_text()


def test_the_summary_table_at_80_columns_tells_its_columns_apart_and_keeps_each_value_on_one_line():
    from nnrun.sweeps.summary import cell

    rows = [summary_row(1, 100, 0.001), summary_row(2, 2000, 0.01, best=1), summary_row(3, 500, 0.0003)]
    text = finished_view(rows, ["model.hidden.units", "optimizer.lr"])
    assert not too_long(text)
    assert "…" not in text
    header = [line for line in text.splitlines() if line.startswith("┃")]
    titles = [flat(" ".join(parts)) for parts in zip(*(line.strip("┃").split("┃") for line in header))]
    assert titles[:4] == ["point", "units", "lr", "seeds"]
    assert "val acc %" in titles  # the study's metric is always shown
    lines = text.splitlines()
    for row in rows:
        line = next(line for line in lines if line.startswith(f"│ {row['point']:>5} │"))
        for key, title in [("test_acc", "test acc %"), ("val_acc", "val acc %"), ("train_acc", "train acc %"),
                           ("test_loss", "test loss"), ("val_loss", "val loss")]:  # fmt: skip
            if title in titles:
                assert cell(row, key) in line, (key, line)  # mean ± std on one line
    left_out = [title for title in ["test acc %", "train acc %", "test loss", "val loss"] if title not in titles]
    assert left_out  # five ± columns do not fit in 80
    note = flat(text.split("└")[1])
    assert "units: model.hidden.units, lr: optimizer.lr" in note
    assert f"left out at this width: {', '.join(left_out)} (summary.md has every column)" in note


def test_the_summary_table_in_a_wide_terminal_shows_every_column():
    rows = [summary_row(1, 100, 0.001), summary_row(2, 2000, 0.01, best=1)]
    text = finished_view(rows, ["model.hidden.units", "optimizer.lr"], width=200)
    for title in ["test acc %", "val acc %", "train acc %", "test loss", "val loss"]:
        assert title in text
    assert "summary.md" not in text


def test_the_dry_run_table_at_80_columns_keeps_trial_ids_and_tells_parameters_apart(tmp_path):
    from nnrun.cli.sweep import trials_table
    from nnrun.sweeps.run import open_study

    parameters = {"model.hidden.units": [8, 16], "optimizer.lr": [0.01, 0.003], "optimizer.type": ["adam", "sgd"]}
    study = open_study(tiny_study(parameters), out=tmp_path / "a [bracketed] folder")
    console = Console(file=io.StringIO(), width=WIDTH, record=True)
    console.print(trials_table(study))
    text = console.export_text()
    assert not too_long(text) and "…" not in text
    assert "[bracketed]" in text
    rows = table_cells(text)
    header = flat(next(line for line in text.splitlines() if line.startswith("┃")))
    assert header.split("┃")[1:-1] == [f" {t} " for t in ["trial", "point", "units", "lr", "type", "seed", "state"]]
    for trial in study.plan.trials:
        assert trial.id in next(iter(rows.values()))


def test_a_sweep_at_80_columns_ends_with_a_readable_progress_line_and_table(tmp_path):
    from nnrun.sweeps.progress import RichSweepView
    from nnrun.sweeps.run import sweep

    out = io.StringIO()
    config = tiny_study({"model.hidden.units": [8, 16], "optimizer.lr": [0.01, 0.003]}, seeds=[0, 1])
    sweep(config, out=tmp_path / "sweep", workers=1, plot=False, reporter=RichSweepView(Console(file=out, width=80)))
    text = out.getvalue()
    assert not too_long(text)
    lines = text.splitlines()
    bar = [line for line in lines if line.startswith("trials ")]
    assert bar and "8/8" in bar[-1] and "…" not in bar[-1], bar
    assert re.search(r"running 0, failed 0, best so far: point \d val_acc \d\.\d{4}", flat(text))
    header = [line for line in lines if line.startswith("┃")]
    assert "units" in "".join(header) and "lr" in "".join(header) and "…" not in "".join(header)
    assert f"results in {tmp_path / 'sweep'}" in lines


def test_bracketed_names_and_paths_survive_the_sweep_view(tmp_path):
    from nnrun.sweeps.progress import RichSweepView, SweepStart

    view = RichSweepView(Console(file=io.StringIO(), width=WIDTH, record=True))
    folder = tmp_path / "[x]"
    view.start(SweepStart("study [v2]", folder, 1, 1, 1, 0, 0, 1, 1, "best", {}))
    view.finish([], ["model.hidden.units"], "val_acc")
    text = view.console.export_text()
    assert "study [v2]: 1 points" in text and f"results in {folder}" in flat(text)
