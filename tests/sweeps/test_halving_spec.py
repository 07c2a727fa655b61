"""sweep.schedule: the rung ladder and brackets, and every bad spec refused at its line before anything runs."""

from __future__ import annotations

import pytest

from nnrun.config import parse_yaml
from nnrun.errors import ConfigError
from nnrun.sweeps.halving import Bracket, assign, bracket_ladders, bracket_weights, ladder, promote
from nnrun.sweeps.plan import plan_sweep

STUDY = """\
name: spec
data: {{dataset: digits{data}}}
model:
  input_shape: [64]
  layers:
    - {{type: dense_stack, units: [16], name: hidden}}
    - {{type: dense, units: 10, name: out}}
train: {train}
sweep:
  parameters:
    optimizer.lr: [0.01, 0.001]
  metric: {{name: {metric}}}
  schedule: {schedule}
"""
SCHEDULE_LINE = 13


def plan(tmp_path, schedule="{type: halving, min: 1, eta: 3}", train="{epochs: 9}", data="", metric="val_acc"):
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(schedule=schedule, train=train, data=data, metric=metric))
    return plan_sweep(path)


def refused(tmp_path, **parts) -> str:
    with pytest.raises(ConfigError) as caught:
        plan(tmp_path, **parts)
    return caught.value.message()


def test_the_ladder_grows_by_eta_and_ends_at_the_maximum():
    assert ladder(1, 3, 9) == [1, 3, 9]
    assert ladder(1, 3, 10) == [1, 3, 9, 10]
    assert ladder(100, 3, 1500) == [100, 300, 900, 1500]
    assert ladder(2, 2, 16) == [2, 4, 8, 16]
    assert bracket_ladders({"type": "halving", "min": 1, "eta": 3}, 9) == [(1, 3, 9)]
    hyperband = {"type": "hyperband", "min": 1, "eta": 3, "brackets": None}
    assert bracket_ladders(hyperband, 9) == [(1, 3, 9), (3, 9), (9,)]
    assert bracket_ladders({**hyperband, "brackets": 2}, 27) == [(1, 3, 9, 27), (3, 9, 27)]
    # Hyperband's n_s = ceil((s_max + 1) / (s + 1) * eta^s)
    assert bracket_weights([(1, 3, 9), (3, 9), (9,)], 3) == [9, 5, 3]


def test_a_bracket_plans_its_rungs_and_resource():
    bracket = Bracket(0, (1, 3, 9), tuple(range(1, 82)))
    assert bracket.planned(3) == [81, 27, 9]
    assert bracket.planned_resource(3) == 54 * 1 + 18 * 3 + 9 * 9
    assert Bracket(0, (1, 3, 9), (1, 2)).planned(3) == [2, 1, 1]
    assert Bracket(1, (3, 9), ()).planned(3) == [0, 0]


def test_promotion_keeps_the_top_third_with_ties_to_the_lower_point_and_never_a_failed_one():
    values = {1: 0.5, 2: 0.9, 3: 0.9, 4: 0.1, 5: None, 6: 0.7}
    assert promote(values, 3, "max") == [2, 3]
    assert promote({1: 0.5, 2: 0.9, 3: 0.9}, 3, "max") == [2]  # the tie goes to the lower point number
    assert promote({1: 0.2, 2: 0.1, 3: 0.3}, 3, "min") == [2]
    assert promote({1: 0.2, 2: 0.1}, 3, "max") == [1]  # at least one goes on
    assert promote({1: None, 2: None}, 3, "max") == []


def test_hyperband_brackets_hold_each_point_once_and_keep_it_when_the_study_grows():
    schedule = {"type": "hyperband", "min": 1, "eta": 3, "brackets": None}
    keys = {number: f"{number:012x}" for number in range(1, 301)}
    brackets = assign(keys, schedule, 9)
    assert sorted(p for bracket in brackets for p in bracket.points) == list(range(1, 301))
    sizes = [len(bracket.points) for bracket in brackets]
    assert sizes[0] > sizes[1] > sizes[2] > 0  # about 9 : 5 : 3
    grown = assign({**keys, **{n: f"{n:012x}" for n in range(301, 400)}}, schedule, 9)
    where = {p: b.index for b in brackets for p in b.points}
    assert all(where[p] == b.index for b in grown for p in b.points if p in where)


@pytest.mark.parametrize(
    "parts, where, expected",
    [
        ({"schedule": "{type: halving, eta: 1}"}, "sweep.schedule.eta", "greater than or equal to 2"),
        ({"schedule": "{type: halving, min: 0}"}, "sweep.schedule.min", "greater than 0"),
        ({"schedule": "{type: halving, min: 9}"}, "sweep.schedule.min", "is not below the maximum, train.epochs = 9"),
        ({"schedule": "halvng"}, "sweep.schedule", "should be 'halving' or 'hyperband' (did you mean 'halving'?)"),
        ({"schedule": "{type: hyperbnd}"}, "sweep.schedule.type", "(did you mean 'hyperband'?)"),
        ({"schedule": "{type: halving, brackets: 2}"}, "sweep.schedule", "brackets applies to type: hyperband"),
        ({"schedule": "{type: halving, step: 2}"}, "sweep.schedule.step", "unknown key 'step'"),
    ],
)
def test_a_bad_schedule_is_named_at_its_line(tmp_path, parts, where, expected):
    message = refused(tmp_path, **parts)
    assert f"study.yaml:{SCHEDULE_LINE}: {where}" in message
    assert expected in message


