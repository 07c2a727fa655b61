"""The sweep's tables: a trials.csv row per trial, and a summary row per parameter point (mean ± std over
the seeds that finished), the best point by the spec's metric marked.

With a schedule, a point is read at its last rung: the top for the points that got there, the rung where
it stopped for the others, which are listed below them and never marked best. rungs.csv has each rung's
points and decisions. std is the sample standard deviation (n - 1 in the denominator), empty for one seed.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from nnrun.config import SweepMetric, metric_direction
from nnrun.results import FINISHED, SPLIT_METRICS, Run
from nnrun.sweeps.plan import Plan, Trial, inline_value
from nnrun.sweeps.scheduler import Rung, Scheduler


def trial_row(trial: Trial, run: Run | None, status: str, **extra: Any) -> dict[str, Any]:
    """trials.csv's row for a trial: its parameters and seed, its status, its best and last evaluation."""
    row: dict[str, Any] = {"trial": trial.id, "point": trial.point, "seed": trial.seed, "status": status}
    row.update({path: inline_value(value) for path, value in trial.params.items()})
    for at in ("best", "last"):
        evaluation = (run.summary.get(at) if run else None) or {}
        for metric in ["epoch", *SPLIT_METRICS]:
            row[f"{at}_{metric}"] = evaluation.get(metric)
    row.update(extra)
    return row


def summarize(
    plan: Plan, rows: list[dict[str, Any]], scheduler: Scheduler | None = None
) -> tuple[list[dict[str, Any]], str]:
    """Per point: how many seeds finished and failed, mean and std of each split metric, the best marked.

    Returns the rows and the metric that ranked them (the spec's, e.g. val_acc). With a schedule, each point
    is read at its last rung (see the module's docstring)."""
    if scheduler is not None and plan.spec.schedule:
        return summarize_rungs(plan, rows, scheduler)
    return summarize_points(plan, rows)


def summarize_points(
    plan: Plan, rows: list[dict[str, Any]], contenders: set[int] | None = None
) -> tuple[list[dict[str, Any]], str]:
    """summarize() over trials.csv-shaped rows; only `contenders` (default: every point) may be the best."""
    metric: SweepMetric = plan.spec.metric
    at = metric.at
    by_point: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_point[row["point"]].append(row)
    out = []
    for number, point in enumerate(plan.points, start=1):
        mine = by_point[number]
        done = [row for row in mine if row["status"] in FINISHED]
        summary: dict[str, Any] = {"point": number, **{p: inline_value(v) for p, v in point.items()}}
        summary["seeds"] = len(done)
        summary["failed"] = sum(row["status"] == "failed" for row in mine)
        for name in SPLIT_METRICS:
            summary[f"{name}_mean"], summary[f"{name}_std"] = mean_std([row.get(f"{at}_{name}") for row in done])
        summary["epoch_mean"] = mean_std([row.get(f"{at}_epoch") for row in done])[0]
        summary["seconds_mean"] = mean_std([row.get("seconds") for row in done])[0]
        summary["best"] = 0
        out.append(summary)
    ranked = [row for row in out if row.get(f"{metric.name}_mean") is not None]
    if contenders is not None:
        ranked = [row for row in ranked if row["point"] in contenders]
    if ranked:
        pick = max if metric_direction(metric.name, metric.goal) == "max" else min
        pick(ranked, key=lambda row: row[f"{metric.name}_mean"])["best"] = 1
    return out, metric.name


