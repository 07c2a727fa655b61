"""Every run and sweep under a folder in one table (`nnrun runs`), read from summary.json and config.yaml, and
from a sweep's sweep.yaml, trials.csv and summary.csv (and its trials' summary.json for their times): never a
metrics file or a model, so that hundreds of folders list quickly (benchmarks/runs_table.py times it).

A sweep is one row: its trials are counted there, never listed apart. Runs of the same name are labelled by
the config values in which they differ, as `nnrun plot RUN RUN` labels them (nnrun.report.compare).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from rich.text import Text

from nnrun.errors import RunError, did_you_mean
from nnrun.io import inline
from nnrun.report.compare import differences, flatten, labels
from nnrun.results import Run, load_sweep, metric_cell, metric_title, run_folders, sweep_status

# --sort KEY: the field it sorts by, and whether the largest comes first (the newest, the most accurate)
SORT_KEYS = {
    "started": ("started_at", True),
    "name": ("name", False),
    "status": ("status", False),
    "epochs": ("epochs", True),
    "val_acc": ("val_acc", True),
    "test_acc": ("test_acc", True),
    "wall": ("wall_seconds", True),
}
STATUS_STYLES = {"completed": "green", "early_stopped": "green", "running": "cyan", "failed": "red"}


@dataclass
class Listed:
    """One row of the table: a run folder, or a sweep folder with its trials counted."""

    path: Path
    kind: str  # "run" or "sweep"
    name: str
    status: str
    started_at: str | None  # UTC, ISO 8601 as summary.json writes it; a sweep's: its first trial's
    wall_seconds: float | None  # from the start to the last summary written (a sweep's: any trial's)
    epochs: float | None  # a sweep's: its best point's mean over seeds
    val_acc: float | None  # the best evaluation's (a sweep's: its best point's mean over seeds)
    test_acc: float | None
    trials: int | None = None
    failed: int | None = None
    best: dict[str, Any] | None = None  # a sweep's best point: its parameter values
    metric: str | None = None  # the metric that ranked a sweep's points
    config: dict[str, Any] = field(default_factory=dict, repr=False)  # the resolved config (a sweep's base)
    differs: dict[str, Any] = field(default_factory=dict)  # the values in which it differs from its namesakes
    label: str = ""  # those values as `nnrun plot` labels the runs it compares

    def as_json(self) -> dict[str, Any]:
        return {"path": str(self.path), **{key: getattr(self, key) for key in JSON_FIELDS}}


JSON_FIELDS = ("kind", "name", "status", "started_at", "wall_seconds", "epochs", "val_acc", "test_acc", "trials",
               "failed", "best", "metric", "differs")  # fmt: skip
FIELDS = ("path", *JSON_FIELDS)  # the keys of --json, which --filter matches


# --- reading ----------------------------------------------------------------------------------


def list_folders(root: str | Path, warn: Callable[[str], None]) -> list[Listed]:
    """A row for each run and sweep folder under `root` (or `root` itself); a folder that cannot be read is
    passed to `warn` as one line and left out. A RunError when `root` is missing or holds none."""
    root = Path(root)
    if not root.exists():
        raise RunError(f"{root} does not exist", hint="pass the folder your runs are in (nnrun train writes results/)")
    if not root.is_dir():
        raise RunError(f"{root} is not a folder", hint="pass a folder of runs, such as results/")
    listed, skipped = [], 0
    for kind, path in run_folders(root, lambda folder, error: warn(f"skipped {folder}: {why(error)}")):
        try:
            listed.append(read_run(path) if kind == "run" else read_sweep(path))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError, RunError) as error:
            warn(f"skipped {path}: {why(error)}")
            skipped += 1
    if not listed:
        what = f"no run or sweep folder under {root} could be read" if skipped else f"no runs or sweeps under {root}"
        raise RunError(
            what, hint="see the lines above" if skipped else "train one: nnrun train configs/quickstart.yaml"
        )
    return listed


def read_run(path: Path) -> Listed:
    summary = read_mapping(path / "summary.json")
    config = read_yaml(path / "config.yaml")
    best = summary.get("best") or {}
    started = timestamp(summary.get("started_at"))
    return Listed(
        path=path,
        kind="run",
        name=str(summary.get("name") or config.get("name") or path.parent.name),
        status=str(summary.get("status", "unknown")),
        started_at=started,
        wall_seconds=elapsed(started, timestamp(summary.get("updated_at"))),
        epochs=number(summary.get("epoch")),
        val_acc=number(best.get("val_acc")),
        test_acc=number(best.get("test_acc")),
        config=config,
    )


def read_sweep(path: Path) -> Listed:
    sweep = load_sweep(path)
    trials = [row for row in sweep.trials if row.get("status") != "stale"]
    statuses = [str(row.get("status")) for row in trials]
    times = [trial_times(path / str(row.get("run_dir") or f"trials/{row['trial']}")) for row in trials]
    started = min((start for start, _ in times if start), default=None)
    ended = max((end for _, end in times if end), default=None)
    best = sweep.best or {}
    return Listed(
        path=path,
        kind="sweep",
        name=str(sweep.base.get("name") or path.parent.name),
        status=sweep_status(path, statuses),
        started_at=started,
        wall_seconds=elapsed(started, ended),
        epochs=number(best.get("epoch_mean")),
        val_acc=number(best.get("val_acc_mean")),
        test_acc=number(best.get("test_acc_mean")),
        trials=len(trials),
        failed=statuses.count("failed"),
        best={key: best.get(key) for key in sweep.parameters} if best else None,
        metric=(sweep.spec.get("metric") or {}).get("name"),
        config=sweep.base,
    )


def trial_times(run_dir: Path) -> tuple[str | None, str | None]:
    """A trial's started_at and updated_at; (None, None) for one that has not started."""
    try:
        summary = read_mapping(run_dir / "summary.json")
    except (OSError, ValueError):
        return None, None
    return timestamp(summary.get("started_at")), timestamp(summary.get("updated_at"))


