"""Which trials run next and how far: the sweep's driver asks after every trial that ends.

A sweep without a schedule is one rung, the full budget, for every point. With halving or Hyperband each
bracket (nnrun.sweeps.halving) walks its rungs: at a rung every trial of its points has reached, the points
are ranked by their seed mean there and the best go on; at the first rung some trial has not reached, those
trials are the jobs, each to pause at that rung. What a trial has reached is read from its folder, so the
walk comes out the same after a crash and with any number of workers: no decision is kept that the folders
cannot give again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nnrun.config import metric_direction
from nnrun.io import read_csv
from nnrun.results import FINISHED, best_row
from nnrun.runs.folder import checkpoint_state
from nnrun.sweeps.halving import Bracket, promote, resource_of
from nnrun.sweeps.plan import Plan, Trial

IN_PROGRESS = ("paused", "running", "interrupted")  # a folder with a checkpoint to continue from


@dataclass
class TrialProgress:
    """How far a trial's folder has got, in the sweep's resource (epochs, or steps)."""

    path: Path
    unit: str
    status: str = "new"  # or the folder's: paused, running, interrupted, completed, early_stopped, failed
    budget: int | None = None  # the maximum its config.yaml trains to
    checkpoint: float = 0  # for a run in progress, the resource its checkpoint holds
    failed_here: bool = False  # failed in this session: final, not started again
    summary: dict[str, Any] = field(default_factory=dict)
    min_delta: float = 0.0  # its early stopping's, which decides its best evaluation
    _rows: list[dict[str, Any]] | None = None
    _readings: dict[tuple[int, str], dict[str, Any] | None] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        if self._rows is None:
            path = self.path / "metrics.csv"
            self._rows = read_csv(path) if path.is_file() else []
        return self._rows

    def at(self, row: dict[str, Any]) -> float:
        """A metrics row's place in the resource."""
        return row["epoch"] if self.unit == "epochs" else row["step"]

    def reached(self) -> float:
        """The furthest evaluation it has made (trials.csv's `rung`)."""
        rows = self.rows()
        return self.at(rows[-1]) if rows else 0

    def has_reached(self, rung: int) -> bool:
        """Whether its result at `rung` is known: it was trained there (or ended before it on its own)."""
        if self.status == "early_stopped" or (self.status == "failed" and self.failed_here):
            return True
        if self.status == "completed":
            return self.budget is not None and rung <= self.budget
        if self.status == "failed":  # failed in an earlier session: its rows stand, beyond them it runs again
            return any(self.at(row) == rung for row in self.rows())
        return self.status in IN_PROGRESS and rung <= self.checkpoint

    def reading(self, rung: int, at: str) -> dict[str, Any] | None:
        """Its evaluation at `rung`: the last one up to it, or the best by its own monitor; None when it failed
        before the rung."""
        if (rung, at) not in self._readings:  # the folder is read once; the driver asks after every job
            self._readings[rung, at] = self._reading(rung, at)
        return self._readings[rung, at]

    def _reading(self, rung: int, at: str) -> dict[str, Any] | None:
        rows = [row for row in self.rows() if self.at(row) <= rung]
        if not rows or (self.status == "failed" and self.at(rows[-1]) < rung):
            return None
        if at == "last":
            return rows[-1]
        monitor, mode = self.summary.get("monitor", "val_loss"), self.summary.get("monitor_mode", "min")
        return best_row(rows, monitor, mode, self.min_delta) or rows[-1]