def summarize_rungs(plan: Plan, rows: list[dict[str, Any]], scheduler: Scheduler) -> tuple[list[dict[str, Any]], str]:
    """summarize() for a schedule: every trial read at its point's last rung, the top-rung points first."""
    at = plan.spec.metric.at
    seconds = {row["trial"]: row.get("seconds") for row in rows}
    readings, where = [], {}
    for point in range(1, len(plan.points) + 1):
        shown, stopped = shown_rung(scheduler, point)
        where[point] = (shown, stopped)
        for trial in scheduler.trials_of.get(point, []):
            progress = scheduler.progress[trial.id]
            reading = progress.reading(shown.resource, at) if shown else None
            status = "completed" if reading else ("failed" if progress.status == "failed" else "pending")
            row = {"point": point, "status": status, "seconds": seconds.get(trial.id)}
            row.update({f"{at}_{name}": (reading or {}).get(name) for name in ["epoch", *SPLIT_METRICS]})
            readings.append(row)
    top = {point for point, (shown, _) in where.items() if shown and shown.resource == scheduler.maximum}
    out, metric = summarize_points(plan, readings, contenders=top)
    for row in out:
        shown, stopped = where[row["point"]]
        row["rung"], row["stopped"] = (shown.resource if shown else None), int(stopped)
    out.sort(key=lambda row: (row["point"] not in top, -(row["rung"] or 0), row["point"]))
    return out, metric


def shown_rung(scheduler: Scheduler, point: int) -> tuple[Rung | None, bool]:
    """The rung a point is read at, its last one that all its trials reached (None before its first), and
    whether the schedule stopped it there."""
    last, stopped = scheduler.fate(point)
    if not last.waiting:
        return last, stopped
    if last.index == 0:
        return None, False
    walk = scheduler.walk(scheduler.brackets[scheduler.bracket_of[point]])
    return walk[last.index - 1], False  # a point at a rung was at the one before


def rung_rows(scheduler: Scheduler) -> list[dict[str, Any]]:
    """rungs.csv: each rung of each bracket with its points, their seed means and whether they went on."""
    out = []
    for rung in scheduler.rungs():
        for point in rung.points:
            readings = scheduler.readings(point, rung.resource) if not rung.waiting else []
            out.append(
                {
                    "bracket": rung.bracket, "rung": rung.index, "resource": rung.resource, "point": point,
                    **{p: inline_value(v) for p, v in scheduler.plan.points[point - 1].items()},
                    "value": rung.values.get(point), "seeds": sum(r is not None for r in readings),
                    "promoted": None if rung.promoted is None else int(point in rung.promoted),
                }
            )  # fmt: skip
    return out


def compute_line(scheduler: Scheduler) -> str:
    """The resource the study used against the full grid's."""
    full = len(scheduler.plan.trials) * scheduler.maximum
    used = scheduler.used()
    shown = f"{int(used):,}" if float(used).is_integer() else f"{used:,.1f}"
    return (
        f"Compute: {shown} of {full:,} {scheduler.unit} trained ({100 * used / full:.1f} % of the full grid: "
        f"{len(scheduler.plan.trials)} trials × {scheduler.maximum} {scheduler.unit})."
    )


def mean_std(values: list[Any]) -> tuple[float | None, float | None]:
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not numbers:
        return None, None
    return statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else None


