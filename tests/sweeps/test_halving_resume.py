"""A halving study killed mid-rung, or grown after it ended, comes out as the study run straight.

Every decision is taken again from the trial folders, so a resumed or grown study must end with the tables
and files of a fresh one, no trial redoing an epoch it had checkpointed.
"""

from __future__ import annotations

import os
import re
import signal

import pytest

from nnrun.io import read_csv
from nnrun.runs.folder import checkpoint_state
from nnrun.sweeps.run import sweep
from tests.sweeps.halving import LRS, halving_study, tables
from tests.sweeps.studies import write_config
from tests.sweeps.test_resume import start_sweep, wait_for

RUN_LINE = re.compile(r"run \S+ \((new|resumed at step (\d+))\)")


def starts(trial_dir, after=0):
    """How the trial's run started after the first `after` lines of its train.log: "new" or the step."""
    lines = (trial_dir / "train.log").read_text().splitlines()[after:]
    return [m.group(2) and int(m.group(2)) or "new" for m in map(RUN_LINE.search, lines) if m]


def log_lengths(folder):
    return {path.name: len((path / "train.log").read_text().splitlines()) for path in (folder / "trials").iterdir()}


def rung_decided(folder, rung):
    try:
        return any(row["rung"] == rung and row["promoted"] is not None for row in read_csv(folder / "rungs.csv"))
    except (FileNotFoundError, KeyError):
        return False


def test_a_driver_killed_mid_rung_resumes_to_the_uninterrupted_study(tmp_path, monkeypatch):
    # 27 epochs over rungs 3, 9, 27 on one worker: the kill lands while the second rung trains
    write_config(tmp_path / "c.yaml", halving_study(epochs=27, schedule={"type": "halving", "min": 3, "eta": 3}))
    killed = tmp_path / "killed"
    process = start_sweep(tmp_path, "killed")
    wait_for(process, lambda: rung_decided(killed, 0), "the first rung's decision")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not rung_decided(killed, 1), "the second rung finished before the kill"
    steps = {
        path.name: (checkpoint_state(path / "checkpoint.npz") or {}).get("step")
        for path in (killed / "trials").iterdir()
    }
    lengths = log_lengths(killed)
    decided = [row for row in read_csv(killed / "rungs.csv") if row["rung"] == 0]

    sweep(None, resume=killed, workers=2, plot=False)
    monkeypatch.chdir(tmp_path)  # the commands in trials.csv name the config as the killed sweep was given it
    sweep("c.yaml", out=tmp_path / "clean", workers=2, plot=False)
    assert tables(killed) == tables(tmp_path / "clean")
    assert [row for row in read_csv(killed / "rungs.csv") if row["rung"] == 0] == decided
    for trial, step in steps.items():
        again = starts(killed / "trials" / trial, lengths[trial])
        if again:  # it trained after the kill: from its checkpoint, redoing no epoch it had saved
            assert again[0] == (step if step else "new"), trial
    assert not (killed / "sweep.lock").exists() and not (killed / "attempts").exists()


@pytest.mark.parametrize(
    "first, grown",
    [
        pytest.param({"lrs": LRS[:6]}, {}, id="points"),
        pytest.param({"seeds": [0]}, {}, id="seeds"),
        pytest.param({}, {"epochs": 27}, id="maximum"),
    ],
)
def test_a_grown_study_keeps_its_rungs_and_ends_as_a_fresh_one(tmp_path, first, grown):
    config = halving_study(**first)
    write_config(tmp_path / "small.yaml", config)
    sweep(tmp_path / "small.yaml", out=tmp_path / "grown", workers=2, plot=False)
    before = {path.name: path for path in (tmp_path / "grown" / "trials").iterdir()}
    lengths = log_lengths(tmp_path / "grown")
    metrics = {name: (path / "metrics.csv").read_text().splitlines() for name, path in before.items()}

    write_config(tmp_path / "big.yaml", halving_study(**grown))
    sweep(tmp_path / "big.yaml", out=tmp_path / "grown", workers=2, plot=False)
    sweep(tmp_path / "big.yaml", out=tmp_path / "fresh", workers=2, plot=False)
    same_decisions_with_more_done(tmp_path / "grown", tmp_path / "fresh")
    for name, path in before.items():
        after = (path / "metrics.csv").read_text().splitlines()
        assert after[: len(metrics[name])] == metrics[name]  # what was done stays
        again = starts(path, lengths[name])
        assert "new" not in again, name  # nothing started over
    if grown:
        extended = [
            name for name, path in before.items() if "budget epochs 9 -> 27" in (path / "train.log").read_text()
        ]
        assert extended, "no trial continued past the old maximum"


def same_decisions_with_more_done(grown, fresh):
    """The grown study took the fresh one's decisions and reads the same summary. A trial may have trained
    further than the fresh study takes it (its point went on in the smaller study): that work is kept, and
    the fresh trial's metrics.csv begins its own."""
    a, b = tables(grown), tables(fresh)
    assert a["rungs"] == b["rungs"] and a["summary"] == b["summary"]
    assert [row["trial"] for row in a["trials"]] == [row["trial"] for row in b["trials"]]
    for mine, theirs in zip(a["trials"], b["trials"]):
        assert mine["status"] == theirs["status"], mine["trial"]
        metrics = f"{mine['trial']}/metrics.csv"
        if mine["rung"] == theirs["rung"]:
            assert mine == theirs
            assert (
                a["files"][metrics] == b["files"][metrics]
                and mine["status"] != "completed"
                or (a["files"][f"{mine['trial']}/model.npz"] == b["files"][f"{mine['trial']}/model.npz"])
            )
        else:
            assert mine["rung"] > theirs["rung"] and mine["status"] == "stopped"
            assert a["files"][metrics].startswith(b["files"][metrics])


def test_a_lowered_maximum_is_refused_and_forced_starts_the_trials_again(tmp_path):
    from nnrun.errors import ConfigError

    write_config(tmp_path / "nine.yaml", halving_study(LRS[:3], seeds=[0]))
    sweep(tmp_path / "nine.yaml", out=tmp_path / "study", workers=2, plot=False)
    write_config(tmp_path / "three.yaml", halving_study(LRS[:3], seeds=[0], epochs=3))
    with pytest.raises(ConfigError) as refused:
        sweep(tmp_path / "three.yaml", out=tmp_path / "study", workers=2, plot=False)
    assert "-  epochs: 9" in refused.value.message() and "--force" in refused.value.hint
    sweep(tmp_path / "three.yaml", out=tmp_path / "study", workers=2, plot=False, force=True)
    sweep(tmp_path / "three.yaml", out=tmp_path / "fresh", workers=2, plot=False)
    assert tables(tmp_path / "study") == tables(tmp_path / "fresh")
    assert len(list((tmp_path / "study" / "attempts").iterdir())) == 3  # the 9-epoch folders, kept aside
