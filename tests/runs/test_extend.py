"""`nnrun train --resume RUN --set train.epochs=N`: a finished run continued to a longer budget.

Where nothing depends on the budget the result equals a run trained to N from the start, byte for byte;
where something does, or anything but the budget would change, it is refused with the reason and nothing in
the folder changes.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import small_config, write_config

RESULT_FILES = ("metrics.csv", "model.npz")


def folder_bytes(path):
    return {file.name: file.read_bytes() for file in sorted(path.iterdir()) if file.is_file()}


def trained(cli, tmp_path, out, **train):
    config = small_config(optimizer={"type": "adam", "lr": 0.003}, train={"batch_size": 64, **train})
    write_config(tmp_path / f"{out}.yaml", config)
    result = cli("train", f"{out}.yaml", "--out", out, "--quiet", "--no-plot")
    assert result.returncode == 0, result.stderr
    return tmp_path / out


@pytest.mark.parametrize("key, before, after", [("epochs", 2, 4), ("max_steps", 40, 70)])
def test_a_finished_run_extended_from_the_cli_equals_a_run_trained_to_that_budget(cli, tmp_path, key, before, after):
    budget = {"epochs": None, "eval_every": 10} if key == "max_steps" else {}
    straight = trained(cli, tmp_path, "straight", **budget, **{key: after})
    run = trained(cli, tmp_path, "run", **budget, **{key: before})
    short = json.loads((run / "summary.json").read_text())
    result = cli("train", "--resume", "run", "--set", f"train.{key}={after}", "--quiet", "--no-plot")
    assert result.returncode == 0, result.stderr
    for name in RESULT_FILES:
        assert (run / name).read_bytes() == (straight / name).read_bytes(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["step"] == json.loads((straight / "summary.json").read_text())["step"]
    assert summary["extended"] == [{"key": f"train.{key}", "from": before, "to": after, "step": short["step"]}]
    assert summary["started_at"] == short["started_at"]
    assert f"extended: budget {key} {before} -> {after}, from step {short['step']}" in (run / "train.log").read_text()


def test_an_extended_run_extended_again_keeps_both_records(cli, tmp_path):
    run = trained(cli, tmp_path, "run", epochs=1)
    first = json.loads((run / "summary.json").read_text())
    for epochs in (2, 3):
        result = cli("train", "--resume", "run", "--set", f"train.epochs={epochs}", "--quiet", "--no-plot")
        assert result.returncode == 0, result.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert [(e["from"], e["to"]) for e in summary["extended"]] == [(1, 2), (2, 3)]
    assert summary["started_at"] == first["started_at"]  # a resumed run keeps the time it first started
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 3


@pytest.mark.parametrize(
    "args, message, hint",
    [
        (["--set", "optimizer.lr=0.1"], "only its budget, train.epochs or train.max_steps, can change",
         "start a new run"),
        (["--set", "train.max_steps=100"], "trains by epochs, so its budget is train.epochs", "--set train.epochs=N"),
        (["--set", "train.epochs=0"], "train.epochs must be a whole number of at least 1", None),
        (["--set", "train.epochs=2.5"], "train.epochs must be a whole number of at least 1", None),
        (["--set", "train.epochs=2"], "has already finished at train.epochs=2", "--set train.epochs=4"),
        ([], "has already finished (completed)", "--set train.epochs=N (N > 2)"),
        (["--out", "elsewhere", "--set", "train.epochs=4"], "continues a run in its own folder", "drop CONFIG"),
    ],
)  # fmt: skip
def test_an_extension_that_changes_more_than_the_budget_is_refused(cli, tmp_path, args, message, hint):
    run = trained(cli, tmp_path, "run", epochs=2)
    before = folder_bytes(run)
    result = cli("train", "--resume", "run", *args, "--quiet", "--no-plot")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    if hint:
        assert hint in result.stderr
    assert folder_bytes(run) == before
    assert not (tmp_path / "elsewhere").exists()


def test_an_early_stopped_run_is_not_extended_and_says_why(cli, tmp_path):
    stopping = {"monitor": "val_acc", "patience": 1}
    config = small_config(optimizer={"type": "sgd", "lr": 0.3}, train={"epochs": 20, "batch_size": 32,
                                                                       "early_stopping": stopping})  # fmt: skip
    write_config(tmp_path / "c.yaml", config)
    assert cli("train", "c.yaml", "--out", "run", "--quiet", "--no-plot").returncode == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "early_stopped"
    before = folder_bytes(tmp_path / "run")
    result = cli("train", "--resume", "run", "--set", "train.epochs=40", "--quiet", "--no-plot")
    assert result.returncode == 2
    assert "stopped early: val_acc had not improved for 1 evaluations" in result.stderr
    assert "larger train.early_stopping.patience" in result.stderr
    assert folder_bytes(tmp_path / "run") == before


def test_a_schedule_over_the_budget_is_refused_with_the_reason(cli, tmp_path):
    config = small_config(optimizer={"type": "adam", "lr": 0.003, "schedule": {"type": "cosine"}},
                          train={"epochs": 2, "batch_size": 64})  # fmt: skip
    write_config(tmp_path / "c.yaml", config)
    assert cli("train", "c.yaml", "--out", "run", "--quiet", "--no-plot").returncode == 0
    before = folder_bytes(tmp_path / "run")
    result = cli("train", "--resume", "run", "--set", "train.epochs=4", "--quiet", "--no-plot")
    assert result.returncode == 2
    assert "its learning-rate schedule (cosine) is computed over the whole budget" in result.stderr
    assert folder_bytes(tmp_path / "run") == before


def test_a_run_that_kept_no_checkpoint_says_so(cli, tmp_path):
    run = trained(cli, tmp_path, "run", epochs=1, checkpoint=False)
    result = cli("train", "--resume", "run", "--set", "train.epochs=2", "--quiet", "--no-plot")
    assert result.returncode == 2
    assert "no checkpoint.npz" in result.stderr and "train.checkpoint: false" in result.stderr
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
