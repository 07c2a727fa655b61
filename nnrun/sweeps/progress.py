"""What a sweep tells while it runs: the SweepReporter protocol, a silent default and the live rich view.

The live view shows the trials done, running and failed, the time left, the best point so far, and a bar
per running trial (steps, from its evaluations); a line per finished trial, and the summary table at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from nnrun.results import FINISHED
from nnrun.sweeps.summary import cell, shown_columns


@dataclass(frozen=True)
class SweepStart:
    name: str
    path: Path
    points: int
    seeds: int
    trials: int
    to_run: int
    stale: int
    workers: int
    threads: int
    at: str  # each trial is read at its best or its last evaluation
    labels: dict[str, str]  # trial id -> "point 2 (model.hidden.units=500) seed 1"


class SweepReporter(Protocol):
    def start(self, sweep: SweepStart) -> None: ...

    def event(self, message: tuple) -> None:
        """A worker's news: ("started", trial, attempt), ("start", trial, step, total_steps),
        ("evaluation", trial, step, val_acc, val_loss), ("died", trial, how)."""

    def trial_done(self, row: dict[str, Any], best: dict[str, Any] | None, metric: str) -> None:
        """A trial ended (its trials.csv row); `best` is the best summary row so far."""

    def finish(self, rows: list[dict[str, Any]], parameters: list[str], metric: str) -> None:
        """The sweep ended (or was stopped): the summary rows, one per parameter point."""


class SilentSweep:
    def start(self, sweep: SweepStart) -> None: ...
    def event(self, message: tuple) -> None: ...
    def trial_done(self, row: dict[str, Any], best: dict[str, Any] | None, metric: str) -> None: ...
    def finish(self, rows: list[dict[str, Any]], parameters: list[str], metric: str) -> None: ...


class RichSweepView(SilentSweep):
    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self.tasks: dict[str, Any] = {}
        self.failed = 0

    def start(self, sweep: SweepStart) -> None:
        self.sweep = sweep
        done = sweep.trials - sweep.to_run
        self.console.print(
            f"[bold]{sweep.name}[/]: {sweep.points} points × {sweep.seeds} seeds = {sweep.trials} trials"
            + (f", {done} done before" if done else "")
            + (f", {sweep.stale} stale (no longer in the spec)" if sweep.stale else "")
            + f"\n{sweep.to_run} to run on {sweep.workers} worker(s) × {sweep.threads} thread(s); "
            f"results in {sweep.path}"
        )
        if not sweep.to_run:
            return
        # few redraws a second: the driver shares the cores with the trials
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=self.console,
            refresh_per_second=2,
        )
        self.overall = self.progress.add_task("trials", total=sweep.to_run, note="")
        self.progress.start()

    def event(self, message: tuple) -> None:
        if self.progress is None:
            return
        kind, trial = message[0], message[1]
        if kind == "start":
            step, total = message[2], message[3]
            self.task(trial, total=total, completed=step)
        elif kind == "evaluation":
            self.task(trial, completed=message[2])
        elif kind == "died":
            self.console.print(f"[yellow]trial {trial}: its worker died ({message[2]}); starting it again[/]")

    def task(self, trial: str, **fields: Any) -> None:
        if trial not in self.tasks:
            label = escape(self.sweep.labels.get(trial, trial))
            self.tasks[trial] = self.progress.add_task(f"  {label}", total=fields.pop("total", None), note="")
        self.progress.update(self.tasks[trial], **fields)

    def trial_done(self, row: dict[str, Any], best: dict[str, Any] | None, metric: str) -> None:
        label = escape(self.sweep.labels.get(row["trial"], row["trial"]))
        if row["status"] in FINISHED:
            at = self.sweep.at
            shown = ", ".join(
                f"{key} {row[f'{at}_{key}']:.4f}" for key in (metric, "test_acc") if row.get(f"{at}_{key}") is not None
            )
            self.console.print(f"[green]done[/] {label}: {shown or row['status']}, {row.get('seconds') or 0:.1f} s")
        else:
            self.failed += 1
            self.console.print(f"[red]{row['status']}[/] {label}: {escape(row.get('error') or '')}", highlight=False)
        if self.progress is None:
            return
        if row["trial"] in self.tasks:
            self.progress.remove_task(self.tasks.pop(row["trial"]))
        note = f"running {len(self.tasks)}, failed {self.failed}"
        if best is not None and best.get(f"{metric}_mean") is not None:
            note += f", best so far: point {best['point']} {metric} {best[f'{metric}_mean']:.4f}"
        self.progress.update(self.overall, advance=1, note=note)

    def finish(self, rows: list[dict[str, Any]], parameters: list[str], metric: str) -> None:
        if self.progress is not None:
            self.progress.stop()
        table = Table(title=f"{self.sweep.name}: mean ± std over seeds (best by {metric})")
        table.add_column("point", justify="right")
        for parameter in parameters:
            table.add_column(escape(parameter))
        table.add_column("seeds", justify="right")
        shown = shown_columns(rows)
        for _, title in shown:
            table.add_column(title, justify="right")
        for row in rows:
            cells = [str(row["point"]), *(escape(str(row[p])) for p in parameters), str(row["seeds"])]
            cells += [cell(row, key) for key, _ in shown]
            table.add_row(*cells, style="bold green" if row["best"] else None)
        self.console.print(table)
        self.console.print(f"results in {self.sweep.path}")
