"""A sweep's figures, from its summary.csv and its trials' metrics.csv.

- `<metric>_vs_<parameter>.<fmt>` for each parameter: the metric's mean ± std over seeds against the
  parameter (a log axis for a learning rate, a log-uniform draw or values spanning 100×); for a grid one
  line per value of the next parameter, the others averaged over; for random and tpe search each point
  as a marker, coloured by the order it came in;
- `<metric>_heatmap.<fmt>` for a grid of two parameters: the mean in each cell;
- `<metric>_history.<fmt>` for random and tpe search: every trial's metric against its point's number,
  the order the points came in, with the best point so far as a step line;
- `<metric>_curves.<fmt>`: each point's curve of the metric against epoch, with its band of ± std across
  seeds;
- `boundaries.<fmt>` for a model of 2-D inputs: each point's decision boundary (its first seed), small multiples;
- `<metric>_rungs.<fmt>` for a halving or Hyperband study (nnrun.report.rungs); the figures above then
  compare the points that reached the top rung.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from nnrun.errors import RunError
from nnrun.io import inline
from nnrun.report.boundary import boundaries_figure, is_planar
from nnrun.report.rungs import rungs_figure
from nnrun.report.style import clipped, metric_axis, percent_ticks, pyplot, save, value_order
from nnrun.results import FINISHED, Sweep, load_run, load_sweep, percent

LOG_SPAN = 100  # positive numbers spanning this factor or more get a log axis
LEGEND_POINTS = 20  # the curves figure names at most this many points in its legend


def plot_sweep(sweep_dir: str | Path, metric: str | None = None, out: str | Path | None = None, fmt: str = "png"):
    """Draw the sweep's figures into `out` (default: the sweep folder); returns the files written."""
    sweep = load_sweep(sweep_dir)
    metric = metric or sweep.spec.get("metric", {}).get("name", "val_acc")
    rows = [row for row in sweep.summary if row.get(f"{metric}_mean") is not None]
    if not rows:
        raise RunError(
            f"{sweep.path} has no finished trial with {metric}",
            hint="run or resume the sweep, or choose --metric (test_acc, val_loss, ...)",
        )
    out = Path(out or sweep.path)
    if sweep.schedule:  # points compare at the top rung; the rungs figure shows the others where they stopped
        maximum = sweep.base["train"].get("max_steps") or sweep.base["train"]["epochs"]
        rows = [row for row in rows if row.get("rung") == maximum] or rows
    grid = sweep.spec.get("method", "grid") == "grid"
    against = parameter_figure if grid else scatter_figure
    written = [save(against(sweep, rows, metric, p), out / f"{metric}_vs_{slug(p)}.{fmt}") for p in sweep.parameters]
    if len(sweep.parameters) == 2 and grid:
        written.append(save(heatmap_figure(sweep, rows, metric), out / f"{metric}_heatmap.{fmt}"))
    if not grid:
        written.append(save(history_figure(sweep, metric), out / f"{metric}_history.{fmt}"))
    written.append(save(curves_figure(sweep, metric), out / f"{metric}_curves.{fmt}"))
    if sweep.schedule and sweep.rungs:
        written.append(save(rungs_figure(sweep, metric), out / f"{metric}_rungs.{fmt}"))
    if is_planar(sweep.base):
        written.append(save(boundaries_figure(point_runs(sweep)), out / f"boundaries.{fmt}"))
    return written


def left_out(sweep: Sweep) -> list[str]:
    """Why each trial of the study that did not finish is missing from its figures."""
    reasons = []
    for trial in sweep.trials:
        # stale: not part of the study any more; stopped: the rungs figure draws it to where it stopped
        if trial.get("status") not in (*FINISHED, "stale", "stopped"):
            error = str(trial.get("error") or "").splitlines()
            why = f": {error[0]}" if error else ""
            reasons.append(
                f"trial {trial['trial']} (point {trial['point']}, seed {trial['seed']}) {trial['status']}{why}"
            )
    return reasons


