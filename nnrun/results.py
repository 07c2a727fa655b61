"""Reading run folders back: `load_run(path)` gives a Run (resolved config, metrics rows, summary).

results/<name>/<run-id>/
  config.yaml      the resolved config, every default filled in
  metrics.csv      one row per evaluation (deterministic: same config and seed, same bytes)
  timing.csv       seconds and samples/s per evaluation (wall-clock, so kept apart from metrics.csv)
  summary.json     status, best and last metrics, timings, versions, seed, git commit
  summary.md       the best/last table as Markdown, accuracies in %
  model.npz        final weights (see nnrun.model for the layout)
  checkpoint.npz   weights, optimizer state, RNG states, epoch and step for --resume
  diagnostics.csv  with train.diagnostics: per evaluation and layer, activation stats, dead relus, gradient
                   norm, update/weight ratio (nnrun.runs.diagnostics)
  curves.png       accuracy and loss against epoch
  train.log        the log of the run

results/<name>/sweep-<base hash>/    (nnrun sweep; see load_sweep)
  sweep.yaml       the config as read, the sweep's own --set, the resolved base config and the spec
  trials/<id>/     one run folder per trial, the layout above
  trials.csv       one row per trial: parameters, seed, status, error, best and last metrics, seconds, command
  summary.csv      one row per parameter point: mean and std over seeds, the best point marked
  summary.md       the same table, mean ± std, for a paper or a README
  rungs.csv        with a halving or Hyperband schedule: each rung's points, their seed means, the promoted

nnrun.runs.folder and nnrun.sweeps write them; this module, plots and reports only read them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nnrun.errors import RunError
from nnrun.io import read_csv

METRIC_COLUMNS = [
    "epoch", "step", "lr",
    "train_loss", "train_acc", "reg_loss",
    "val_loss", "val_acc", "test_loss", "test_acc",
]  # fmt: skip
TIMING_COLUMNS = ["epoch", "step", "seconds", "samples_per_sec"]
FINISHED = ("completed", "early_stopped")  # a run's statuses that mean it ran to its end
TRIAL_ENDED = (*FINISHED, "stopped", "failed")  # a sweep's trials that will not run again
SPLIT_METRICS = ["test_acc", "test_loss", "val_acc", "val_loss", "train_acc", "train_loss"]
# trials.csv: these, with the sweep's parameter paths after `seed`
TRIAL_COLUMNS = [
    "trial", "point", "seed", "status", "error",
    *(f"{at}_{metric}" for at in ("best", "last") for metric in ["epoch", *SPLIT_METRICS]),
    "seconds", "threads", "attempts", "run_dir", "command",
]  # fmt: skip
# summary.csv: these, with the parameter paths after `point`; `seconds_mean` is the one wall-clock column
SUMMARY_COLUMNS = [
    "point", "seeds", "failed",
    *(f"{metric}_{stat}" for metric in SPLIT_METRICS for stat in ("mean", "std")),
    "epoch_mean", "best", "seconds_mean",
]  # fmt: skip
# with a schedule, trials.csv has `rung` (the resource each trial reached) after `status`, and summary.csv
# has `rung` (where the point stopped, or the top) and `stopped` (1 for a point the schedule stopped) before
# `best`; rungs.csv has a row per rung and point
RUNG_COLUMNS = ["bracket", "rung", "resource", "point", "value", "seeds", "promoted"]


@dataclass
class Run:
    """A run folder read back: its resolved config, its history (metrics.csv rows) and summary.json."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.summary.get("status", "unknown")

    def model(self):
        from nnrun.model import load_model  # imported here: reading a folder should not load the numba kernels

        return load_model(self.path / "model.npz")


def folder_kind(path: str | Path) -> str:
    """ "sweep" or "run" by the file that makes a folder one; a RunError for a folder that is neither."""
    path = Path(path)
    if (path / "sweep.yaml").is_file():
        return "sweep"
    if (path / "config.yaml").is_file():
        return "run"
    raise RunError(
        f"{path} is neither a run folder (config.yaml) nor a sweep folder (sweep.yaml)",
        hint="pass a folder under results/<name>/",
    )


def load_run(path: str | Path) -> Run:
    path = Path(path)
    if not (path / "config.yaml").is_file():
        raise RunError(f"{path} is not a run folder (no config.yaml)", hint="pass a folder under results/<name>/")
    config = yaml.safe_load((path / "config.yaml").read_text())
    history = read_csv(path / "metrics.csv") if (path / "metrics.csv").is_file() else []
    summary = json.loads((path / "summary.json").read_text()) if (path / "summary.json").is_file() else {}
    return Run(path=path, config=config, history=history, summary=summary)