def markdown(plan: Plan, rows: list[dict[str, Any]], metric: str, scheduler: Scheduler | None = None) -> str:
    """The summary as a Markdown table: accuracies in %, mean ± std over seeds, the best row in bold."""
    parameters = list(plan.spec.parameters)
    shown = shown_columns(rows)
    at = plan.spec.metric.at
    schedule = plan.spec.schedule if scheduler is not None else None
    unit = scheduler.unit if schedule else ""
    header = ["", *parameters, "seeds", *([unit] if schedule else []), *(title for _, title in shown)]
    header += [f"{at} epoch", "s/trial"]
    title = f"# {plan.name}: sweep of {len(plan.points)} points × {len(plan.spec.seeds or [plan.base['seed']])} seeds"
    if schedule:
        title += f", {schedule_text(plan, scheduler)}"
    lines = [title, ""]
    if plan.spec.method == "tpe":
        lines += [search_text(plan), ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row["point"]), *(str(row[p]) for p in parameters)]
        cells.append(f"{row['seeds']}" + (f" ({row['failed']} failed)" if row["failed"] else ""))
        if schedule:
            reached = "–" if row.get("rung") is None else f"{row['rung']}"
            cells.append(reached + (" (stopped)" if row.get("stopped") else ""))
        cells += [cell(row, key) for key, _ in shown]
        cells.append("–" if row.get("epoch_mean") is None else f"{row['epoch_mean']:.3g}")
        cells.append("–" if row.get("seconds_mean") is None else f"{row['seconds_mean']:.1f}")
        if row["best"]:
            cells = [f"**{cell}**" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    goal = plan.spec.metric.goal
    lines += [
        "",
        f"Mean ± std over seeds, each trial read at its {at} evaluation. "
        f"Bold: the best point by {'mean ' + metric}{'' if goal == 'auto' else f' ({goal})'}.",
    ]
    if schedule:
        lines[-1] += (
            f" A point is read at its last rung ({unit}): the points that reached the top rung, "
            f"{scheduler.maximum}, come first and the best is one of them; a stopped point at the rung where it "
            "stopped."
        )
        lines += ["", compute_line(scheduler)]
    return "\n".join(lines) + "\n"


def search_text(plan: Plan) -> str:
    """Where a tpe study's points came from."""
    spec = plan.spec
    repeats = len(plan.suggested) - len(plan.points)
    again = f"; {repeats} suggestions repeated an earlier point and were told its result" if repeats else ""
    return (
        f"The points came from tpe: Optuna's TPE sampler, asked for {spec.batch} points a round from the results "
        f"of the rounds before (sampler_seed {spec.sampler_seed}); {len(plan.suggested)} of {spec.n_trials} "
        f"suggested in {len(plan.brackets)} rounds{again}. rounds.json has each round's points; trials.csv "
        "its round."
    )


def schedule_text(plan: Plan, scheduler: Scheduler) -> str:
    """`successive halving (η=3) over rungs 1, 3, 9 epochs`, or Hyperband with its brackets."""
    schedule = plan.spec.schedule
    if plan.spec.method == "tpe":
        kind = "successive halving" if schedule.type == "halving" else "Hyperband's brackets by turns"
        return f"each round's points through {kind} (η={schedule.eta}) up to {scheduler.maximum} {scheduler.unit}"
    if schedule.type == "halving":
        rungs = ", ".join(map(str, scheduler.brackets[0].rungs))
        return f"successive halving (η={schedule.eta}) over rungs {rungs} {scheduler.unit}"
    return (
        f"Hyperband (η={schedule.eta}), {len(scheduler.brackets)} brackets up to {scheduler.maximum} {scheduler.unit}"
    )


# the split metrics a summary table shows, with their column titles (summary.csv has train_loss too)
TABLE_COLUMNS = {"test_acc": "test acc %", "val_acc": "val acc %", "train_acc": "train acc %",
                 "test_loss": "test loss", "val_loss": "val loss"}  # fmt: skip


def shown_columns(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(metric, title) of each table column that some point has a value for (no val split, no val columns)."""
    return [
        (key, title) for key, title in TABLE_COLUMNS.items() if any(row.get(f"{key}_mean") is not None for row in rows)
    ]


def short_names(parameters: list[str]) -> dict[str, str]:
    """Each parameter's shortest dotted ending that no other parameter ends with, for a narrow column header:
    model.hidden.units and optimizer.lr are `units` and `lr`; model.hidden.units beside model.head.units is
    `hidden.units`."""
    out = {}
    for path in parameters:
        parts = path.split(".")
        others = [other for other in parameters if other != path]
        for k in range(1, len(parts) + 1):
            ending = ".".join(parts[-k:])
            if not any(other == ending or other.endswith(f".{ending}") for other in others):
                break
        out[path] = ending
    return out


def cell(row: dict[str, Any], metric: str) -> str:
    """`mean ± std` of one metric of a summary row, accuracies in %."""
    return plus_minus(row.get(f"{metric}_mean"), row.get(f"{metric}_std"), 100 if metric.endswith("_acc") else 1)


def plus_minus(mean: float | None, std: float | None, scale: float = 1) -> str:
    if mean is None:
        return "–"
    digits = 2 if scale == 100 else 4
    text = f"{mean * scale:.{digits}f}"
    return text if std is None else f"{text} ± {std * scale:.{digits}f}"