def point_runs(sweep: Sweep) -> list[tuple[str, Any]]:
    """Each point's first finished trial, labelled by its parameter values, in the order of those values."""
    chosen: dict[int, dict[str, Any]] = {}
    for trial in sweep.trials:
        if trial.get("status") in FINISHED and trial["point"] not in chosen:
            chosen[trial["point"]] = trial
    firsts = sorted(chosen.values(), key=lambda trial: (values_order(sweep, trial), trial["point"]))
    return [(point_label(sweep, trial), load_run(sweep.path / "trials" / trial["trial"])) for trial in firsts]


def point_label(sweep: Sweep, trial: dict[str, Any]) -> str:
    """`units=16, lr=0.01`: a point's parameters by their last path component."""
    return ", ".join(f"{short(p)}={show(key(trial[p]))}" for p in sweep.parameters)


def values_order(sweep: Sweep, row: dict[str, Any]) -> tuple:
    """A point's sort key: its parameters' values in the sweep's order, each number by its value."""
    return tuple(value_order(key(row.get(p))) for p in sweep.parameters)


def parameter_figure(sweep: Sweep, rows: list[dict[str, Any]], metric: str, parameter: str) -> Any:
    plt = pyplot()
    others = [p for p in sweep.parameters if p != parameter]
    series = others[0] if others else None
    groups: dict[Any, dict[Any, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[key(row.get(series)) if series else None][key(row[parameter])].append(row)
    values = ordered({key(row[parameter]) for row in rows})
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    figure, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for label, by_value in sorted(groups.items(), key=lambda item: value_order(item[0])):
        xs = [v for v in values if v in by_value]
        means = [statistics.fmean(r[f"{metric}_mean"] for r in by_value[v]) for v in xs]
        stds = [std_of(by_value[v], metric) for v in xs]
        positions = xs if numeric else [values.index(v) for v in xs]
        name = f"{series} = {show(label)}" if series else f"{metric}, mean ± std over seeds"
        ax.errorbar(positions, means, yerr=spread(means, stds, metric), marker="o", capsize=3, label=name)
    if numeric and use_log(sweep, parameter, values):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(values)), [show(v) for v in values], rotation=30 if len(values) > 4 else 0)
    ax.set(
        xlabel=parameter,
        ylabel=metric_label(metric),
        title=fitted(f"{sweep.base.get('name', '')}: {metric}", f"against {shortened(parameter)}"),
    )
    note = " (mean ± std over seeds" + (f"; averaged over {', '.join(others[1:])})" if len(others) > 1 else ")")
    ax.legend(title=note.strip(" ()") if series else None)
    metric_axis(ax, metric)
    return figure


def scatter_figure(sweep: Sweep, rows: list[dict[str, Any]], metric: str, parameter: str) -> Any:
    """Random or tpe search: each point's mean ± std against the parameter, coloured by when it came."""
    plt = pyplot()
    values = ordered({key(row[parameter]) for row in rows})
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    order, label = arrival(sweep)
    figure, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    xs = [key(row[parameter]) if numeric else values.index(key(row[parameter])) for row in rows]
    ys = [row[f"{metric}_mean"] for row in rows]
    stds = [row.get(f"{metric}_std") or 0 for row in rows]
    ax.errorbar(xs, ys, yerr=spread(ys, stds, metric), fmt="none", ecolor="0.7", zorder=1)
    dots = ax.scatter(xs, ys, c=[order[row["point"]] for row in rows], cmap="viridis", zorder=2)
    figure.colorbar(dots, ax=ax, label=label)
    if numeric and use_log(sweep, parameter, values):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(values)), [show(v) for v in values], rotation=30 if len(values) > 4 else 0)
    method = sweep.spec.get("method")
    ax.set(
        xlabel=parameter,
        ylabel=metric_label(metric),
        title=fitted(f"{sweep.base.get('name', '')}: {metric} against {shortened(parameter)}", f"({method} search)"),
    )
    metric_axis(ax, metric)
    return figure


def arrival(sweep: Sweep) -> tuple[dict[int, int], str]:
    """The order each point came in, for a colour: tpe's round, random search's draw."""
    if sweep.spec.get("method") == "tpe":
        return {row["point"]: row["round"] for row in sweep.trials if "round" in row}, "round"
    return {row["point"]: row["point"] for row in sweep.summary}, "point (order drawn)"