def read_progress(path: Path, unit: str, maximum: int, failed_here: bool = False) -> TrialProgress:
    """A trial folder's progress. A folder trained past `maximum` (the maximum was lowered) cannot serve the
    study: it reads as new, and its job sets it aside."""
    progress = TrialProgress(path, unit, failed_here=failed_here)
    try:
        summary = json.loads((path / "summary.json").read_text())
        config = yaml.safe_load((path / "config.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return progress  # never started, or killed before it wrote these: it starts anew
    budget = resource_of(config["train"])[1]
    if budget > maximum:
        return progress
    progress.status, progress.budget, progress.summary = summary.get("status", "new"), budget, summary
    progress.min_delta = (config["train"].get("early_stopping") or {}).get("min_delta", 0.0)
    if progress.status == "paused":
        progress.checkpoint = summary["epoch"] if unit == "epochs" else summary["step"]
    elif progress.status in IN_PROGRESS:
        state = checkpoint_state(path / "checkpoint.npz") or {}
        progress.checkpoint = state.get("epoch" if unit == "epochs" else "step", 0)
    return progress


@dataclass
class Rung:
    """One rung of one bracket as the trials' folders have it."""

    bracket: int
    index: int
    resource: int
    points: list[int]
    waiting: list[str]  # the trials that have not reached it; while any do, nothing is decided
    values: dict[int, float | None] = field(default_factory=dict)  # point -> seed mean of the metric
    promoted: list[int] | None = None  # decided, below the top rung

    @property
    def top(self) -> bool:
        return self.promoted is None and not self.waiting


class Scheduler:
    """The rung walk of every bracket over a plan's trials, from their folders."""

    def __init__(self, plan: Plan, trial_dir: Callable[[str], Path]):
        spec = plan.spec
        self.plan = plan
        self.trial_dir = trial_dir
        self.unit, self.maximum = resource_of(plan.base["train"])
        self.metric, self.at = spec.metric.name, spec.metric.at
        self.goal = metric_direction(spec.metric.name, spec.metric.goal)
        self.eta = spec.schedule.eta if spec.schedule else 1
        self.brackets: list[Bracket] = plan.brackets
        self.bracket_of = {point: bracket.index for bracket in self.brackets for point in bracket.points}
        self.trials_of: dict[int, list[Trial]] = {}
        for trial in plan.trials:
            self.trials_of.setdefault(trial.point, []).append(trial)
        self.point_of = {trial.id: trial.point for trial in plan.trials}
        self.progress = {trial.id: read_progress(trial_dir(trial.id), self.unit, self.maximum) for trial in plan.trials}
        self._walks: dict[int, list[Rung]] = {}
        self._fates: dict[int, dict[int, tuple[Rung, bool]]] = {}  # by bracket: point -> fate()

    def add(self, trials: list[Trial]) -> None:
        """Take in a tpe round's new trials; its bracket is already in the plan's list, which is this one's."""
        for trial in trials:
            self.trials_of.setdefault(trial.point, []).append(trial)
            self.point_of[trial.id] = trial.point
            self.progress[trial.id] = read_progress(self.trial_dir(trial.id), self.unit, self.maximum)
        self.bracket_of = {point: bracket.index for bracket in self.brackets for point in bracket.points}

    def refresh(self, trial: str, failed: bool = False) -> None:
        """Read a trial's folder again after its job ended. A failure now is final for this session, also one
        the folder cannot show (its worker died on every attempt)."""
        progress = read_progress(self.trial_dir(trial), self.unit, self.maximum, failed_here=True)
        if failed:
            progress.status = "failed"
        self.progress[trial] = progress
        bracket = self.bracket_of[self.point_of[trial]]
        self._walks.pop(bracket, None)
        self._fates.pop(bracket, None)

    def walk(self, bracket: Bracket) -> list[Rung]:
        if bracket.index in self._walks:
            return self._walks[bracket.index]
        rungs, active = [], list(bracket.points)
        for index, resource in enumerate(bracket.rungs):
            trials = [trial for point in active for trial in self.trials_of[point]]
            waiting = [trial.id for trial in trials if not self.progress[trial.id].has_reached(resource)]
            rung = Rung(bracket.index, index, resource, active, waiting)
            rungs.append(rung)
            if waiting or not active:
                break
            rung.values = {point: self.value(point, resource) for point in active}
            if index == len(bracket.rungs) - 1:
                break
            rung.promoted = active = promote(rung.values, self.eta, self.goal)
        self._walks[bracket.index] = rungs
        return rungs

    def rungs(self) -> list[Rung]:
        return [rung for bracket in self.brackets for rung in self.walk(bracket)]

    def readings(self, point: int, rung: int) -> list[dict[str, Any] | None]:
        """Each of the point's trials' evaluation at `rung` (None for a failed one)."""
        return [self.progress[trial.id].reading(rung, self.at) for trial in self.trials_of[point]]

    def value(self, point: int, rung: int) -> float | None:
        """The point's seed mean of the metric at `rung`; None (the worst) when a seed has none there."""
        values = [reading.get(self.metric) if reading else None for reading in self.readings(point, rung)]
        if any(value is None or not math.isfinite(value) for value in values):
            return None
        return math.fsum(values) / len(values)

    def jobs(self, busy: Iterable[str] = ()) -> list[tuple[Trial, int | None]]:
        """The trials to train now, each with the rung to pause at (None: to the end), in plan order."""
        busy = set(busy)
        targets: dict[str, int] = {}
        for bracket in self.brackets:
            last = self.walk(bracket)[-1]
            for trial in last.waiting:
                targets[trial] = last.resource
        return [
            (trial, None if targets[trial.id] >= self.maximum else targets[trial.id])
            for trial in self.plan.trials
            if trial.id in targets and trial.id not in busy
        ]

    def fate(self, point: int) -> tuple[Rung, bool]:
        """The point's last rung in its bracket's walk, and whether the schedule stopped it there."""
        index = self.bracket_of[point]
        if index not in self._fates:
            fates = {}
            for rung in self.walk(self.brackets[index]):  # a later rung's points are an earlier one's
                promoted = set(rung.promoted or ())
                for member in rung.points:
                    fates[member] = (rung, rung.promoted is not None and member not in promoted)
            self._fates[index] = fates
        return self._fates[index][point]

    def status(self, trial: Trial) -> str:
        """trials.csv's status: the folder's, `stopped` for a trial whose point the schedule stopped, `paused`
        for one waiting at a rung, `pending` before it starts."""
        progress = self.progress[trial.id]
        folder = progress.status
        _, stopped = self.fate(trial.point)
        if stopped and folder not in ("failed", "early_stopped", "new"):
            return "stopped"
        if folder in FINISHED and progress.has_reached(self.maximum):
            return folder
        if folder == "new":
            return "pending"
        if folder in ("running", "interrupted"):
            return "interrupted"
        return "failed" if folder == "failed" else "paused"

    def remaining(self) -> int:
        """Jobs still to run if every trial finishes: the waiting trials, then each later rung's planned points."""
        left = 0
        seeds = len(self.plan.spec.seeds or [0])
        for bracket in self.brackets:
            walk = self.walk(bracket)
            last = walk[-1]
            left += len(last.waiting)
            if last.waiting:
                left += sum(bracket.planned(self.eta)[last.index + 1 :]) * seeds
        return left

    def used(self) -> float:
        """The resource trained by all trials: each to the furthest evaluation it made."""
        return sum(self.progress[trial.id].reached() for trial in self.plan.trials)