def number(value: Any) -> float | None:
    """A figure of a summary, None for anything else (a hand-edited file must not break the sorting)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def timestamp(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_mapping(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path.name} is not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} holds no JSON object")
    return data


# yaml.safe_load's constructor on libyaml's parser where PyYAML has it: the parsing is most of the command's work
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping, as yaml.safe_load reads it."""
    loader = SafeLoader(path.read_text())
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as error:
        raise ValueError(f"{path.name} is not valid YAML ({str(error).strip().splitlines()[0]})") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} holds no mapping")
    return data


def why(error: Exception) -> str:
    """An error reading a folder, in one line."""
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"no {Path(error.filename).name}"
    if isinstance(error, RunError):
        return error.what
    if isinstance(error, KeyError):
        return f"no {error.args[0]!r} where nnrun writes one"
    if isinstance(error, yaml.YAMLError):
        return f"sweep.yaml is not valid YAML ({str(error).strip().splitlines()[0]})"
    if isinstance(error, OSError) and error.filename:
        return f"{Path(error.filename).name}: {error.strerror}"
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def elapsed(start: str | None, end: str | None) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


# --- choosing ---------------------------------------------------------------------------------


def select(
    listed: list[Listed], filters: Iterable[str] = (), last: int | None = None, sort: str = "started"
) -> list[Listed]:
    """The rows that pass every filter (KEY=VALUE: a key given twice passes either value), the `last` newest
    of them, sorted by `sort`; then each labelled by the config values that set it apart from its namesakes."""
    if sort not in SORT_KEYS:
        raise RunError(f"--sort {sort} is not one of {', '.join(SORT_KEYS)}{did_you_mean(sort, SORT_KEYS)}")
    wanted = defaultdict(set)
    for text in filters:
        key, equals, value = text.partition("=")
        if not equals or key not in FIELDS:
            hint = f"KEY is one of {', '.join(FIELDS)}"
            raise RunError(f"--filter {text}: expected KEY=VALUE{did_you_mean(key, FIELDS)}", hint=hint)
        wanted[key].add(value)
    chosen = [item for item in listed if all(shown(getattr(item, key)) in values for key, values in wanted.items())]
    newest = sorted_by(chosen, "started")
    chosen = sorted_by(newest[:last] if last is not None else newest, sort)
    label_namesakes(chosen)
    return chosen


