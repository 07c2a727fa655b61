"""A sweep's figures as a person reads them: legends in the order of the parameters' values, mean ± std bands
inside the metric's range, accuracies in %. The sweeps are written by hand, so nothing trains."""

from __future__ import annotations

import numpy as np

from nnrun.io import csv_text, dump_yaml
from nnrun.report.compare import comparison_figure, in_order
from nnrun.report.style import pyplot, value_order
from nnrun.report.sweep import curves_figure, heatmap_figure, ordered, parameter_figure, point_runs, scatter_figure
from nnrun.results import METRIC_COLUMNS, Run, Sweep

UNITS, LR = "model.hidden.units", "optimizer.lr"


def made_sweep(tmp_path, points: list[dict], curves: dict[int, list[list[float]]], method: str = "grid") -> Sweep:
    """A sweep of `points` (parameter values, in the order they came) whose trials' val_acc per epoch are
    `curves[point]`, one list per seed; summary rows hold each point's mean and std at the last epoch."""
    trials, summary = [], []
    for number, values in enumerate(points, start=1):
        finals = []
        for seed, curve in enumerate(curves[number]):
            trial = f"t{number}s{seed}"
            folder = tmp_path / "trials" / trial
            folder.mkdir(parents=True)
            (folder / "config.yaml").write_text(dump_yaml({"name": "made"}))
            rows = [{"epoch": epoch, "val_acc": acc, "val_loss": 1 - acc} for epoch, acc in enumerate(curve, start=1)]
            (folder / "metrics.csv").write_text(csv_text(METRIC_COLUMNS, rows))
            trials.append({"trial": trial, "point": number, "seed": seed, "status": "completed", **values})
            finals.append(curve[-1])
        std = float(np.std(finals, ddof=1)) if len(finals) > 1 else None
        summary.append({"point": number, **values, "val_acc_mean": float(np.mean(finals)), "val_acc_std": std})
    parameters = {name: list(dict.fromkeys(p[name] for p in points)) for name in points[0]}
    spec = {"method": method, "parameters": parameters, "metric": {"name": "val_acc"}}
    return Sweep(tmp_path, spec, {"name": "made", "train": {"epochs": 3}}, "made.yaml", [], trials, summary)


def legend_texts(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def bar_ends(ax) -> list[tuple[float, float]]:
    """The (x, y) ends of every error bar on `ax`."""
    return [end for bars in ax.collections for segment in bars.get_segments() for end in segment]


def band_of(ax) -> np.ndarray:
    """The corners of every filled band on `ax`, one (x, y) a row."""
    return np.concatenate([path.vertices for area in ax.collections for path in area.get_paths()])


def test_numeric_parameters_sort_by_value_in_legends_and_on_axes(tmp_path):
    # the order a user's grid might list them in; sorted as text they were 16, 4, 64
    points = [{UNITS: u, LR: lr} for u in (64, 16, 4) for lr in (0.1, 0.01)]
    sweep = made_sweep(tmp_path, points, {n: [[0.8, 0.9], [0.82, 0.88]] for n in range(1, 7)})
    figure = parameter_figure(sweep, sweep.summary, "val_acc", LR)
    assert legend_texts(figure.axes[0]) == [f"{UNITS} = 4", f"{UNITS} = 16", f"{UNITS} = 64"]
    figure = curves_figure(sweep, "val_acc")
    assert legend_texts(figure.axes[0]) == [
        "units=4, lr=0.01", "units=4, lr=0.1", "units=16, lr=0.01", "units=16, lr=0.1", "units=64, lr=0.01",
        "units=64, lr=0.1",
    ]  # fmt: skip
    figure = heatmap_figure(sweep, sweep.summary, "val_acc")
    assert [tick.get_text() for tick in figure.axes[0].get_yticklabels()] == ["4", "16", "64"]
    assert [label for label, _ in point_runs(sweep)][:2] == ["units=4, lr=0.01", "units=4, lr=0.1"]
    pyplot().close("all")


def test_mixed_and_missing_values_sort_without_an_error():
    assert ordered({64, 4, 16, 0.5}) == [0.5, 4, 16, 64]
    assert ordered({"relu", None, 16, 4, (8, 2), (8, 16), True}) == [4, 16, (8, 2), (8, 16), True, "relu", None]
    assert sorted([[16, "tanh"], [4, "tanh"], [4, None]], key=value_order) == [[4, "tanh"], [4, None], [16, "tanh"]]


def test_runs_compared_are_listed_by_the_values_they_differ_in(tmp_path):
    def run(units: int) -> Run:
        config = {"name": "r", "model": {"layers": [{"type": "dense", "units": units}]}}
        history = [{"epoch": 1, "val_acc": 0.9, "val_loss": 0.3, "train_acc": 0.9, "train_loss": 0.3}]
        return Run(tmp_path / f"units{units}", config, history)

    globbed = [run(16), run(4), run(64)]  # the order `nnrun plot units*` passes them in
    assert [r.path.name for r in in_order(globbed)] == ["units4", "units16", "units64"]
    figure = comparison_figure(globbed)
    names = [text.get_text() for text in figure.legends[0].get_texts()]
    assert names == ["model.layers[0].units=4", "model.layers[0].units=16", "model.layers[0].units=64"]
    pyplot().close("all")


def test_mean_std_bands_of_accuracies_stay_at_or_below_100_percent(tmp_path):
    # seeds at 0.93 and 1.0: mean 0.965, std 0.049, so mean + std is 1.014
    points = [{UNITS: 4}, {UNITS: 16}]
    sweep = made_sweep(tmp_path, points, {1: [[0.7, 0.93], [0.9, 1.0]], 2: [[0.8, 0.95], [0.85, 0.97]]})
    figure = parameter_figure(sweep, sweep.summary, "val_acc", UNITS)
    ax = figure.axes[0]
    assert max(y for _, y in bar_ends(ax)) == 1.0 and ax.get_ylim()[1] <= 1.0
    assert ax.yaxis.get_major_formatter()(0.95, 0) == "95 %"
    figure = curves_figure(sweep, "val_acc")
    ax = figure.axes[0]
    assert band_of(ax)[:, 1].max() == 1.0 and ax.get_ylim()[1] <= 1.0
    random = made_sweep(tmp_path / "random", points, {1: [[0.93], [1.0]], 2: [[0.95], [0.97]]}, method="random")
    figure = scatter_figure(random, random.summary, "val_acc", UNITS)
    assert figure.axes[0].get_ylim()[1] <= 1.0
    pyplot().close("all")


def test_loss_bands_stay_at_or_above_zero(tmp_path):
    sweep = made_sweep(tmp_path, [{UNITS: 4}], {1: [[0.9, 0.99], [0.5, 0.92]]})  # val_loss 0.01 and 0.08 at the end
    for row in sweep.summary:  # mean - std is -0.015
        row["val_loss_mean"], row["val_loss_std"] = 0.045, 0.06
    figure = curves_figure(sweep, "val_loss")
    assert band_of(figure.axes[0])[:, 1].min() >= 0.0 and figure.axes[0].get_ylim()[0] >= 0.0
    ax = parameter_figure(sweep, sweep.summary, "val_loss", UNITS).axes[0]
    assert min(y for _, y in bar_ends(ax)) == 0.0
    pyplot().close("all")