@dataclass
class Sweep:
    """A sweep folder read back: sweep.yaml's parts, trials.csv and summary.csv rows (parameters parsed)."""

    path: Path
    spec: dict[str, Any]
    base: dict[str, Any]
    source: str
    overrides: list[str]
    trials: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    rungs: list[dict[str, Any]] = field(default_factory=list)  # rungs.csv: a schedule's decisions

    @property
    def parameters(self) -> list[str]:
        return list(self.spec.get("parameters", {}))

    @property
    def schedule(self) -> dict[str, Any] | None:
        return self.spec.get("schedule")

    @property
    def stopped(self) -> dict[str, Any]:
        """The trials a schedule stopped early, by trial id: the resource each one reached."""
        return {row["trial"]: row["rung"] for row in self.trials if row["status"] == "stopped"}

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.trials if row["status"] in ("failed", "interrupted", "pending")]

    @property
    def best(self) -> dict[str, Any] | None:
        return next((row for row in self.summary if row.get("best")), None)

    def run(self, trial: str) -> Run:
        return load_run(self.path / "trials" / trial)


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep folder (results/<name>/sweep-<hash>/); tables it has not written yet read as empty."""
    path = Path(path)
    if not (path / "sweep.yaml").is_file():
        raise RunError(f"{path} is not a sweep folder (no sweep.yaml)", hint="pass a folder that nnrun sweep wrote")
    saved = yaml.safe_load((path / "sweep.yaml").read_text())
    parameters = list(saved["spec"].get("parameters", {}))
    tables = []
    for name in ("trials.csv", "summary.csv", "rungs.csv"):
        rows = read_csv(path / name, text=["trial"]) if (path / name).is_file() else []
        for row in rows:
            for key in parameters:
                if key in row:
                    row[key] = parse_cell(row[key])
        tables.append(rows)
    return Sweep(path, saved["spec"], saved["base"], saved["source"], saved["overrides"], *tables)


def improves(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether an evaluation's `value` is a new best: the trainer's rule for early stopping and summary.json's
    best, and the sweep's when it reads a trial's best evaluation up to a rung."""
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def best_row(rows: list[dict[str, Any]], monitor: str, mode: str, min_delta: float = 0.0) -> dict[str, Any] | None:
    """The evaluation a run's summary.json calls best among `rows`: the last to improve on all before it."""
    best = None
    for row in rows:
        value = row.get(monitor)
        if value is not None and improves(value, best[monitor] if best else None, mode, min_delta):
            best = row
    return best


def parse_cell(text: Any) -> Any:
    """A parameter cell back to its value: cells are YAML text, a string left bare."""
    if not isinstance(text, str):
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def summary_markdown(summary: dict[str, Any]) -> str:
    """Report 003's Table 1: best and last loss/accuracy for train, val and test, accuracies in %."""
    metrics = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
    lines = [
        f"# {summary.get('name', 'run')}: {summary.get('status', '')}",
        "",
        "| | " + " | ".join(metric_title(metric) for metric in metrics) + " | epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in ("best", "last"):
        row = summary.get(label) or {}
        cells = [metric_cell(metric, row.get(metric)) for metric in metrics]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {metric_cell('epoch', row.get('epoch'))} |")
    if summary.get("monitor"):
        lines += ["", f"best = the evaluation with the {summary['monitor_mode']} `{summary['monitor']}`."]
    return "\n".join(lines) + "\n"


# What a person reads shows an accuracy in %, a table's column titled so (`val acc %`, as a sweep's
# summary.md): summary.md, the table `nnrun train` ends with, the reports. CSV and JSON keep the fraction.
def metric_title(metric: str) -> str:
    """A metric's column title: `val acc %` for val_acc, `val loss` for val_loss."""
    return metric.replace("_", " ") + (" %" if metric.endswith("_acc") else "")


def metric_cell(metric: str, value: Any) -> str:
    """A metric's value under its metric_title: an accuracy in % to two decimals (0.99321 -> 99.32), other
    numbers to four, an integer (an epoch) as it is, – for none."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–" if value is None else str(value)
    if metric.endswith("_acc"):
        return f"{100 * value:.2f}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def percent(fraction: float) -> str:
    """An accuracy in running text or a figure, where no column title says %: 0.99321 -> `99.32 %`."""
    return f"{100 * fraction:.2f} %"


def sweep_status(path: Path, statuses: list[str]) -> str:
    """A sweep's status from its trials' (stale ones left out): running while its driver holds sweep.lock;
    failed when every trial failed; completed when no trial is left to run; interrupted otherwise (the same
    `nnrun sweep` resumes it). `nnrun runs` and `nnrun export` say it alike."""
    if (path / "sweep.lock").exists():
        return "running"
    if statuses and all(status == "failed" for status in statuses):
        return "failed"
    return "completed" if statuses and all(status in TRIAL_ENDED for status in statuses) else "interrupted"


# folders an export writes beside runs: MLflow's artifacts hold copies of config.yaml that are not runs
NOT_RUNS = ("mlartifacts", "mlruns")


def run_folders(root: Path, on_error: Callable[[Path, OSError], None] | None = None) -> Iterator[tuple[str, Path]]:
    """("run" | "sweep", path) for `root` and each folder below it that holds a config.yaml or a sweep.yaml, in
    path order; nothing inside such a folder is looked at (a sweep's trials are its own), nor hidden folders,
    nor NOT_RUNS. A folder that cannot be listed goes to `on_error`, or raises its OSError without one."""
    try:
        entries = list(os.scandir(root))
    except OSError as error:
        if on_error is None:
            raise
        on_error(root, error)
        return
    names = {entry.name for entry in entries}
    if "sweep.yaml" in names:
        yield "sweep", root
    elif "config.yaml" in names:
        yield "run", root
    else:
        for entry in sorted(entries, key=lambda entry: entry.name):
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".") and entry.name not in NOT_RUNS:
                yield from run_folders(root / entry.name, on_error)
