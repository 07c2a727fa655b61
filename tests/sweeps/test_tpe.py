"""method: tpe, run: the same points with any workers or Dask, a killed driver resumed to the same study,
trials that are train runs, and a sampler that learns where the good learning rates are.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys

import pytest

import nnrun
from nnrun.errors import ConfigError
from nnrun.io import read_csv
from tests.sweeps.halving import RECORD_COLUMNS
from tests.sweeps.studies import metrics_bytes, metrics_stamps, tiny_study, write_config
from tests.sweeps.test_resume import start_sweep, wait_for

LR = {"distribution": "log_uniform", "low": 1.0e-4, "high": 1.0}


def tpe_study(parameters=None, seeds=(0, 1), schedule=None, epochs=1, **sweep) -> dict:
    """The tiny digits MLP for `epochs`, 6 points in rounds of 3 by default; `sweep` keys replace those."""
    config = tiny_study(parameters or {"optimizer.lr": LR}, seeds=list(seeds), epochs=epochs)
    config["sweep"].update({"method": "tpe", "n_trials": 6, "batch": 3, "sampler_seed": 0, **sweep})
    if schedule:
        config["sweep"]["schedule"] = schedule
        config["train"]["epochs"] = 3
    return config


def bohb_study(**sweep) -> dict:
    """tpe with successive halving over 1 and 3 epochs: each round's best point of three goes on."""
    parameters = {"optimizer.lr": LR, "model.hidden.units": {"distribution": "int", "low": 4, "high": 32}}
    return tpe_study(parameters, schedule={"type": "halving", "min": 1, "eta": 3}, **sweep)


def outcome(folder) -> dict:
    """What two runs of one study must agree on: the rounds' points, the tables (record columns aside) and
    every trial's metrics.csv."""
    rounds = json.loads((folder / "rounds.json").read_text())
    trials = [{k: v for k, v in row.items() if k not in RECORD_COLUMNS} for row in read_csv(folder / "trials.csv")]
    summary = [{k: v for k, v in row.items() if k != "seconds_mean"} for row in read_csv(folder / "summary.csv")]
    tables = {name: read_csv(folder / name) for name in ("rungs.csv",) if (folder / name).is_file()}
    points = [round_["points"] for round_ in rounds["rounds"]]
    return {"points": points, "trials": trials, "summary": summary, **tables, "metrics": metrics_bytes(folder)}