def shown(value: Any) -> str:
    """A field as --filter matches it: text as it is, anything else as a YAML value (`null`, `0.01`)."""
    return value if isinstance(value, str) else inline(value)


def sorted_by(listed: list[Listed], key: str) -> list[Listed]:
    """Sorted by a --sort key, ties kept in their order; the rows without a value last."""
    attribute, largest_first = SORT_KEYS[key]
    known = [item for item in listed if getattr(item, attribute) is not None]
    unknown = [item for item in listed if getattr(item, attribute) is None]
    return sorted(known, key=lambda item: getattr(item, attribute), reverse=largest_first) + unknown


def label_namesakes(listed: list[Listed]) -> None:
    """Set `differs` and `label` of the runs (and of the sweeps) that share a name and differ in their configs:
    the same keys and labels as compare.labels gives their whole configs, found in what sets them apart."""
    groups = defaultdict(list)
    for item in listed:
        item.differs, item.label = {}, ""
        groups[item.kind, item.name].append(item)
    for group in groups.values():
        if len(group) < 2:
            continue
        configs = unshared([item.config for item in group])
        firsts = {}  # configs left alike get the same label: each is labelled once
        for item, config in zip(group, configs):
            firsts.setdefault(repr(config), Run(item.path, config))
        keys = differences([run.config for run in firsts.values()])
        if not keys:
            continue
        texts = dict(zip(firsts, labels(list(firsts.values()))))
        for item, config in zip(group, configs):
            values = flatten(config)
            item.differs, item.label = {key: values.get(key) for key in keys}, texts[repr(config)]


def unshared(configs: list[Any]) -> list[Any]:
    """The configs without the parts they all hold alike; a list of layers keeps its length, so that no key
    path changes. compare.differences renders every value it compares as YAML, slow over hundreds of whole
    configs; what is cut here it would have found equal, so it finds the same keys in what is left."""
    if all(isinstance(config, dict) for config in configs):
        parts = {}
        for key in dict.fromkeys(key for config in configs for key in config):
            values = [config.get(key, MISSING) for config in configs]
            if not alike(values):  # a key some configs lack is kept whole where it is
                parts[key] = values if any(value is MISSING for value in values) else unshared(values)
        return [{key: parts[key][i] for key in config if key in parts} for i, config in enumerate(configs)]
    if all(isinstance(config, list) and any(isinstance(item, dict) for item in config) for config in configs):
        columns = []
        for index in range(max(len(config) for config in configs)):
            column = [config[index] if index < len(config) else MISSING for config in configs]
            # an item all hold alike becomes {}: the list still opens up into key paths, and it gives none
            if alike(column):
                columns.append([{} for _ in configs])
            else:
                columns.append(column if any(item is MISSING for item in column) else unshared(column))
        return [[columns[index][i] for index in range(len(config))] for i, config in enumerate(configs)]
    return configs


MISSING = object()


def alike(values: list[Any]) -> bool:
    """Whether the values are the same, types and all (1 and 1.0 are not: their YAML differs)."""
    first = repr(values[0])
    return all(value is not MISSING and repr(value) == first for value in values)


# --- the table --------------------------------------------------------------------------------


TITLES = ("name", "started", "status", "epochs", metric_title("val_acc"), metric_title("test_acc"), "wall")
GAP = "  "


