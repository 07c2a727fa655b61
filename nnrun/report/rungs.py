"""`<metric>_rungs.<fmt>`: a halving or Hyperband study's every trial against the resource, as in the ASHA
paper. Stopped trials end at their rung and fade; the trials of the points that reached the top rung are
drawn strong; dashed lines mark the rungs. Hyperband gets a panel per bracket; a tpe study's rounds share
a panel when they share a ladder.

It reads rungs.csv, trials.csv and the trials' metrics.csv (nnrun.results), nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from nnrun.io import inline
from nnrun.report.style import metric_axis, pyplot
from nnrun.results import Sweep

FADED, STRONG = 0.25, 0.95  # line alpha of a stopped trial and of a survivor


def rungs_figure(sweep: Sweep, metric: str) -> Any:
    plt = pyplot()
    unit = "steps" if sweep.base["train"].get("max_steps") else "epochs"
    maximum = sweep.base["train"]["max_steps" if unit == "steps" else "epochs"]
    brackets: dict[int, dict[str, Any]] = defaultdict(lambda: {"rungs": set(), "points": set()})
    tpe = sweep.spec.get("method") == "tpe"
    first = defaultdict(lambda: maximum)  # tpe: each round's first rung, which names its panel
    for row in sweep.rungs:
        first[row["bracket"]] = min(first[row["bracket"]], row["resource"])
    for row in sweep.rungs:
        panel = first[row["bracket"]] if tpe else row["bracket"]
        brackets[panel]["rungs"].add(row["resource"])
        brackets[panel]["points"].add(row["point"])
    top = {row["point"] for row in sweep.rungs if row["resource"] == maximum}
    shown = sorted(brackets)
    figure, axes = plt.subplots(
        1, len(shown), figsize=(4.2 * len(shown) + 2.8, 4.2), squeeze=False, sharey=True, constrained_layout=True
    )
    by_point = defaultdict(list)
    for trial in sweep.trials:
        if trial.get("status") != "stale":
            by_point[trial["point"]].append(trial)
    palette = plt.get_cmap("tab10")
    order = {point: index for index, point in enumerate(sorted(top))}  # a colour for each survivor
    for ax, index in zip(axes[0], shown):
        bracket = brackets[index]
        for rung in sorted(bracket["rungs"]):
            ax.axvline(rung, color="0.5", linestyle="--", linewidth=0.8, zorder=0)
        for point in sorted(bracket["points"]):
            survivor = point in top
            for trial in by_point[point]:
                curve = [row for row in sweep.run(trial["trial"]).history if row.get(metric) is not None]
                if not curve:
                    continue
                xs = [row["step" if unit == "steps" else "epoch"] for row in curve]
                color = palette(order[point] % 10) if survivor else "0.45"
                ax.plot(
                    xs, [row[metric] for row in curve], color=color, linewidth=1.6 if survivor else 0.8,
                    alpha=STRONG if survivor else FADED, zorder=2 if survivor else 1,
                )  # fmt: skip
                if not survivor:  # where it stopped: a dot, which a trial stopped at the first evaluation needs
                    ax.plot(xs[-1], curve[-1][metric], marker="o", markersize=3, color=color, alpha=0.5, zorder=1)
                if trial.get("status") == "failed":
                    ax.plot(xs[-1], curve[-1][metric], marker="x", color="#d62728", zorder=3)
        rungs = sorted(bracket["rungs"])
        if rungs[-1] / rungs[0] >= 9:
            ax.set_xscale("log")
        ax.set_xticks(rungs, [str(rung) for rung in rungs])
        ax.minorticks_off()
        ax.set_xlabel(f"{unit} (rungs dashed)")
        name = f"bracket {index}: " if len(shown) > 1 and not tpe else ""
        ax.set_title(f"{name}{len(bracket['points'])} points from {min(bracket['rungs'])} {unit}", fontsize=10)
    axes[0][0].set_ylabel(metric.replace("_", " "))
    metric_axis(axes[0][0], metric)  # the panels share their y-axis
    handles = [plt.Line2D([], [], color="0.45", alpha=FADED, label="stopped at a rung")]
    handles += [
        plt.Line2D([], [], color=palette(order[point] % 10), label=label(sweep, point)) for point in sorted(top)[:8]
    ]
    axes[0][-1].legend(handles=handles, loc="lower right", fontsize=8)
    figure.suptitle(f"{sweep.base.get('name', '')}: {metric} of every trial (strong: reached {maximum} {unit})")
    return figure


def label(sweep: Sweep, point: int) -> str:
    """`point 9: lr=0.1`, the point's parameters by their last path component."""
    row = next((row for row in sweep.summary if row["point"] == point), {})
    values = [(path.split(".")[-1], row.get(path)) for path in sweep.parameters]
    return f"point {point}: " + ", ".join(f"{name}={v if isinstance(v, str) else inline(v)}" for name, v in values)