def history_figure(sweep: Sweep, metric: str) -> Any:
    """Every trial's metric against its point's number, the point's mean marked, and the best so far as a
    step line: how fast the search found its best. A point the schedule stopped is hollow, at its last rung."""
    plt = pyplot()
    at = sweep.spec.get("metric", {}).get("at", "best")
    goal = sweep.spec.get("metric", {}).get("goal", "auto")
    maximizing = goal == "max" or (goal == "auto" and metric.endswith("_acc"))
    figure, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    trials = [row for row in sweep.trials if row.get(f"{at}_{metric}") is not None and row["status"] != "stale"]
    ax.scatter([row["point"] for row in trials], [row[f"{at}_{metric}"] for row in trials], s=8, color="0.6",
               label="a trial (one seed)")  # fmt: skip
    rows = sorted((row for row in sweep.summary if row.get(f"{metric}_mean") is not None), key=lambda r: r["point"])
    top = [row for row in rows if not row.get("stopped")]
    stopped = [row for row in rows if row.get("stopped")]
    ax.scatter([r["point"] for r in top], [r[f"{metric}_mean"] for r in top], color="C0", label="a point (seed mean)")
    if stopped:
        ax.scatter([r["point"] for r in stopped], [r[f"{metric}_mean"] for r in stopped], facecolors="none",
                   edgecolors="C0", label="a point stopped at a rung")  # fmt: skip
    best, steps = None, []
    for row in top:
        value = row[f"{metric}_mean"]
        best = value if best is None or (value > best if maximizing else value < best) else best
        steps.append((row["point"], best))
    if steps:
        ax.step([x for x, _ in steps], [y for _, y in steps], where="post", color="C1", label="best point so far")
    firsts: dict[int, int] = {}  # tpe: each round's first point, where a faint line marks the round's start
    for row in sweep.trials:
        if row.get("round") is not None:
            firsts[row["round"]] = min(firsts.get(row["round"], row["point"]), row["point"])
    for number, point in firsts.items():
        if number > 1:
            ax.axvline(point - 0.5, color="0.92", zorder=0)
    ax.set(
        xlabel="point, in the order suggested" if sweep.spec.get("method") == "tpe" else "point, in the order drawn",
        ylabel=metric_label(metric),
        title=f"{sweep.base.get('name', '')}: {metric} of every trial ({sweep.spec.get('method')} search)",
    )
    ax.legend(fontsize=8)
    metric_axis(ax, metric)
    return figure


def heatmap_figure(sweep: Sweep, rows: list[dict[str, Any]], metric: str) -> Any:
    plt = pyplot()
    first, second = sweep.parameters
    ys, xs = ordered({key(r[first]) for r in rows}), ordered({key(r[second]) for r in rows})
    grid = [[math.nan] * len(xs) for _ in ys]
    for row in rows:
        grid[ys.index(key(row[first]))][xs.index(key(row[second]))] = row[f"{metric}_mean"]
    figure, ax = plt.subplots(figsize=(1.2 * len(xs) + 2.5, 0.6 * len(ys) + 2), constrained_layout=True)
    image = ax.imshow(grid, cmap="viridis" if metric.endswith("_acc") else "viridis_r", aspect="auto")
    for i, line in enumerate(grid):
        for j, value in enumerate(line):
            if not math.isnan(value):
                red, green, blue, _ = image.cmap(image.norm(value))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # white text on dark cells
                text = percent(value) if metric.endswith("_acc") else f"{value:.3f}"
                ax.text(j, i, text, ha="center", va="center", color="white" if dark else "black", fontsize=8)
    ax.set_xticks(range(len(xs)), [show(v) for v in xs])
    ax.set_yticks(range(len(ys)), [show(v) for v in ys])
    ax.grid(False)
    ax.set(xlabel=second, ylabel=first, title=f"{sweep.base.get('name', '')}: mean {metric} over seeds")
    bar = figure.colorbar(image, ax=ax, label=metric_label(metric))
    if metric.endswith("_acc"):
        bar.ax.yaxis.set_major_formatter(percent_ticks())
    return figure


