"""The sweep's tables: a trials.csv row per trial, and a summary row per parameter point (mean ± std over
the seeds that finished), the best point by the spec's metric marked.

std is the sample standard deviation (n - 1 in the denominator), empty for a single seed.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from nnrun.config import SweepMetric, metric_direction
from nnrun.results import FINISHED, SPLIT_METRICS, Run
from nnrun.sweeps.plan import Plan, Trial, inline_value


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


def summarize(plan: Plan, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Per point: how many seeds finished and failed, mean and std of each split metric, the best marked.

    Returns the rows and the metric that ranked them (the spec's, e.g. val_acc)."""
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
    if ranked:
        pick = max if metric_direction(metric.name, metric.goal) == "max" else min
        pick(ranked, key=lambda row: row[f"{metric.name}_mean"])["best"] = 1
    return out, metric.name


def mean_std(values: list[Any]) -> tuple[float | None, float | None]:
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not numbers:
        return None, None
    return statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else None


def markdown(plan: Plan, rows: list[dict[str, Any]], metric: str) -> str:
    """The summary as a Markdown table: accuracies in %, mean ± std over seeds, the best row in bold."""
    parameters = list(plan.spec.parameters)
    shown = shown_columns(rows)
    at = plan.spec.metric.at
    header = ["", *parameters, "seeds", *(title for _, title in shown), f"{at} epoch", "s/trial"]
    lines = [
        f"# {plan.name}: sweep of {len(plan.points)} points × {len(plan.spec.seeds or [plan.base['seed']])} seeds",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        cells = [str(row["point"]), *(str(row[p]) for p in parameters)]
        cells.append(f"{row['seeds']}" + (f" ({row['failed']} failed)" if row["failed"] else ""))
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
    return "\n".join(lines) + "\n"


# the split metrics a summary table shows, with their column titles (summary.csv has train_loss too)
TABLE_COLUMNS = {"test_acc": "test acc %", "val_acc": "val acc %", "train_acc": "train acc %",
                 "test_loss": "test loss", "val_loss": "val loss"}  # fmt: skip


def shown_columns(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(metric, title) of each table column that some point has a value for (no val split, no val columns)."""
    return [
        (key, title) for key, title in TABLE_COLUMNS.items() if any(row.get(f"{key}_mean") is not None for row in rows)
    ]


def cell(row: dict[str, Any], metric: str) -> str:
    """`mean ± std` of one metric of a summary row, accuracies in %."""
    return plus_minus(row.get(f"{metric}_mean"), row.get(f"{metric}_std"), 100 if metric.endswith("_acc") else 1)


def plus_minus(mean: float | None, std: float | None, scale: float = 1) -> str:
    if mean is None:
        return "–"
    digits = 2 if scale == 100 else 4
    text = f"{mean * scale:.{digits}f}"
    return text if std is None else f"{text} ± {std * scale:.{digits}f}"
