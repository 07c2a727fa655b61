"""The folders an export reads: each PATH walked into run and sweep folders, every one read whole and checked before
a tracker is touched, so that a bad folder stops the export with nothing written. And what both trackers take from a
folder: its nnrun id, its config as `--set` key paths, its times, its figures.

The nnrun id is how a tracker finds a run again, from whatever folder or machine the export runs: it is made from
what the folder holds, never from where it is. A run: `<name>/<folder>@<started_at>`; a sweep:
`<name>/<folder>@<hash of its base config>`; a trial: `<sweep id>/<trial id>` (docs/trackers.md).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shlex
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from nnrun.errors import NnrunError, RunError
from nnrun.io import inline, read_csv
from nnrun.results import Run, Sweep, load_run, load_sweep, run_folders, sweep_status

EXPORT_FORMAT = "1"  # in every fingerprint: a change to what an export writes re-exports every run once
RUN_FILES = ("config.yaml", "summary.json", "summary.md", "metrics.csv", "timing.csv", "model.npz")
SWEEP_FILES = ("sweep.yaml", "trials.csv", "summary.csv", "summary.md", "rungs.csv", "rounds.json")
HINT = "pass run folders, sweep folders, or a folder holding them such as results/"


class ExportError(NnrunError):
    """A tracker cannot be written: its extra is not installed, or its store is unreachable or refuses. Nothing has
    been written to it."""

    exit_code = 2


@dataclass
class Exported:
    """What an export did, for the command line to say."""

    what: str  # `1 run and 1 sweep (4 trials)`
    where: str  # the tracking URI, or the TensorBoard logdir
    counts: Counter[str] = field(default_factory=Counter)  # created, updated, replaced, unchanged
    notes: list[str] = field(default_factory=list)
    how_to_open: str = ""


@dataclass
class RunItem:
    """A run folder to export: a run of its own, or one trial of a sweep."""

    run: Run
    id: str  # the nnrun id (module docstring)
    name: str  # the config's name: the MLflow experiment, the first folder under a TensorBoard logdir
    label: str  # its name in a tracker's list of runs
    status: str  # summary.json's; `stopped` for a trial its sweep's schedule stopped at a rung
    command: str  # the command that trains it again
    trial: dict[str, Any] | None = None  # a trial's row of trials.csv

    @property
    def path(self) -> Path:
        return self.run.path


@dataclass
class SweepItem:
    """A sweep folder to export, with the trials that have started."""

    sweep: Sweep
    id: str
    name: str
    label: str
    status: str  # running, completed, failed or interrupted, as `nnrun runs` says it
    command: str
    trials: list[RunItem] = field(default_factory=list)
    waiting: int = 0  # trials not exported: pending, stale (the spec no longer has them), or not started

    @property
    def path(self) -> Path:
        return self.sweep.path

    @property
    def points(self) -> int:
        """The highest point number in trials.csv."""
        return max((row.get("point") or 0 for row in self.sweep.trials), default=0)


@dataclass
class Folders:
    """What the PATHs hold, read and checked: runs of their own and sweeps, and the runs left out (not started)."""

    runs: list[RunItem] = field(default_factory=list)
    sweeps: list[SweepItem] = field(default_factory=list)
    not_started: list[Path] = field(default_factory=list)

    def count(self) -> str:
        """`2 runs and 1 sweep (4 trials)`."""
        trials = sum(len(sweep.trials) for sweep in self.sweeps)
        parts = [plural(len(self.runs), "run")] if self.runs or not self.sweeps else []
        if self.sweeps:
            parts.append(f"{plural(len(self.sweeps), 'sweep')} ({plural(trials, 'trial')})")
        return " and ".join(parts)


def read_folders(paths: list[str | Path]) -> Folders:
    """Every run and sweep folder in `paths` (each a run, a sweep, or a folder holding them), read and checked; a
    RunError naming the first folder that cannot be exported, before anything is written anywhere."""
    if not paths:
        raise RunError("no PATH given", hint=HINT)
    found, seen = Folders(), set()
    for path in map(Path, paths):
        if not path.is_dir():
            raise RunError(f"{path} {'is not a folder' if path.exists() else 'does not exist'}", hint=HINT)
        folders = list(run_folders(path))
        if not folders:
            raise RunError(f"{path} holds no run folder (config.yaml) or sweep folder (sweep.yaml)", hint=HINT)
        for kind, folder in folders:
            if folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
            if kind == "sweep":
                found.sweeps.append(read_sweep(folder))
            elif item := read_run(folder):
                found.runs.append(item)
            else:
                found.not_started.append(folder)
    return found


def read_run(path: Path) -> RunItem | None:
    """A run of its own; None for one that has not started (no summary.json yet)."""
    if path.parent.name == "trials" and (path.parent.parent / "sweep.yaml").is_file():
        raise RunError(
            f"{path} is a trial of the sweep {path.parent.parent}",
            hint="export the sweep folder: its trials go with it, as children of the sweep's run",
        )
    run = checked_run(path)
    if run is None:
        return None
    name = str(run.summary.get("name") or run.config.get("name") or path.parent.name)
    return RunItem(run, f"{name}/{path.name}@{run.summary['started_at']}", name, path.name, run.status, train(run))


def read_sweep(path: Path) -> SweepItem:
    sweep = readable(load_sweep, path)
    if not isinstance(sweep.base, dict) or not isinstance(sweep.spec, dict):
        raise RunError(f"cannot read {path / 'sweep.yaml'}: it has no base config or spec", hint=HINT)
    name = str(sweep.base.get("name") or path.parent.name)
    item = SweepItem(
        sweep, f"{name}/{path.name}@{config_hash(sweep.base)}", name, f"{name} {path.name}",
        sweep_status(sweep.path, [row.get("status") for row in sweep.trials if row.get("status") != "stale"]), " ".join(["nnrun", "sweep", shlex.quote(str(sweep.source)),
                                       *(f"--set {shlex.quote(text)}" for text in sweep.overrides or [])]),
    )  # fmt: skip
    for row in sweep.trials:
        run = None
        if row.get("status") not in ("pending", "stale"):
            run = checked_run(path / str(row.get("run_dir") or f"trials/{row['trial']}"))
        if run is None:
            item.waiting += 1
            continue
        item.trials.append(
            RunItem(
                run,
                f"{item.id}/{row['trial']}",
                name,
                f"point {row.get('point')} seed {row.get('seed')}",
                "stopped" if row.get("status") == "stopped" else run.status,
                row.get("command") or train(run),
                row,
            )  # fmt: skip
        )
    return item


def checked_run(path: Path) -> Run | None:
    """load_run, with what an export relies on checked; None when the run has not started (no summary.json)."""
    if not (path / "summary.json").is_file():
        return None  # not started, or a trial whose folder is not made yet
    run = readable(load_run, path)
    if not isinstance(run.config, dict) or not isinstance(run.summary, dict):
        raise RunError(f"cannot read {path}: config.yaml or summary.json holds no mapping", hint=HINT)
    if seconds(run.summary.get("started_at")) is None:
        raise RunError(f"cannot read {path / 'summary.json'}: no started_at time", hint=HINT)
    for number, row in enumerate(run.history, start=2):
        if not isinstance(row.get("step"), int):
            raise RunError(f"{path / 'metrics.csv'}:{number}: the step is not a whole number", hint=HINT)
    return run


def readable(load, path: Path):
    """load(path), with any way a file can be unreadable said as a RunError naming it."""
    try:
        return load(path)
    except RunError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as error:
        why = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RunError(f"cannot read {path}: {why}", hint=HINT) from None


def train(run: Run) -> str:
    """The command that trains a run of its own again: its resolved config.yaml, with the thread count it ran
    with (another count sums in another order and changes the last bits)."""
    command = f"nnrun train {shlex.quote(str(run.path.resolve() / 'config.yaml'))}"
    threads = run.summary.get("threads")
    if (run.config.get("train") or {}).get("threads") is None and threads:
        command += f" --set train.threads={threads}"
    return command


# --- what both trackers take from a folder --------------------------------------------------------


def config_hash(config: dict[str, Any]) -> str:
    """12 hex digits of the config's SHA-256 (its JSON, keys sorted): a run folder's name ends in the first 6."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def config_params(config: dict[str, Any]) -> dict[str, str]:
    """The config's leaves by `--set` key path, each value as `--set` takes it: `optimizer.lr: 0.003`,
    `model.layers.0.units: 32`; a list of plain values is one value (`model.input_shape: [64]`)."""
    params: dict[str, str] = {}

    def visit(value: Any, path: str) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                visit(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
            for index, item in enumerate(value):
                visit(item, f"{path}.{index}")
        else:
            params[path] = value_text(value)

    visit(config, "")
    return params


def value_text(value: Any) -> str:
    """A value as `--set` takes it: strings bare, everything else one line of YAML (`null`, `1.0e-08`, `[64]`)."""
    return value if isinstance(value, str) else inline(value)


def point_params(sweep: Sweep, point: dict[str, Any]) -> dict[str, Any]:
    """A point's parameter values (a row of summary.csv or trials.csv) by the key paths config_params gives: a layer
    named in a path by its index (`model.hidden.units` -> `model.layers.0.units`), linked paths each apart."""
    values = {}
    for key in sweep.parameters:
        paths = [part.strip() for part in key.split(",")]
        value = point.get(key)
        for path, item in zip(paths, value if len(paths) > 1 and isinstance(value, list) else [value]):
            values[index_path(path, sweep.base)] = item
    return values


def index_path(path: str, base: dict[str, Any]) -> str:
    """`model.hidden.units` -> `model.layers.0.units` when layer 0 is named hidden; `model.layers[2]` -> `.2`."""
    parts = path.replace("[", ".").replace("]", "").split(".")
    model = base.get("model") or {}
    names = [layer.get("name") for layer in model.get("layers") or [] if isinstance(layer, dict)]
    if len(parts) > 1 and parts[0] == "model" and parts[1] not in model and parts[1] in names:
        parts[1:2] = ["layers", str(names.index(parts[1]))]
    return ".".join(parts)


def seconds(stamp: Any) -> float | None:
    """summary.json's UTC time (`2026-12-06T18:19:22Z`) as seconds since the epoch; None when absent or unreadable."""
    try:
        return datetime.fromisoformat(str(stamp)).timestamp() if stamp else None
    except ValueError:
        return None


def row_times(run: Run) -> list[float]:
    """When each metrics.csv row was written, in seconds since the epoch: started_at plus timing.csv's seconds up
    to the row. Read from the folder, so that exporting again gives the same times."""
    start = seconds(run.summary.get("started_at")) or 0.0
    timing = read_csv(run.path / "timing.csv") if (run.path / "timing.csv").is_file() else []
    elapsed, at_step = 0.0, {}
    for row in timing:
        elapsed += row.get("seconds") or 0.0
        at_step[row.get("step")] = elapsed
    times, last = [], 0.0
    for row in run.history:
        last = at_step.get(row["step"], last)
        times.append(start + last)
    return times


def end_time(item: RunItem) -> float | None:
    """When a run that has ended ended: its summary's updated_at; None while it runs."""
    return None if item.status in ("running", "paused") else seconds(item.run.summary.get("updated_at"))


def figures(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


def fingerprint(item: RunItem | SweepItem, *extra: Any) -> str:
    """A digest of the folder's files' sizes and modification times (nnrun replaces a file whole when it changes),
    its status and `extra`: a run whose fingerprint a tracker already holds is left as it is."""
    names = [*(SWEEP_FILES if isinstance(item, SweepItem) else RUN_FILES), *(path.name for path in figures(item.path))]
    digest = hashlib.sha256(json.dumps([EXPORT_FORMAT, item.status, *map(str, extra)]).encode())
    for name in names:
        try:
            stat = (item.path / name).stat()
            digest.update(f"{name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            digest.update(f"{name} none\n".encode())
    return digest.hexdigest()[:16]


def require(module: str, extra: str) -> Any:
    """Import a tracker's package, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = error.name or module
        raise ExportError(
            f"--to {extra} needs the package {missing}, which is not installed",
            hint=f"pip install 'nnrun[{extra}]'",
        ) from None


def number(value: Any) -> bool:
    """An int or a float, a bool not counted."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