def curves_figure(sweep: Sweep, metric: str) -> Any:
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    by_point: dict[int, list[dict]] = defaultdict(list)
    for trial in sweep.trials:
        if trial.get("status") in FINISHED:
            by_point[trial["point"]].append(trial)
    palette = plt.get_cmap("tab10" if len(by_point) <= 10 else "viridis")
    legend = len(by_point) <= LEGEND_POINTS
    # a legend lists the points by their values; without one, the colours run in the order the points came
    points = sorted(by_point, key=lambda point: (values_order(sweep, by_point[point][0]) if legend else (), point))
    for index, point in enumerate(points):
        trials = by_point[point]
        curves = [load_run(sweep.path / "trials" / t["trial"]).history for t in trials]
        steps = sorted({row["epoch"] for curve in curves for row in curve if row.get(metric) is not None})
        means, lows, highs = [], [], []
        for step in steps:
            values = [
                row[metric] for curve in curves for row in curve if row["epoch"] == step and row.get(metric) is not None
            ]
            mean = statistics.fmean(values)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            means.append(mean), lows.append(mean - std), highs.append(mean + std)
        color = palette(index if len(by_point) <= 10 else index / max(len(by_point) - 1, 1))
        ax.plot(steps, means, color=color, label=point_label(sweep, trials[0]) or f"point {point}")
        ax.fill_between(steps, clipped(lows, metric), clipped(highs, metric), color=color, alpha=0.2, linewidth=0)
    title = f"{sweep.base.get('name', '')}: {metric} (± std over seeds)"
    if legend:
        ax.legend(fontsize=8)
    else:  # a legend of 81 points is taller than the figure: the colours run from the first point to the last
        title += f"\n{len(by_point)} points, coloured from the first to the last"
    ax.set(xlabel="epoch", ylabel=metric_label(metric), title=title)
    metric_axis(ax, metric)
    return figure


def use_log(sweep: Sweep, parameter: str, values: list) -> bool:
    spec = sweep.spec.get("parameters", {}).get(parameter)
    if isinstance(spec, dict) and spec.get("distribution") == "log_uniform":
        return True
    positive = [v for v in values if v > 0]
    return len(positive) == len(values) and max(positive) / min(positive) >= LOG_SPAN or parameter.endswith(".lr")


def spread(means: list[float], stds: list[float], metric: str) -> list[list[float]]:
    """errorbar's yerr for mean ± std, clipped to the metric's range: the lengths below and above each mean."""
    lows = clipped([mean - std for mean, std in zip(means, stds)], metric)
    highs = clipped([mean + std for mean, std in zip(means, stds)], metric)
    return [[mean - low for mean, low in zip(means, lows)], [high - mean for mean, high in zip(means, highs)]]


def std_of(rows: list[dict], metric: str) -> float:
    stds = [r.get(f"{metric}_std") for r in rows if r.get(f"{metric}_std") is not None]
    return statistics.fmean(stds) if stds else 0.0


def metric_label(metric: str) -> str:
    split, _, kind = metric.partition("_")
    return f"{split} {'accuracy' if kind == 'acc' else 'loss'}"


def key(value: Any) -> Any:
    """A hashable form of a parameter value (lists become tuples)."""
    return tuple(key(v) for v in value) if isinstance(value, list) else value


def short(parameter: str) -> str:
    """A parameter's last path component; each one's, for linked parameters ("units, activation")."""
    return ", ".join(name.strip().split(".")[-1] for name in parameter.split(","))


def shortened(parameter: str) -> str:
    """A parameter for a title: more than two linked paths are named by their first and last."""
    names = [name.strip() for name in parameter.split(",")]
    return parameter if len(names) <= 2 else f"{names[0]} … {names[-1]}"


def fitted(first: str, second: str, width: int = 60) -> str:
    """A title of two parts, on two lines when one would be wider than the figure (about 60 characters)."""
    return f"{first} {second}" if len(first) + len(second) < width else f"{first}\n{second}"


def show(value: Any) -> str:
    return inline(list(value)) if isinstance(value, tuple) else str(value)


def ordered(values: set) -> list:
    return sorted(values, key=value_order)


def slug(parameter: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in parameter).strip("_")
