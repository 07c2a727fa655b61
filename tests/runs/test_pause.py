"""A run paused at points of its budget and resumed equals the run trained straight, byte for byte.

This is what a sweep's halving schedule rests on: each trial is paused at a rung and, if promoted, continued
from its checkpoint. Everything that depends on the budget (a cosine schedule, early stopping, the
shuffling, dropout, augmentation) must come out the same, with pauses at an epoch's end and in the middle.
"""

from __future__ import annotations

import json

import pytest

import nnrun
from nnrun.errors import RunError
from tests.helpers import small_config

RESULT_FILES = ("metrics.csv", "model.npz", "diagnostics.csv")


def cnn_config(**train):
    """A small CNN on the digits images, with dropout, random crops and flips, and a cosine schedule."""
    return small_config(
        data={"dataset": "digits", "augment": {"crop_padding": 1, "flip": True}},
        model={
            "input_shape": [1, 8, 8],
            "layers": [
                {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1},
                "relu",
                {"type": "maxpool2d", "size": 2},
                "flatten",
                {"type": "dropout", "rate": 0.2},
                {"type": "dense", "units": 10},
            ],
        },
        optimizer={"type": "momentum", "lr": 0.05, "schedule": {"type": "cosine"}},
        train={"batch_size": 64, **train},
    )


def paused_and_resumed(tmp_path, config, pauses):
    """Train `config` into tmp_path/paused, pausing at each of `pauses`, then resume to the end."""
    run = nnrun.train(config, out=tmp_path / "paused", until=pauses[0], plot=False)
    seen = [run.status]
    for until in [*pauses[1:], None]:
        run = nnrun.resume(run.path, until=until, plot=False)
        seen.append(run.status)
    return run, seen


def same_files(a, b):
    for name in RESULT_FILES:
        if (a / name).is_file() or (b / name).is_file():
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_pauses_at_epochs_change_nothing(tmp_path):
    config = cnn_config(epochs=5, diagnostics=True)
    straight = nnrun.train(config, out=tmp_path / "straight", plot=False)
    run, seen = paused_and_resumed(tmp_path, config, [1, 3])
    assert seen == ["paused", "paused", "completed"]
    same_files(run.path, straight.path)
    assert len(run.history) == 5 and run.summary["best"] == straight.summary["best"]


def test_pauses_in_the_middle_of_an_epoch_change_nothing(tmp_path):
    # 1437 training digits in batches of 64: 23 steps an epoch, so steps 10, 30 and 50 fall inside epochs
    config = cnn_config(epochs=None, max_steps=60, eval_every=10)
    straight = nnrun.train(config, out=tmp_path / "straight", plot=False)
    run, seen = paused_and_resumed(tmp_path, config, [10, 30, 50])
    assert seen == ["paused", "paused", "paused", "completed"]
    same_files(run.path, straight.path)
    assert [row["step"] for row in run.history] == [10, 20, 30, 40, 50, 60]


def test_a_paused_run_says_where_and_keeps_its_model_there(tmp_path):
    config = cnn_config(epochs=None, max_steps=60, eval_every=10)
    run = nnrun.train(config, out=tmp_path / "run", until=30, plot=False)
    summary = json.loads((run.path / "summary.json").read_text())
    assert (summary["status"], summary["step"], summary["total_steps"]) == ("paused", 30, 60)
    assert [row["step"] for row in run.history] == [10, 20, 30]
    assert (run.path / "checkpoint.npz").is_file() and (run.path / "model.npz").is_file()
    assert not (run.path / "curves.png").exists()  # drawn at the end
    assert "status paused at step 30 (epoch 1)" in (run.path / "train.log").read_text()
    assert run.model().num_params() > 0


def test_early_stopping_across_pauses_stops_where_the_straight_run_stops(tmp_path):
    config = small_config(
        optimizer={"type": "sgd", "lr": 0.3},
        train={
            "epochs": 30,
            "batch_size": 32,
            "early_stopping": {"monitor": "val_acc", "patience": 2, "min_delta": 0.005},
        },
    )
    straight = nnrun.train(config, out=tmp_path / "straight", plot=False)
    assert straight.status == "early_stopped" and len(straight.history) > 4
    run, seen = paused_and_resumed(tmp_path, config, [1, 2, 4])
    assert seen[-1] == "early_stopped"
    same_files(run.path, straight.path)


def test_a_pause_past_the_early_stop_ends_the_run_there(tmp_path):
    config = small_config(
        optimizer={"type": "sgd", "lr": 0.3},
        train={"epochs": 30, "batch_size": 32, "early_stopping": {"monitor": "val_acc", "patience": 1}},
    )
    straight = nnrun.train(config, out=tmp_path / "straight", plot=False)
    stopped_at = straight.history[-1]["epoch"]
    assert stopped_at < 25
    run = nnrun.train(config, out=tmp_path / "paused", until=25, plot=False)
    assert run.status == "early_stopped"
    same_files(run.path, straight.path)


