"""Successive halving and Hyperband: the decisions, the trials that stop, and the guarantees.

A promoted trial equals a straight run byte for byte, the study is the same with one worker, two or Dask,
and a grown study (points, seeds, a raised maximum) ends where a fresh one would, keeping every rung done.
"""

from __future__ import annotations

import math
import shlex
import shutil
import subprocess
import sys

import pytest

import nnrun
from nnrun.io import read_csv
from nnrun.sweeps.run import sweep
from tests.sweeps.halving import LRS, halving_study, seed_mean, tables
from tests.sweeps.studies import write_config


@pytest.fixture(scope="module")
def halved(tmp_path_factory):
    """The nine-rate study with halving over 1, 3, 9 epochs and two seeds, run from its folder on 2 workers."""
    root = tmp_path_factory.mktemp("halved")
    write_config(root / "study.yaml", halving_study())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        result = sweep("study.yaml", out=root / "sweep", workers=2)
    return root, result


def value_at(folder, trial, rung, metric="val_acc"):
    """A trial's metric at a rung read as the spec says (at: best, by its monitor val_loss), computed here
    from metrics.csv: the first evaluation with the lowest val_loss up to the rung."""
    rows = [row for row in read_csv(folder / "trials" / trial / "metrics.csv") if row["epoch"] <= rung]
    return min(rows, key=lambda row: row["val_loss"])[metric]


