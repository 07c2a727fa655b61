"""What a sweep tells while it runs: the SweepReporter protocol, a silent default and the live rich view.

The live view shows the trials done, running and failed, the time left, the best point so far, and a bar
per running trial (steps, from its evaluations); a line per finished trial, and the summary table at the end.
With a schedule it prints the rung plan first, counts jobs (a trial runs once a rung) and shows the rung in
progress, the points left in it and the points promoted so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

from nnrun.results import FINISHED, percent
from nnrun.sweeps.summary import cell, compute_line, short_names, shown_columns

if TYPE_CHECKING:
    from nnrun.sweeps.scheduler import Scheduler


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
    plan: list[str] | None = None  # a schedule's rung plan, as text
    done: int | None = None  # with a schedule: trials that reached the maximum before (else trials - to_run)
    paused: int = 0  # with a schedule: trials paused at a rung before
    search: list[str] | None = None  # tpe's plan, as text: its points are suggested round by round
    scheduled: bool = False  # a schedule counts jobs: a trial runs once a rung


class SweepReporter(Protocol):
    def start(self, sweep: SweepStart) -> None: ...

    def event(self, message: tuple) -> None:
        """A worker's news: ("started", trial, attempt), ("start", trial, step, total_steps),
        ("evaluation", trial, step, val_acc, val_loss), ("died", trial, how)."""

    def trial_done(self, row: dict[str, Any], best: dict[str, Any] | None, metric: str) -> None:
        """A trial ended (its trials.csv row); `best` is the best summary row so far."""

    def finish(self, rows: list[dict[str, Any]], parameters: list[str], metric: str) -> None:
        """The sweep ended (or was stopped): the summary rows, one per parameter point."""

    def rungs(self, scheduler: Scheduler) -> None:
        """With a schedule: where its brackets stand, after every trial that ended."""

    def round(self, line: str, labels: dict[str, str]) -> None:
        """With tpe: a round was suggested (`line` says which points), its trials labelled by id."""


class SilentSweep:
    def start(self, sweep: SweepStart) -> None: ...
    def event(self, message: tuple) -> None: ...
    def trial_done(self, row: dict[str, Any], best: dict[str, Any] | None, metric: str) -> None: ...
    def finish(self, rows: list[dict[str, Any]], parameters: list[str], metric: str) -> None: ...
    def rungs(self, scheduler: Scheduler) -> None: ...
    def round(self, line: str, labels: dict[str, str]) -> None: ...


LISTED = 12  # the points a decision line names; rungs.csv has them all


def bracket_name(scheduler: Scheduler, index: int) -> str:
    """How a line names its bracket: tpe's are its rounds; halving's one bracket goes unnamed."""
    if scheduler.plan.spec.method == "tpe":
        return f"round {index + 1} "
    return f"bracket {index} " if len(scheduler.brackets) > 1 else ""


def decision_line(scheduler: Scheduler, rung: Any) -> str:
    """`rung 1 (1 epochs): 3 of 9 points go on (1, 2, 9); best 0.8278 (point 9)`."""
    name = bracket_name(scheduler, rung.bracket)
    values = {point: value for point, value in rung.values.items() if value is not None}
    best = ""
    if values:
        pick = max if scheduler.goal == "max" else min
        point = pick(values, key=lambda p: values[p])
        best = f"; best {scheduler.metric} {values[point]:.4f} (point {point})"
    listed = ", ".join(map(str, rung.promoted[:LISTED])) + (", …" if len(rung.promoted) > LISTED else "")
    return (
        f"{name}rung {rung.index + 1} ({rung.resource} {scheduler.unit}): {len(rung.promoted)} of "
        f"{len(rung.points)} points go on ({listed}){best}"
    )


def rung_note(scheduler: Scheduler) -> str:
    """`rung 2 of 3 (3 epochs): 4 of 9 points left (5 trials); 27 promoted so far`, a part per bracket at work."""
    parts = []
    for bracket in scheduler.brackets:
        walk = scheduler.walk(bracket)
        last = walk[-1]
        if not last.waiting:
            continue
        promoted = sum(len(rung.promoted or []) for rung in walk)
        left = len({scheduler.point_of[trial] for trial in last.waiting})
        name = bracket_name(scheduler, bracket.index)
        parts.append(
            f"{name}rung {last.index + 1} of {len(bracket.rungs)} ({last.resource} {scheduler.unit}): "
            f"{left} of {len(last.points)} points left ({len(last.waiting)} trials); {promoted} promoted so far"
        )
    return "; ".join(parts)


NARROW = 100  # columns: below, the bars lose their elapsed time and half their width


class SweepProgress(Progress):
    """rich's bars with the sweep's note (the rung, running, failed, best so far) on lines of its own under them,
    where it wraps rather than squeezing the bars and counts into a column."""

    note = ""

    def get_renderables(self) -> Any:
        yield self.make_tasks_table(self.tasks)
        if self.note:
            yield Text(self.note)


class LabelColumn(ProgressColumn):
    """A task's label as plain text; a trial's is indented under the overall bar, its wrapped lines too."""

    def render(self, task: Task) -> Any:
        text = Text(task.description)
        return Padding(text, (0, 0, 0, 2)) if task.fields.get("trial") else text


def parameters_caption(parameters: list[str]) -> str:
    """`units: model.hidden.units, lr: optimizer.lr`, for a table whose headers are the short names."""
    names = short_names(parameters)
    return escape(", ".join(f"{names[path]}: {path}" for path in parameters if names[path] != path))


def print_path(console: Console, text: str, path: Path | str) -> None:
    """`text path` (text in rich markup), the path whole: alone on the next line when both do not fit on one, and
    left for the terminal to wrap when it is longer than a line, so that it copies as one."""
    if len(Text.from_markup(text).plain) + 1 + len(str(path)) <= console.width:
        console.print(f"{text} {escape(str(path))}")
    else:
        console.print(text)
        console.print(escape(str(path)), soft_wrap=True)


class RichSweepView(SilentSweep):
    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self.tasks: dict[str, Any] = {}
        self.failed = 0
        self.note = ""
        self.scheduler: Scheduler | None = None
        self.rung_text = ""  # where the schedule stands, before the overall bar's note
        self.decided: set[tuple[int, int]] = set()  # (bracket, rung) whose decision was printed
        self.sweep: SweepStart | None = None

    def start(self, sweep: SweepStart) -> None:
        self.sweep = sweep
        done = sweep.trials - sweep.to_run if sweep.done is None else sweep.done
        jobs = bool(sweep.plan) or sweep.scheduled
        for line in sweep.search or []:
            self.console.print(escape(line), highlight=False)
        self.console.print(
            f"[bold]{escape(sweep.name)}[/]: {sweep.points} points × {sweep.seeds} seeds = {sweep.trials} trials"
            + (" suggested so far" if sweep.search else "")
            + (f", {done} done before" if done else "")
            + (f", {sweep.paused} paused at a rung" if sweep.paused else "")
            + (f", {sweep.stale} stale (no longer in the spec)" if sweep.stale else "")
        )
        print_path(
            self.console,
            f"{sweep.to_run} {'jobs (a trial runs once a rung)' if jobs else 'trials'} to run on "
            f"{sweep.workers} worker(s) × {sweep.threads} thread(s); results in",
            sweep.path,
        )
        for line in sweep.plan or []:
            self.console.print(escape(line), highlight=False)
        if not sweep.to_run:
            return
        # the counts and times never wrap: a narrow terminal wraps the labels, at spaces, and drops the elapsed time
        narrow = self.console.width < NARROW
        self.progress = SweepProgress(
            LabelColumn(),
            BarColumn(bar_width=20 if narrow else 40, table_column=Column(no_wrap=True)),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            *([] if narrow else [TimeElapsedColumn(table_column=Column(no_wrap=True))]),
            TimeRemainingColumn(table_column=Column(no_wrap=True)),
            console=self.console,
            refresh_per_second=2,  # few redraws a second: the driver shares the cores with the trials
        )
        self.overall = self.progress.add_task("jobs" if jobs else "trials", total=sweep.to_run)
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
            how = escape(str(message[2]))
            self.console.print(f"[yellow]trial {trial}: its worker died ({how}); starting it again[/]")

    def task(self, trial: str, **fields: Any) -> None:
        if trial not in self.tasks:
            label = self.sweep.labels.get(trial, trial)  # plain text: LabelColumn reads no markup
            self.tasks[trial] = self.progress.add_task(label, total=fields.pop("total", None), trial=True)
        self.progress.update(self.tasks[trial], **fields)

    def trial_done(self, row: dict[str, Any], best: dict[str, Any] | None, metric: str) -> None:
        label = escape(self.sweep.labels.get(row["trial"], row["trial"]))
        at = self.sweep.at
        shown = ", ".join(
            f"{key} {percent(value) if key.endswith('_acc') else f'{value:.4f}'}"
            for key in (metric, "test_acc")
            if (value := row.get(f"{at}_{key}")) is not None
        )
        if row["status"] in FINISHED:
            self.console.print(f"[green]done[/] {label}: {shown or row['status']}, {row.get('seconds') or 0:.1f} s")
        elif row["status"] in ("paused", "stopped"):  # at a rung: the schedule decides when the rung is full
            self.console.print(f"[cyan]rung[/] {label}: {row.get('rung')} {self.scheduler.unit}, {shown}")
        else:
            self.failed += 1
            self.console.print(f"[red]{row['status']}[/] {label}: {escape(row.get('error') or '')}", highlight=False)
        if self.progress is None:
            return
        if row["trial"] in self.tasks:
            self.progress.remove_task(self.tasks.pop(row["trial"]))
        self.note = f"running {len(self.tasks)}, failed {self.failed}"
        if best is not None and best.get(f"{metric}_mean") is not None:
            self.note += f", best so far: point {best['point']} {metric} {best[f'{metric}_mean']:.4f}"
        self.progress.note = self.rung_text + self.note
        self.progress.update(self.overall, advance=1)

    def round(self, line: str, labels: dict[str, str]) -> None:
        self.sweep.labels.update(labels)
        self.console.print(escape(line), highlight=False)

    def rungs(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler  # for the units, the decisions and the compute line at the end
        for rung in scheduler.rungs():
            if rung.promoted is not None and (rung.bracket, rung.index) not in self.decided:
                self.decided.add((rung.bracket, rung.index))
                if self.sweep is not None:  # decisions taken before this run started are not news
                    self.console.print(escape(decision_line(scheduler, rung)), highlight=False)
        text = rung_note(scheduler)
        self.rung_text = text + "; " if text else ""  # plain text, as the note is
        if self.progress is not None:
            self.progress.note = self.rung_text + self.note

    def finish(self, rows: list[dict[str, Any]], parameters: list[str], metric: str) -> None:
        if self.progress is not None:
            self.progress.stop()
        every = shown_columns(rows)
        kept = list(every)
        table = self.summary_table(rows, parameters, metric, kept, every)
        # too wide for the terminal: metric columns go from the right, the study's metric last, rather than have
        # rich cut the headers and wrap each mean ± std over three lines
        while len(kept) > 1 and self.too_wide(table):
            kept.remove(next(column for column in reversed(kept) if column[0] != metric))
            table = self.summary_table(rows, parameters, metric, kept, every)
        self.console.print(table)
        if self.scheduler is not None:
            self.console.print(escape(compute_line(self.scheduler)))
        print_path(self.console, "results in", self.sweep.path)

    def too_wide(self, table: Table) -> bool:
        """Whether the table needs more than the terminal's width to show each cell on one line."""
        unbounded = self.console.options.update_width(10_000)
        return self.console.measure(table, options=unbounded).maximum > self.console.width

    def summary_table(
        self,
        rows: list[dict[str, Any]],
        parameters: list[str],
        metric: str,
        shown: list[tuple[str, str]],
        every: list[tuple[str, str]],
    ) -> Table:
        """A row per point with mean ± std of the `shown` metric columns, of `every` one with a value. A
        parameter's header is the end of its key path that tells it from the others (`units` for
        model.hidden.units); the caption names it in full, and the columns left out."""
        notes = [parameters_caption(parameters)]
        left_out = [title for column, title in every if (column, title) not in shown]
        if left_out:
            notes.append(f"left out at this width: {', '.join(left_out)} (summary.md has every column)")
        table = Table(
            title=f"{escape(self.sweep.name)}: mean ± std over seeds (best by {metric})",
            caption="\n".join(note for note in notes if note),
            caption_justify="left",
        )
        table.add_column("point", justify="right")
        names = short_names(parameters)
        for parameter in parameters:
            table.add_column(escape(names[parameter]))
        table.add_column("seeds", justify="right")
        scheduler = self.scheduler
        if scheduler is not None:
            table.add_column(scheduler.unit, justify="right")
        for _, title in shown:
            table.add_column(title, justify="right", no_wrap=True)
        for row in rows:
            cells = [str(row["point"]), *(escape(str(row[p])) for p in parameters), str(row["seeds"])]
            if scheduler is not None:
                cells.append(f"{'–' if row.get('rung') is None else row['rung']}{' stopped' if row['stopped'] else ''}")
            cells += [cell(row, key) for key, _ in shown]
            style = "bold green" if row["best"] else "dim" if row.get("stopped") else None
            table.add_row(*cells, style=style)
        return table