def test_a_pause_between_evaluations_is_refused_before_anything_is_written(tmp_path):
    config = cnn_config(epochs=None, max_steps=60, eval_every=10)
    with pytest.raises(RunError) as refused:
        nnrun.train(config, out=tmp_path / "run", until=15, plot=False)
    assert "evaluates every 10 steps" in refused.value.what and "eval_every" in refused.value.hint
    assert not (tmp_path / "run").exists()


def test_a_pause_at_or_past_the_budget_runs_to_the_end(tmp_path):
    run = nnrun.train(small_config(), out=tmp_path / "run", until=3, plot=False)
    assert run.status == "completed"


def test_nnrun_train_resume_finishes_a_paused_run(tmp_path):
    config = small_config()
    straight = nnrun.train(config, out=tmp_path / "straight", plot=False)
    nnrun.train(config, out=tmp_path / "paused", until=1, plot=False)
    run = nnrun.resume(tmp_path / "paused", plot=False)
    assert run.status == "completed"
    same_files(run.path, straight.path)


@pytest.mark.parametrize(
    "train, before, after",
    [
        ({"epochs": 2}, 2, 5),
        ({"epochs": None, "max_steps": 30, "eval_every": 10}, 30, 60),  # ends mid-epoch: 23 steps an epoch
    ],
)
def test_a_completed_run_continued_to_a_longer_budget_equals_a_straight_run(tmp_path, train, before, after):
    config = cnn_config(**train)
    config["optimizer"]["schedule"] = {"type": "step", "every": 1, "gamma": 0.8}
    key = "epochs" if train.get("epochs") else "max_steps"
    longer = {**config, "train": {**config["train"], key: after}}
    straight = nnrun.train(longer, out=tmp_path / "straight", plot=False)
    short = nnrun.train(config, out=tmp_path / "run", plot=False)
    assert short.status == "completed"
    run = nnrun.resume(short.path, budget=after, plot=False)
    assert run.status == "completed" and run.config["train"][key] == after
    same_files(run.path, straight.path)
    assert f"budget {key} {before} -> {after}" in (run.path / "train.log").read_text()


def test_a_paused_run_continued_to_a_longer_budget_equals_a_straight_run(tmp_path):
    config = small_config(train={"epochs": 3, "batch_size": 32})
    straight = nnrun.train(small_config(train={"epochs": 5, "batch_size": 32}), out=tmp_path / "straight", plot=False)
    nnrun.train(config, out=tmp_path / "run", until=1, plot=False)
    run = nnrun.resume(tmp_path / "run", budget=5, until=4, plot=False)
    assert run.status == "paused"
    run = nnrun.resume(tmp_path / "run", plot=False)
    same_files(run.path, straight.path)


def test_an_early_stopped_run_given_a_longer_budget_is_already_that_run(tmp_path):
    train = {"batch_size": 32, "early_stopping": {"monitor": "val_acc", "patience": 1}}
    config = small_config(optimizer={"type": "sgd", "lr": 0.3}, train={"epochs": 20, **train})
    straight = nnrun.train({**config, "train": {"epochs": 40, **train}}, out=tmp_path / "straight", plot=False)
    run = nnrun.train(config, out=tmp_path / "run", plot=False)
    assert run.status == "early_stopped"
    run = nnrun.resume(run.path, budget=40, plot=False)
    same_files(run.path, straight.path)
    assert run.config == straight.config
    assert run.summary["total_steps"] == straight.summary["total_steps"]


@pytest.mark.parametrize(
    "train, schedule, why",
    [
        ({"epochs": 2}, {"type": "cosine"}, "computed over the whole budget"),
        ({"epochs": None, "max_steps": 35, "eval_every": 10}, "constant", "its last evaluation, at step 35"),
    ],
)
def test_a_continuation_that_could_not_equal_a_straight_run_is_refused(tmp_path, train, schedule, why):
    config = small_config(optimizer={"type": "adam", "lr": 0.003, "schedule": schedule}, train=train)
    run = nnrun.train(config, out=tmp_path / "run", plot=False)
    metrics = (run.path / "metrics.csv").read_bytes()
    key = "epochs" if train.get("epochs") else "max_steps"
    with pytest.raises(RunError) as refused:
        nnrun.resume(run.path, budget=train[key] * 2, plot=False)
    assert why in refused.value.what
    assert (run.path / "metrics.csv").read_bytes() == metrics and run.config == nnrun.load_run(run.path).config