def test_each_rung_promotes_the_best_third_by_seed_mean(halved):
    root, result = halved
    folder = root / "sweep"
    trials_of = {}
    for row in result.trials:
        trials_of.setdefault(row["point"], []).append(row["trial"])
    rungs = result.rungs
    assert sorted({(row["rung"], row["resource"]) for row in rungs}) == [(0, 1), (1, 3), (2, 9)]
    active = list(range(1, 10))
    for index, resource in enumerate([1, 3, 9]):
        here = [row for row in rungs if row["rung"] == index]
        assert [row["point"] for row in here] == active
        means = {p: seed_mean([value_at(folder, t, resource) for t in trials_of[p]]) for p in active}
        for row in here:
            assert math.isclose(row["value"], means[row["point"]], rel_tol=1e-12)
            assert row["seeds"] == 2
        if index == 2:
            assert all(row["promoted"] is None for row in here)
            break
        keep = sorted(sorted(active, key=lambda p: (-means[p], p))[: max(1, len(active) // 3)])
        assert [row["point"] for row in here if row["promoted"] == 1] == keep
        assert [row["point"] for row in here if row["promoted"] == 0] == sorted(set(active) - set(keep))
        active = keep
    assert len(active) == 1


def test_stopped_points_are_listed_below_the_top_rung_with_where_they_stopped(halved):
    root, result = halved
    top = [row for row in result.rungs if row["rung"] == 2][0]["point"]
    stopped_at = {row["point"]: row["resource"] for row in result.rungs if row["promoted"] == 0}
    for row in result.trials:
        if row["point"] == top:
            assert (row["status"], row["rung"]) == ("completed", 9)
        else:
            assert (row["status"], row["rung"]) == ("stopped", stopped_at[row["point"]])
    assert result.stopped == {r["trial"]: r["rung"] for r in result.trials if r["point"] != top}

    summary = result.summary
    assert (summary[0]["point"], summary[0]["rung"], summary[0]["stopped"], summary[0]["best"]) == (top, 9, 0, 1)
    assert [row["rung"] for row in summary[1:]] == sorted((stopped_at[r["point"]] for r in summary[1:]), reverse=True)
    assert all(row["stopped"] == 1 and row["best"] == 0 for row in summary[1:])
    for row in summary[1:]:  # a stopped point is read at its rung
        mine = [t["trial"] for t in result.trials if t["point"] == row["point"]]
        expected = seed_mean([value_at(root / "sweep", t, row["rung"], "test_acc") for t in mine])
        assert math.isclose(row["test_acc_mean"], expected, rel_tol=1e-12)

    markdown = (root / "sweep" / "summary.md").read_text()
    assert "successive halving (η=3) over rungs 1, 3, 9 epochs" in markdown
    assert "| 3 (stopped) |" in markdown and "| 1 (stopped) |" in markdown
    assert "Compute: 42 of 162 epochs trained (25.9 % of the full grid: 18 trials × 9 epochs)." in markdown


def test_a_promoted_trial_and_a_stopped_one_equal_straight_runs(halved, tmp_path):
    root, result = halved
    folder = root / "sweep"
    top = next(row for row in result.trials if row["status"] == "completed")
    command = shlex.split(top["command"])
    again = tmp_path / "again"
    done = subprocess.run(
        [sys.executable, "-m", "nnrun", *command[1:], "--quiet", "--out", str(again)],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in ("metrics.csv", "model.npz"):
        assert (again / name).read_bytes() == (folder / top["run_dir"] / name).read_bytes(), name

    stopped = next(row for row in result.trials if row["status"] == "stopped" and row["rung"] == 3)
    trial = folder / stopped["run_dir"]
    straight = nnrun.train(nnrun.load_run(trial).config, out=tmp_path / "straight", plot=False)
    rows = (trial / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 and (straight.path / "metrics.csv").read_text().splitlines()[:4] == rows
    finished = nnrun.resume(shutil.copytree(trial, tmp_path / "by_hand"), plot=False)  # a stopped trial can go on
    assert (finished.path / "metrics.csv").read_bytes() == (straight.path / "metrics.csv").read_bytes()
    assert (finished.path / "model.npz").read_bytes() == (straight.path / "model.npz").read_bytes()


def test_a_schedule_over_the_whole_budget_and_early_stopping_stay_exact(tmp_path):
    # the cosine rate is computed over the trial's budget, and early stopping may fire between rungs
    config = halving_study(LRS[:6], seeds=[0])
    config["optimizer"]["schedule"] = {"type": "cosine"}
    config["train"]["early_stopping"] = {"monitor": "val_acc", "patience": 2, "restore_best": True}
    config["sweep"]["schedule"] = {"type": "halving", "min": 1, "eta": 2}
    result = sweep(config, out=tmp_path / "sweep", workers=2, plot=False)
    assert {row["status"] for row in result.trials} <= {"completed", "early_stopped", "stopped"}
    for row in result.trials:
        trial = tmp_path / "sweep" / row["run_dir"]
        straight = nnrun.train(nnrun.load_run(trial).config, out=tmp_path / row["trial"], plot=False)
        mine = (trial / "metrics.csv").read_text().splitlines()
        assert (straight.path / "metrics.csv").read_text().splitlines()[: len(mine)] == mine
        if row["status"] != "stopped":
            assert (trial / "model.npz").read_bytes() == (straight.path / "model.npz").read_bytes()
            assert straight.status == row["status"]


def test_one_worker_two_and_dask_make_the_same_study(halved, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    root, _ = halved
    expected = tables(root / "sweep")
    monkeypatch.chdir(root)  # the commands in trials.csv name the config as it was given
    sweep("study.yaml", out=tmp_path / "one", workers=1, plot=False)
    assert tables(tmp_path / "one") == expected
    sweep("study.yaml", out=tmp_path / "dask", dask="local", workers=2, plot=False)
    assert tables(tmp_path / "dask") == expected


def test_a_failed_trial_is_the_worst_at_its_rung_and_the_study_goes_on(tmp_path):
    config = halving_study([0.03, 0.01, 1.0e30, 0.003, 0.1, 0.001], seeds=[0, 1])
    result = sweep(config, out=tmp_path / "sweep", workers=2, plot=False)
    failed = [row for row in result.trials if row["point"] == 3]
    assert [row["status"] for row in failed] == ["failed", "failed"]
    assert all("training loss became nan" in row["error"] for row in failed)
    first = {row["point"]: row for row in result.rungs if row["rung"] == 0}
    assert first[3]["value"] is None and first[3]["promoted"] == 0 and first[3]["seeds"] == 0
    assert sum(row["promoted"] == 1 for row in first.values()) == 2
    assert [row["status"] for row in result.trials if row["status"] == "completed"] == ["completed"] * 2
    row = next(row for row in result.summary if row["point"] == 3)
    assert (row["seeds"], row["failed"], row["best"]) == (0, 2, 0)


def test_hyperband_puts_each_point_in_one_bracket_and_picks_the_best_at_the_top(tmp_path):
    config = halving_study(schedule={"type": "hyperband", "min": 1, "eta": 3}, seeds=[0])
    result = sweep(config, out=tmp_path / "sweep", workers=2, plot=False)
    brackets = {}
    for row in result.rungs:
        brackets.setdefault(row["bracket"], set()).add((row["rung"], row["resource"]))
    assert {b: sorted(r) for b, r in brackets.items()} == {
        b: rungs
        for b, rungs in {0: [(0, 1), (1, 3), (2, 9)], 1: [(0, 3), (1, 9)], 2: [(0, 9)]}.items()
        if b in brackets
    }
    starts = [(row["bracket"], row["point"]) for row in result.rungs if row["rung"] == 0]
    assert sorted(point for _, point in starts) == list(range(1, 10))  # each point in exactly one bracket
    top = [row for row in result.rungs if row["resource"] == 9]
    assert {row["point"] for row in top} == {row["point"] for row in result.summary if row["rung"] == 9}
    best = next(row for row in result.summary if row["best"])
    assert best["rung"] == 9 and best["val_acc_mean"] == max(row["value"] for row in top)
    assert "Hyperband (η=3)" in (tmp_path / "sweep" / "summary.md").read_text()


def test_the_dry_run_prints_the_rung_plan(cli, tmp_path):
    write_config(tmp_path / "study.yaml", halving_study())
    result = cli("sweep", "study.yaml", "--dry-run", "--out", "out")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "successive halving, η=3: 9 points × 2 seeds" in result.stdout
    assert [line.strip() for line in lines if line.strip().startswith("rung")] == [
        "rung 1: 1 epochs, 9 points",
        "rung 2: 3 epochs, 3 points",
        "rung 3: 9 epochs, 1 points",
    ]
    assert "42 epochs in all if every trial finishes, against 162 for the full grid (25.9 %)" in result.stdout
    assert not (tmp_path / "out").exists()


def test_the_rungs_figure_draws_every_trial_to_where_it_stopped(halved):
    from nnrun.report.rungs import FADED, STRONG, rungs_figure

    root, result = halved
    figure = rungs_figure(nnrun.load_sweep(root / "sweep"), "val_acc")
    (ax,) = figure.axes
    rung_lines = sorted(line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--")
    curves = [line for line in ax.lines if line.get_linestyle() == "-" and len(line.get_xdata()) > 0]
    strong = [line for line in curves if line.get_alpha() == STRONG]
    faded = [line for line in curves if line.get_alpha() == FADED]
    assert rung_lines == [1, 3, 9]
    assert len(strong) == 2 and all(list(line.get_xdata()) == list(range(1, 10)) for line in strong)
    stopped = [row for row in result.trials if row["status"] == "stopped"]
    assert sorted(line.get_xdata()[-1] for line in faded) == sorted(row["rung"] for row in stopped)


def test_plot_and_report_show_the_rungs_and_list_no_stopped_trial_as_left_out(halved, cli, tmp_path):
    root, _ = halved
    plotted = cli("plot", root / "sweep", "--out", tmp_path / "figures")
    assert plotted.returncode == 0, plotted.stderr
    assert (tmp_path / "figures" / "val_acc_rungs.png").is_file()
    assert "wrote" in plotted.stdout and "left out" not in plotted.stdout + plotted.stderr
    reported = cli("report", root / "sweep", "--format", "md", "--out", tmp_path / "report.md")
    assert reported.returncode == 0, reported.stderr
    page = (tmp_path / "report.md").read_text()
    assert "val_acc_rungs.png" in page and "grid over optimizer.lr with halving (η=3)" in page
    assert "| stopped | 3 |" in page  # the trials table's status and rung columns


def test_a_trials_best_up_to_a_rung_is_what_its_summary_calls_best(tmp_path):
    from nnrun.sweeps.scheduler import read_progress
    from tests.helpers import small_config

    train = {"epochs": 12, "batch_size": 32}
    # min_delta 0.02 makes the best at 6 and 12 epochs the 5th and 9th evaluations, not the last ones
    train["early_stopping"] = {"monitor": "val_acc", "patience": 20, "min_delta": 0.02}
    config = small_config(optimizer={"type": "sgd", "lr": 0.2}, train=train)
    rows = []
    for epochs in (3, 6, 12):  # each budget's summary.json says which evaluation is the best up to there
        run = nnrun.train({**config, "train": {**train, "epochs": epochs}}, out=tmp_path / str(epochs), plot=False)
        rows.append((epochs, run.summary["best"]))
    progress = read_progress(tmp_path / "12", "epochs", 12)
    assert progress.min_delta == 0.02
    assert [best["epoch"] for _, best in rows] == [3, 5, 9]
    for epochs, best in rows:
        assert progress.reading(epochs, "best") == best
    assert progress.reading(12, "last") == nnrun.load_run(tmp_path / "12").history[-1]


def test_the_live_view_prints_the_plan_each_rung_and_each_decision(tmp_path):
    import io

    from rich.console import Console

    from nnrun.sweeps.progress import RichSweepView, rung_note
    from nnrun.sweeps.run import open_study

    config = halving_study(LRS[:3], seeds=[0], epochs=3)
    assert rung_note(open_study(config, out=tmp_path / "fresh").scheduler) == (
        "rung 1 of 2 (1 epochs): 3 of 3 points left (3 trials); 0 promoted so far"
    )
    out = io.StringIO()
    sweep(config, out=tmp_path / "sweep", workers=1, plot=False, reporter=RichSweepView(Console(file=out, width=200)))
    text = out.getvalue()
    assert "4 jobs (a trial runs once a rung) to run" in text  # 3 at the first rung, 1 at the second
    assert "successive halving, η=3: 3 points × 1 seeds" in text and "  rung 2: 3 epochs, 1 points" in text
    assert text.count("rung point ") == 3  # each trial that reached the first rung
    assert "rung 1 (1 epochs): 1 of 3 points go on (1); best val_acc" in text
    assert "Compute: 5 of 9 epochs trained (55.6 % of the full grid: 3 trials × 3 epochs)." in text
