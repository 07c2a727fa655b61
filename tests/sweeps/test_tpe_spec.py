"""method: tpe without training: its spec checks, the codes between points and Optuna, and what is told.

Each bad spec is refused at its config line before anything runs; the Optuna study rebuilt from the results
holds them in order, with their states, and its suggestions depend on nothing else.
"""

from __future__ import annotations

import sys
import warnings

import pytest

from nnrun.config import SweepConfig, config_from_dict
from nnrun.errors import ConfigError
from nnrun.sweeps import rounds
from nnrun.sweeps.plan import plan_sweep
from nnrun.sweeps.tpe import Space, Told, rebuild, round_seed, suggest, told_result
from tests.sweeps.studies import tiny_study, write_config

LR = {"distribution": "log_uniform", "low": 1.0e-4, "high": 1.0}


def tpe_study(parameters=None, **sweep) -> dict:
    config = tiny_study(parameters or {"optimizer.lr": LR}, seeds=[0])
    config["sweep"].update({"method": "tpe", "n_trials": 6, "batch": 3, **sweep})
    return config


def refusal(tmp_path, config) -> str:
    path = write_config(tmp_path / "c.yaml", config)
    with pytest.raises(ConfigError) as caught:
        plan_sweep(path)
    return caught.value.message()


def line_of(tmp_path, text: str) -> int:
    return next(n for n, line in enumerate((tmp_path / "c.yaml").read_text().splitlines(), 1) if text in line)


def test_batch_below_one_is_refused_at_its_line(tmp_path):
    message = refusal(tmp_path, tpe_study(batch=0))
    assert f"c.yaml:{line_of(tmp_path, 'batch:')}" in message and "greater than 0" in message


def test_n_trials_below_batch_is_refused_at_its_line(tmp_path):
    message = refusal(tmp_path, tpe_study(n_trials=2, batch=4))
    assert f"c.yaml:{line_of(tmp_path, 'n_trials:')}" in message
    assert "n_trials (2) is below batch (4)" in message


def test_tpe_needs_n_trials_and_batch_belongs_to_tpe(tmp_path):
    config = tpe_study()
    del config["sweep"]["n_trials"]
    assert "method: tpe needs n_trials" in refusal(tmp_path, config)
    grid = tiny_study()
    grid["sweep"]["batch"] = 4
    message = refusal(tmp_path, grid)
    assert f"c.yaml:{line_of(tmp_path, 'batch:')}" in message and "batch applies to method: tpe" in message


def test_a_choice_listed_twice_is_refused_at_its_parameter(tmp_path):
    config = tpe_study({"optimizer.lr": LR, "model.hidden.units": {"distribution": "choice", "values": [8, 16, 8]}})
    message = refusal(tmp_path, config)
    assert f"c.yaml:{line_of(tmp_path, 'model.hidden.units')}" in message and "the value 8 is listed twice" in message


def test_a_distribution_optuna_cannot_take_is_refused_at_its_parameter(tmp_path, monkeypatch):
    # every range the config's own checks let through, Optuna takes; its refusals still come out located
    import optuna

    def refuse(*args, **kwargs):
        raise ValueError("the step must be positive")

    monkeypatch.setattr(optuna.distributions, "IntDistribution", refuse)
    config = tpe_study({"optimizer.lr": LR, "model.hidden.units": {"distribution": "int", "low": 4, "high": 32}})
    message = refusal(tmp_path, config)
    assert f"c.yaml:{line_of(tmp_path, 'model.hidden.units')}" in message
    assert "Optuna cannot take this distribution: the step must be positive" in message


def test_without_optuna_tpe_is_refused_naming_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now fails, as when it is not installed
    message = refusal(tmp_path, tpe_study())
    assert f"c.yaml:{line_of(tmp_path, 'method: tpe')}" in message
    assert "pip install 'nnrun[tpe]'" in message
    assert plan_sweep(write_config(tmp_path / "grid.yaml", tiny_study())).trials  # grid needs no Optuna


def test_a_point_of_the_ranges_that_is_not_a_valid_config_is_refused_before_anything_runs(tmp_path):
    config = tpe_study({"optimizer.lr": LR, "train.batch_size": {"distribution": "int", "low": 0, "high": 64}})
    message = refusal(tmp_path, config)
    assert "points made of every choice and range end are not valid configs" in message
    assert "train.batch_size=0" in message


def space_of(parameters) -> Space:
    return Space(SweepConfig(method="tpe", n_trials=4, parameters=parameters))