def test_the_points_and_tables_are_the_same_with_one_or_two_workers_and_dask(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the trials' commands name the config as given
    write_config(tmp_path / "c.yaml", bohb_study())
    one = nnrun.sweep("c.yaml", out=tmp_path / "one", workers=1, plot=False)
    nnrun.sweep("c.yaml", out=tmp_path / "two", workers=2, plot=False)
    nnrun.sweep("c.yaml", out=tmp_path / "dask", workers=2, dask="local", plot=False)
    assert outcome(tmp_path / "one") == outcome(tmp_path / "two") == outcome(tmp_path / "dask")

    assert [row["round"] for row in one.trials] == [1] * 6 + [2] * 6  # 3 points × 2 seeds a round
    stopped = {row["point"] for row in one.trials if row["status"] == "stopped"}
    assert len(stopped) == 4  # two of each round's three stopped at the first rung
    rungs = {row["point"]: row["rung"] for row in one.summary}
    assert all(rungs[point] == 1 for point in stopped) and {rungs[p] for p in rungs if p not in stopped} == {3}
    markdown = (tmp_path / "one" / "summary.md").read_text()
    assert "The points came from tpe" in markdown and "6 of 6 suggested in 2 rounds" in markdown


def test_round_two_is_asked_from_round_ones_results_told_in_point_order(tmp_path):
    # the second round, asked again from the folders' results, is the one the study ran
    from nnrun.sweeps import rounds
    from nnrun.sweeps.run import open_study
    from nnrun.sweeps.summary import summarize

    nnrun.sweep(bohb_study(), out=tmp_path / "study", workers=2, plot=False)
    study = open_study(bohb_study(n_trials=3), out=tmp_path / "study")  # round 1 only
    rows = read_csv(tmp_path / "study" / "trials.csv", text=["trial"])
    summary, _ = summarize(study.plan, [r for r in rows if r["round"] == 1], study.scheduler)
    told = rounds.told(study.plan, summary)
    assert [result.state for result in told].count("pruned") == 2 and told[0].point == study.plan.points[0]
    study.plan.spec.n_trials = 6
    asked = rounds.ask(study.plan, summary)
    saved = json.loads((tmp_path / "study" / "rounds.json").read_text())
    assert asked["points"] == saved["rounds"][1]["points"]


def test_a_driver_killed_mid_round_resumes_to_the_uninterrupted_study(tmp_path, monkeypatch):
    write_config(tmp_path / "c.yaml", tpe_study(n_trials=6, batch=2, seeds=[0], epochs=40))
    killed = tmp_path / "killed"
    process = start_sweep(tmp_path, "killed")

    def in_round_two():
        try:
            rows = read_csv(killed / "trials.csv", text=["trial"])
        except (FileNotFoundError, KeyError):
            return False
        return any(row["round"] == 2 and row["status"] == "completed" for row in rows)

    wait_for(process, in_round_two, "a trial of round 2 completed")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = metrics_stamps(killed)
    done = [row["trial"] for row in read_csv(killed / "trials.csv", text=["trial"]) if row["status"] == "completed"]
    assert len(json.loads((killed / "rounds.json").read_text())["rounds"]) == 2

    nnrun.sweep(None, resume=killed, workers=2, plot=False)
    monkeypatch.chdir(tmp_path)
    nnrun.sweep("c.yaml", out=tmp_path / "clean", workers=2, plot=False)
    assert outcome(killed) == outcome(tmp_path / "clean")
    after = metrics_stamps(killed)
    assert all(after[trial] == before[trial] for trial in done)  # no finished trial ran again
    for row in read_csv(killed / "trials.csv", text=["trial"]):
        log = (killed / "trials" / row["trial"] / "train.log").read_text()
        assert log.count("(new)") == 1, row["trial"]  # started once; a killed one resumed from its checkpoint


def test_a_tpe_trials_command_reproduces_its_run_folder(tmp_path):
    write_config(tmp_path / "c.yaml", tpe_study(n_trials=3, seeds=[0]))
    subprocess.run(
        [sys.executable, "-m", "nnrun", "sweep", "c.yaml", "--out", "study", "--quiet", "--no-plot"],
        cwd=tmp_path, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    row = read_csv(tmp_path / "study" / "trials.csv", text=["trial"])[-1]
    command = shlex.split(row["command"])
    assert command[:3] == ["nnrun", "train", "c.yaml"] and f"optimizer.lr={row['optimizer.lr']}" in command
    subprocess.run(
        [sys.executable, "-m", "nnrun", *command[1:], "--quiet", "--out", "again"],
        cwd=tmp_path, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    trial = tmp_path / "study" / row["run_dir"]
    assert (tmp_path / "again" / "metrics.csv").read_bytes() == (trial / "metrics.csv").read_bytes()


def good_share(method: str, seed: int, tmp_path) -> float:
    """The share of the study's second half of points that reach 80 % val accuracy."""
    config = tpe_study(n_trials=30, batch=5, seeds=[0], sampler_seed=seed, epochs=2)
    if method == "random":
        del config["sweep"]["batch"]
    config["sweep"]["method"] = method
    result = nnrun.sweep(config, out=tmp_path / f"{method}-{seed}", workers=2, plot=False)
    rows = sorted(result.summary, key=lambda row: row["point"])[15:]
    return sum((row["val_acc_mean"] or 0) >= 0.8 for row in rows) / len(rows)


def test_the_sampler_learns_where_the_learning_rate_is_good(tmp_path):
    # learning rates from 1e-4 to 1 for 2 epochs: the ends fail (80 % is reached from about 0.01 to 0.15).
    # Measured over sampler seeds 0-4: tpe 0.53-0.73 of its last 15 points there, random search 0.20-0.40.
    tpe = [good_share("tpe", seed, tmp_path) for seed in (0, 1)]
    random = [good_share("random", seed, tmp_path) for seed in (0, 1)]
    assert sum(tpe) / 2 >= 0.5 and sum(tpe) / 2 >= sum(random) / 2 + 0.15, (tpe, random)


def test_repeated_and_failing_points_are_told_and_the_study_goes_on(tmp_path, cli):
    # three choices and six suggestions: tpe repeats some; a rate of 1e30 makes the loss NaN, a failure
    write_config(tmp_path / "c.yaml", tpe_study({"optimizer.lr": [0.01, 0.003, 1.0e30]}, seeds=[0], batch=2))
    result = cli("sweep", "c.yaml", "--out", "study", "--workers", "2")
    study = nnrun.load_sweep(tmp_path / "study")
    suggested = [point for round_ in json.loads((tmp_path / "study" / "rounds.json").read_text())["rounds"]
                 for point in round_["points"]]  # fmt: skip
    assert len(suggested) == 6 and len(study.summary) == len({p["optimizer.lr"] for p in suggested}) == 3
    assert f"{6 - 3} suggestions repeated an earlier point" in (tmp_path / "study" / "summary.md").read_text()
    failed = [row for row in study.trials if row["status"] == "failed"]
    assert [row["optimizer.lr"] for row in failed] == [1.0e30] and "nan" in failed[0]["error"]
    assert result.returncode == 1 and "1 of 3 trials did not finish" in result.stderr
    assert "repeated an earlier point" in result.stderr  # the round line says it too
    assert (tmp_path / "study" / "val_acc_history.png").is_file()
    assert not (tmp_path / "study" / "val_acc_heatmap.png").exists()


def test_n_trials_may_grow_but_a_changed_search_is_refused_unless_forced(tmp_path):
    nnrun.sweep(tpe_study(n_trials=3, seeds=[0]), out=tmp_path / "study", workers=2, plot=False)
    first = json.loads((tmp_path / "study" / "rounds.json").read_text())["rounds"]
    grown = nnrun.sweep(tpe_study(n_trials=6, seeds=[0]), out=tmp_path / "study", workers=2, plot=False)
    rounds = json.loads((tmp_path / "study" / "rounds.json").read_text())["rounds"]
    assert rounds[:1] == first and len(rounds) == 2 and len(grown.summary) == 6
    with pytest.raises(ConfigError) as refused:
        nnrun.sweep(tpe_study(n_trials=6, seeds=[0], sampler_seed=1), out=tmp_path / "study", workers=2)
    assert "sweep.sampler_seed changed" in refused.value.message() and "--force" in refused.value.hint
    again = nnrun.sweep(
        tpe_study(n_trials=6, seeds=[0], sampler_seed=1), out=tmp_path / "study", workers=2, plot=False, force=True
    )
    assert json.loads((tmp_path / "study" / "rounds.json").read_text())["rounds"][0]["points"] != first[0]["points"]
    assert len(again.summary) == 6 and sum(row["status"] == "stale" for row in again.trials) > 0


def test_a_long_run_of_repeated_rounds_is_asked_in_a_loop_not_a_recursion(tmp_path):
    # two choices and 300 rounds of one: every round after the first few repeats a point and trains
    # nothing, so the driver asks the next at once; it once did so by recursing, a frame or two a round
    config = tpe_study({"optimizer.lr": [0.01, 0.003]}, seeds=[0], n_trials=300, batch=1)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(350)
    try:
        result = nnrun.sweep(config, out=tmp_path / "study", workers=1, plot=False)
    finally:
        sys.setrecursionlimit(limit)
    assert len(json.loads((tmp_path / "study" / "rounds.json").read_text())["rounds"]) == 300
    assert len(result.summary) == 2 and all(row["status"] == "completed" for row in result.trials)


def test_a_search_suggested_anew_takes_back_the_trials_its_points_share(tmp_path):
    parameters = {"optimizer.lr": [0.01, 0.003, 0.001]}
    nnrun.sweep(tpe_study(parameters, seeds=[0], n_trials=3), out=tmp_path / "study", workers=2, plot=False)
    before = {row["trial"] for row in read_csv(tmp_path / "study" / "trials.csv", text=["trial"])}
    stamps = metrics_stamps(tmp_path / "study")
    again = nnrun.sweep(
        tpe_study(parameters, seeds=[0], n_trials=3, sampler_seed=1), out=tmp_path / "study", workers=2, force=True
    )
    ids = [row["trial"] for row in again.trials]
    shared = before & {row["trial"] for row in again.trials if row["status"] != "stale"}
    assert shared and len(ids) == len(set(ids))  # each trial once: back in the study, not also listed stale
    assert all(metrics_stamps(tmp_path / "study")[trial] == stamps[trial] for trial in shared)  # not trained again