def test_the_budget_cannot_be_a_parameter(tmp_path):
    path = tmp_path / "study.yaml"
    text = STUDY.format(schedule="halving", train="{epochs: 9}", data="", metric="val_acc")
    path.write_text(text.replace("optimizer.lr: [0.01, 0.001]", "train.epochs: [3, 9]"))
    with pytest.raises(ConfigError) as caught:
        plan_sweep(path)
    assert "study.yaml:11: sweep.parameters.train.epochs: a schedule trains every point" in caught.value.message()


def test_a_rung_between_evaluations_is_refused_with_the_numbers(tmp_path):
    message = refused(
        tmp_path, schedule="{type: halving, min: 50, eta: 3}", train="{epochs: null, max_steps: 450, eval_every: 100}"
    )
    assert message.endswith(
        f"study.yaml:{SCHEDULE_LINE}: sweep.schedule: the rung at step 50 falls between evaluations, which come "
        "every 100 steps\n  choose sweep.schedule.min and eta so that every rung is an evaluation, or set "
        "train.eval_every to divide them"
    )
    # evaluated once an epoch: the 1168 training digits (val and test held out) in batches of 50 make 24 steps
    message = refused(tmp_path, schedule="{type: halving, min: 10, eta: 3}", train="{epochs: null, max_steps: 270}")
    assert "the rung at step 10 falls between evaluations, which come every 24 steps (once an epoch: 1168 " in message
    message = refused(tmp_path, schedule="{type: halving, min: 1, eta: 3}", train="{epochs: 9, eval_every: 10}")
    assert "the rung at epoch 1 (step 24) falls between evaluations, which come every 10 steps" in message


def test_a_rung_between_one_points_evaluations_names_the_point(tmp_path):
    path = tmp_path / "study.yaml"
    text = STUDY.format(schedule="{type: halving, min: 24, eta: 3}", train="{epochs: null, max_steps: 216}", data="",
                        metric="val_acc")  # fmt: skip
    path.write_text(text.replace("optimizer.lr: [0.01, 0.001]", "train.batch_size: [50, 64]"))
    with pytest.raises(ConfigError) as caught:
        plan_sweep(path)
    message = caught.value.message()
    assert "1 of the sweep's 2 parameter points are not valid configs" in message
    assert f"study.yaml:{SCHEDULE_LINE}: point 2 (train.batch_size=64): sweep.schedule: the rung at step 24" in message


def test_rungs_on_evaluations_plan(tmp_path):
    study = plan(
        tmp_path, schedule="{type: halving, min: 100, eta: 3}", train="{epochs: null, max_steps: 1500, eval_every: 100}"
    )
    assert [bracket.rungs for bracket in study.brackets] == [(100, 300, 900, 1500)]
    assert study.resource == ("steps", 1500)


def test_a_metric_the_data_never_gives_is_refused(tmp_path):
    message = refused(tmp_path, data=", val: 0")
    assert "sweep.schedule: the schedule ranks by val_acc, but the data has no val split, so it is never" in message
    assert f"study.yaml:{SCHEDULE_LINE}" in message


def test_a_train_metric_by_epochs_plans_without_the_data(tmp_path):
    study = plan(tmp_path, metric="train_loss", data=", val: 0")
    assert study.brackets[0].rungs == (1, 3, 9) and study.budget_free


def test_early_stopping_with_halving_plans(tmp_path):
    # exact: early stopping's state is in the checkpoint, and nothing of it depends on the budget
    study = plan(tmp_path, train="{epochs: 9, early_stopping: {monitor: val_loss, patience: 2}}")
    assert study.budget_free and study.brackets[0].rungs == (1, 3, 9)


def test_a_schedule_over_the_whole_budget_keeps_the_budget_in_the_trial_ids(tmp_path):
    constant = plan(tmp_path)
    path = tmp_path / "study.yaml"
    path.write_text(path.read_text().replace("name: spec", "name: spec\noptimizer: {type: adam, schedule: cosine}"))
    cosine = plan_sweep(path)
    assert constant.budget_free and not cosine.budget_free


def test_the_shorthand_and_the_defaults(tmp_path):
    study = plan(tmp_path, schedule="halving")
    assert study.spec.schedule.model_dump() == {"type": "halving", "min": 1, "eta": 3, "brackets": None}
    raw, _ = parse_yaml(STUDY.format(schedule="hyperband", train="{epochs: 9}", data="", metric="val_acc"), "s.yaml")
    assert raw["sweep"]["schedule"] == "hyperband"


def test_data_not_on_this_machine_still_plans(tmp_path):
    # its trials will fail for the missing files and say so; the plan and a dry run need not
    path = tmp_path / "study.yaml"
    text = STUDY.format(schedule="halving", train="{epochs: 9}", data="", metric="val_acc")
    path.write_text(text.replace("dataset: digits", f"dataset: mnist, path: {tmp_path / 'absent'}"))
    study = plan_sweep(path)
    assert study.brackets[0].rungs == (1, 3, 9) and len(study.trials) == 2
