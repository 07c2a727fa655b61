"""The sweep: section: its keys checked with the rest of the config, and the points a grid or a random
search makes from it."""

from __future__ import annotations

import math

import pytest

from nnrun.config import SweepConfig, parse_yaml, validate
from nnrun.errors import ConfigError
from nnrun.sweeps.space import grid, point_overrides, points

BASE = """\
name: spec
data: digits
model:
  input_shape: [64]
  layers:
    - {type: dense_stack, units: [16], name: hidden}
    - {type: dense, units: 10, name: out}
"""


def check(sweep_text: str):
    raw, lines = parse_yaml(BASE + sweep_text, "study.yaml")
    return validate(raw, "study.yaml", lines)


def problems(sweep_text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        check(sweep_text)
    return caught.value.message()


def test_a_valid_section_keeps_its_parameters_and_is_left_out_of_the_run_config():
    config = check("sweep:\n  parameters:\n    model.hidden.units: [[8], [8, 8]]\n  seeds: [0, 1]\n")
    assert config.sweep.parameters == {"model.hidden.units": [[8], [8, 8]]}
    assert config.sweep.seeds == [0, 1]
    assert config.sweep.metric.name == "val_acc" and config.sweep.metric.at == "best"
    assert "sweep" not in config.resolved()


@pytest.mark.parametrize(
    ("sweep_text", "line", "expected"),
    [
        ("    optimizer.lr: 0.1\n", 10, "give a list of values, e.g. [0.1, ...]"),
        ("    optimizer.lr: []\n", 10, "an empty list of values"),
        ("    seed: [1, 2]\n", 10, "list the seeds in sweep.seeds"),
        (
            "    optimizer.lr: {distribution: log_uniform, low: 1.0e-4, high: 0.1}\n",
            10,
            "a grid cannot take every value",
        ),
        ("    optimizer.lr: {distribution: normal, low: 0, high: 1}\n", 10, "distribution: one of choice, uniform"),
        ("    optimizer.lr: {distribution: uniform, low: 0.5, high: 0.1}\n", 10, "low must be below high"),
        ("    optimizer.lr: {distribution: uniform, low: 0.1}\n", 10, "(missing high)"),
        ("    model.hidden.units: {distribution: int, low: 1, high: 5000}\n", 10, "into 5000 values"),
        ("    loss, model.out.units: [[logistic, 1], [hinge]]\n", 10, "must be a list of 2 values"),
    ],
)
def test_each_bad_parameter_is_named_at_its_line(sweep_text, line, expected):
    message = problems("sweep:\n  parameters:\n" + sweep_text)
    assert f"study.yaml:{line}: sweep.parameters." in message
    assert expected in message


def test_the_section_keys_are_checked_with_did_you_mean():
    message = problems("sweep:\n  parameters: {}\n  seedz: [0]\n  metric: {name: val_ac}\n")
    assert "study.yaml:10: sweep.seedz: unknown key 'seedz' (did you mean 'seeds'?)" in message
    assert "study.yaml:11: sweep.metric.name" in message and "'val_acc'" in message


@pytest.mark.parametrize(
    ("sweep_text", "expected"),
    [
        ("sweep: {method: random, parameters: {optimizer.lr: [0.1]}}\n", "method: random needs n_trials"),
        ("sweep: {n_trials: 3, parameters: {optimizer.lr: [0.1]}}\n", "n_trials applies to method: random"),
        ("sweep: {seeds: [1, 1]}\n", "seeds must differ"),
        ("sweep: {seeds: [-1]}\n", "seeds must be >= 0"),
    ],
)
def test_method_and_seed_rules(sweep_text, expected):
    assert expected in problems(sweep_text)


def test_a_grid_varies_the_last_parameter_fastest_and_expands_int_ranges():
    found = grid({"a": [1, 2], "b": {"distribution": "int", "low": 3, "high": 5}})
    assert found == [{"a": a, "b": b} for a in (1, 2) for b in (3, 4, 5)]
    assert grid({}) == [{}]


def random_spec(**keys) -> SweepConfig:
    return SweepConfig(method="random", n_trials=keys.pop("n_trials", 50), **keys)


def test_random_search_is_seeded_and_keeps_within_its_ranges():
    parameters = {
        "optimizer.lr": {"distribution": "log_uniform", "low": 1e-4, "high": 1e-1},
        "optimizer.beta1": {"distribution": "uniform", "low": 0.8, "high": 0.99},
        "model.hidden.units": {"distribution": "int", "low": 10, "high": 12},
        "optimizer.type": ["adam", "sgd"],
    }
    first, _ = points(random_spec(parameters=parameters, sampler_seed=7))
    again, _ = points(random_spec(parameters=parameters, sampler_seed=7))
    other, _ = points(random_spec(parameters=parameters, sampler_seed=8))
    assert first == again and first != other
    assert len(first) == 50
    lrs = [p["optimizer.lr"] for p in first]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    # log-uniform: about as many draws below the geometric middle (1e-2.5) as above it
    assert 15 <= sum(lr < 10**-2.5 for lr in lrs) <= 35
    assert all(0.8 <= p["optimizer.beta1"] <= 0.99 for p in first)
    assert {p["model.hidden.units"] for p in first} == {10, 11, 12}
    assert {p["optimizer.type"] for p in first} == {"adam", "sgd"}
    assert all(float(f"{lr:.6g}") == lr for lr in lrs)  # six significant digits, as a user types them


def test_random_draws_that_repeat_a_point_are_dropped_and_counted():
    found, dropped = points(random_spec(parameters={"optimizer.type": ["adam", "sgd"]}, n_trials=10))
    assert sorted(p["optimizer.type"] for p in found) == ["adam", "sgd"]
    assert dropped == 8


def test_linked_paths_set_their_values_together():
    keyed = point_overrides({"loss, model.out.units": ["logistic", 1], "optimizer.lr": 0.1})
    assert [(key, o.path, o.value) for key, o in keyed] == [
        ("loss, model.out.units", "loss", "logistic"),
        ("loss, model.out.units", "model.out.units", 1),
        ("optimizer.lr", "optimizer.lr", 0.1),
    ]
    assert math.isclose(keyed[2][1].value, 0.1)