def table(listed: list[Listed], width: int = 80, now: datetime | None = None) -> list[Text]:
    """The rows as lines of at most `width` characters (a longer path aside): each row's figures on a line,
    its path whole beneath them to copy, then what sets it apart: a sweep's trials and best point, the config
    values in which it differs from the runs of its name."""
    now = now or datetime.now().astimezone()
    cells = [row_cells(item, now) for item in listed]
    widths = [max([len(title), *(len(row[i]) for row in cells)]) for i, title in enumerate(TITLES)]
    room = width - sum(widths[1:]) - len(GAP) * (len(widths) - 1)
    widths[0] = max(min(widths[0], room), len(TITLES[0]))  # a long name is cut: the path below has it whole
    lines = [line(TITLES, widths, "bold")]
    for item, row in zip(listed, cells):
        lines.append(line(row, widths, status=STATUS_STYLES.get(item.status, "yellow")))
        lines += details(item, width)
    return lines


def row_cells(item: Listed, now: datetime) -> list[str]:
    return [
        item.name, local_time(item.started_at, now), item.status, epochs_text(item.epochs),
        metric_cell("val_acc", item.val_acc), metric_cell("test_acc", item.test_acc), duration(item.wall_seconds),
    ]  # fmt: skip


def line(cells: Sequence[str], widths: list[int], style: str = "", status: str = "") -> Text:
    """Cells padded to their widths, the words to the left and the figures to the right; in a row, the name
    bold and the status in its colour."""
    text = Text(style=style)
    styles = ["" if style else "bold", "", status]
    for index, (cell, width) in enumerate(zip(cells, widths)):
        cell = cell if len(cell) <= width else cell[: width - 1] + "…"
        text.append(GAP if index else "")
        text.append(cell.ljust(width) if index < 3 else cell.rjust(width), style=styles[index] if index < 3 else "")
    text.rstrip()
    return text


def details(item: Listed, width: int) -> list[Text]:
    """The path, then the notes: on the path's line while they fit, each on a line of its own after that."""
    notes = [sweep_note(item)] if item.kind == "sweep" else []
    notes += [item.label] if item.label else []
    text = Text("  ") + Text(str(item.path), style="cyan")
    out = []
    for note in notes:
        if len(text) + len(GAP) + len(note) > width:
            out.append(text)
            text = Text("    ")
        else:
            text.append(GAP)
        text.append(note, style="dim")
    return [*out, text]


def sweep_note(item: Listed) -> str:
    note = f"sweep of {plural(item.trials or 0, 'trial')}" + (f", {item.failed} failed" if item.failed else "")
    if item.best:
        note += f"; best by {item.metric}: " + ", ".join(f"{key}={inline(value)}" for key, value in item.best.items())
    return note


def footer(listed: list[Listed], shown_rows: list[Listed]) -> str:
    """`12 runs and 2 sweeps`, with how many are shown when filters left some out."""
    runs = sum(item.kind == "run" for item in listed)
    sweeps = len(listed) - runs
    counted = plural(runs, "run") + (f" and {plural(sweeps, 'sweep')}" if sweeps else "")
    return counted if len(shown_rows) == len(listed) else f"{len(shown_rows)} of {counted} shown"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def local_time(started_at: str | None, now: datetime) -> str:
    """A UTC time stamp in local time: `12-06 14:05` in the year of `now`, `2025-12-06` in another."""
    try:
        moment = datetime.fromisoformat(started_at).astimezone()  # the zone's offset on that day
    except (TypeError, ValueError):
        return "–"
    return moment.strftime("%m-%d %H:%M" if moment.year == now.year else "%Y-%m-%d")


def duration(seconds: float | None) -> str:
    """`45s`, `1m 05s`, `2h 03m`, `3d 04h`."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    for unit, size, smaller, of in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if whole >= size:
            return f"{whole // size}{unit} {whole % size // of:02d}{smaller}"
    return f"{whole}s"


def epochs_text(epochs: float | None) -> str:
    """A run's epochs as they are; a sweep's mean to three figures (the sweep's summary.md does the same)."""
    if epochs is None:
        return "–"
    return str(epochs) if isinstance(epochs, int) else f"{epochs:.3g}"