def test_points_go_to_optuna_and_back_unchanged():
    parameters = {
        "optimizer.lr": LR,
        "optimizer.momentum": {"distribution": "uniform", "low": 0.0, "high": 0.99},
        "model.hidden.units": {"distribution": "int", "low": 4, "high": 64},
        "model.layers": {"distribution": "choice", "values": [[{"type": "relu"}], [{"type": "tanh", "name": "t"}]]},
        "train.shuffle": [True, 1, 1.0, "1", None],  # equal in Python, distinct as configs
        "optimizer.lr, train.batch_size": [[0.01, 32], [0.003, 64]],
    }
    space = space_of(parameters)
    for index in range(5):
        point = {
            "optimizer.lr": 0.000316228,
            "optimizer.momentum": 0.9,
            "model.hidden.units": 17,
            "model.layers": parameters["model.layers"]["values"][index % 2],
            "train.shuffle": parameters["train.shuffle"][index],
            "optimizer.lr, train.batch_size": [[0.01, 32], [0.003, 64]][index % 2],
        }
        again = space.decode(space.encode(point))
        assert again == point and [type(v) for v in again.values()] == [type(v) for v in point.values()]
    raw = space.decode({**space.encode(point), "optimizer.lr": 0.99999999999, "optimizer.momentum": 0.123456789})
    assert raw["optimizer.lr"] == 1.0 and raw["optimizer.momentum"] == 0.123457  # six digits, within the range


def test_the_rebuilt_study_holds_what_was_told_in_order_without_warnings():
    space = space_of({"optimizer.lr": LR, "model.hidden.units": [[8], [8, 8]]})
    spec = SweepConfig(method="tpe", n_trials=4, parameters={"optimizer.lr": LR})
    told = [
        Told({"optimizer.lr": 0.01, "model.hidden.units": [8]}, "complete", 0.9),
        Told({"optimizer.lr": 0.5, "model.hidden.units": [8, 8]}, "pruned", 0.2, 3),
        Told({"optimizer.lr": 0.0001, "model.hidden.units": [8]}, "failed"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna's storage must hold these without a warning
        study = rebuild(space, spec, "max", told, 1)
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "FAIL"]
    assert trials[0].value == 0.9 and trials[1].intermediate_values == {3: 0.2}
    assert [space.decode(t.params) for t in trials] == [result.point for result in told]
    assert study.direction.name == "MAXIMIZE"


def test_suggestions_are_a_pure_function_of_the_spec_the_told_results_and_the_round():
    space = space_of({"optimizer.lr": LR})
    spec = SweepConfig(method="tpe", n_trials=40, parameters={"optimizer.lr": LR})
    told = [Told({"optimizer.lr": 10.0**-k}, "complete", 1.0 - abs(k - 2) / 4) for k in (0, 1, 2, 3, 4)] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # past the startup trials, TPE's own model: no warning either
        first = suggest(space, spec, "max", told, 5, 4)
    assert suggest(space, spec, "max", told, 5, 4) == first
    assert suggest(space, spec, "max", told, 6, 4) != first  # the round reseeds the sampler
    assert round_seed(0, 5) != round_seed(1, 5) and round_seed(0, 5) == round_seed(0, 5)
    assert len({point["optimizer.lr"] for point in first}) == 4  # a batch's points differ from each other


def test_told_results_follow_the_summary():
    point = {"optimizer.lr": 0.01}
    assert told_result(point, {"val_acc_mean": 0.9}, "val_acc", False) == Told(point, "complete", 0.9)
    stopped = {"val_acc_mean": 0.4, "stopped": 1, "rung": 3}
    assert told_result(point, stopped, "val_acc", True) == Told(point, "pruned", 0.4, 3)
    assert told_result(point, {"val_acc_mean": 0.9, "stopped": 0, "rung": 9}, "val_acc", True).state == "complete"
    assert told_result(point, {"val_acc_mean": None}, "val_acc", False).state == "failed"
    assert told_result(point, {"val_loss_mean": float("nan")}, "val_loss", False).state == "failed"


def test_the_dry_run_plan_says_points_come_as_it_goes():
    config = tpe_study(n_trials=10, batch=4, schedule={"type": "halving", "min": 1, "eta": 3})
    config["train"]["epochs"] = 9
    plan = plan_sweep(config)
    lines = rounds.plan_lines(plan)
    assert "points chosen as the study goes" in lines[0]
    assert "3 rounds of 4 points" in lines[0] and "10 points × 1 seeds = 10 trials of 9 epochs" in lines[0]
    assert lines[-1].strip() == "4 at 1 epochs, 1 at 3 epochs, 1 at 9 epochs"
    assert plan.trials == [] and rounds.expected_jobs(plan) == 6 + 6 + 4  # the last round has 2 points


def test_the_batch_defaults_to_four_or_n_trials():
    config = tpe_study()
    del config["sweep"]["batch"]
    assert config_from_dict(config).sweep.batch == 4
    config["sweep"]["n_trials"] = 2
    assert config_from_dict(config).sweep.batch == 2
