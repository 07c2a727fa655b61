"""Several runs overlaid: each run's curves in a colour of its own, labelled by the config values in which
the runs differ (found by diffing their config.yaml files), so `lr=0.01` and `lr=0.1` name themselves, and
listed in the order of those values (units=4, 16, 64, whatever order the folders came in)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nnrun.errors import RunError
from nnrun.io import inline
from nnrun.registry import path_text
from nnrun.report.style import loss_label, metric_axis, pyplot, save, value_order
from nnrun.results import Run, load_run

MAX_LABEL = 70  # characters of a legend entry before it is cut


def plot_comparison(run_dirs: list[str | Path], out: str | Path | None = None, fmt: str = "png") -> Path:
    """Overlay the runs' curves into `out` (default: their common parent folder) as comparison.<fmt>."""
    runs = [load_run(path) for path in run_dirs]
    drawn = [run for run in runs if run.history]
    if len(drawn) < 2:
        raise RunError("a comparison needs two runs with evaluations", hint="pass more run folders")
    folder = Path(out) if out is not None else Path(os.path.commonpath([run.path.resolve() for run in drawn]))
    return save(comparison_figure(drawn), folder / f"comparison.{fmt}")


def differences(configs: list[dict[str, Any]]) -> list[str]:
    """The key paths whose values are not the same in every config, in the first config's order."""
    flat = [flatten(config) for config in configs]
    keys = list(dict.fromkeys(key for one in flat for key in one))
    return [key for key in keys if len({inline(one.get(key)) for one in flat}) > 1]


def flatten(value: Any, loc: tuple = ()) -> dict[str, Any]:
    """{key path: leaf}; mappings and lists of mappings (the layers) open up, other lists are leaves."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, (*loc, key)).items()}
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return {k: v for index, item in enumerate(value) for k, v in flatten(item, (*loc, index)).items()}
    return {path_text(loc): value}


def in_order(runs: list[Run]) -> list[Run]:
    """The runs sorted by the values in which their configs differ, numbers by value: a shell's glob gives
    units16 before units4."""
    keys = differences([run.config for run in runs])
    return sorted(runs, key=lambda run: tuple(value_order(flatten(run.config).get(key)) for key in keys))


def labels(runs: list[Run]) -> list[str]:
    keys = differences([run.config for run in runs])
    if not keys:
        return [run.path.name for run in runs]
    out = []
    for run in runs:
        flat = flatten(run.config)
        text = ", ".join(f"{key}={inline(flat.get(key))}" for key in keys)
        out.append(text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…")
    return out


def comparison_figure(runs: list[Run]) -> Any:
    plt = pyplot()
    runs = in_order(runs)
    figure, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2 + 0.2 * len(runs) / 2), layout="constrained")
    palette = plt.get_cmap("tab10" if len(runs) <= 10 else "viridis")
    split = next((s for s in ("val", "test") if all(r.history[-1].get(f"{s}_acc") is not None for r in runs)), "train")
    for index, (run, label) in enumerate(zip(runs, labels(runs))):
        color = palette(index if len(runs) <= 10 else index / (len(runs) - 1))
        x = [row["epoch"] for row in run.history]
        for ax, metric in ((ax_acc, "acc"), (ax_loss, "loss")):
            ax.plot(x, [row.get(f"{split}_{metric}") for row in run.history], color=color, label=label)
            if split != "train":  # training curves faint and dashed beside the held-out ones
                ax.plot(x, [row.get(f"train_{metric}") for row in run.history], "--", color=color, alpha=0.45)
    ax_acc.set(
        xlabel="epoch",
        ylabel=f"{split} accuracy",
        title=f"{split} accuracy" + (" (dashed: train)" if split != "train" else ""),
    )
    ax_loss.set(xlabel="epoch", ylabel=f"{split} {loss_label(runs[0].config)}", title=f"{split} loss")
    metric_axis(ax_acc, "acc")
    metric_axis(ax_loss, "loss")
    handles, names = ax_loss.get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncols=2 if len(runs) > 3 else 1, fontsize=8)
    figure.suptitle(f"{len(runs)} runs")
    return figure
