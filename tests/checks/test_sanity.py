"""`nnrun check --sanity`: the loss at initialisation against ln C, and overfitting 20 training examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnrun.checks.sanity import expected_initial_loss, initial_loss, overfit_small
from nnrun.config import config_from_dict
from nnrun.data import load_dataset
from nnrun.model import Sequential
from nnrun.registry import LOSSES
from tests.helpers import small_config, write_config

HUGE_INIT = "model.weight_init={type: normal, std: 10}"


def line(stdout: str, start: str) -> str:
    return next(text for text in stdout.splitlines() if text.startswith(start))


def binary_moons(loss="logistic", units=1):
    return small_config(
        data={"dataset": "moons", "n": 300, "noise": 0.1},
        model={"input_shape": [2], "layers": [{"type": "dense", "units": 8}, {"type": "tanh"},
                                              {"type": "dense", "units": units}]},
        loss=loss,
        optimizer={"type": "adam", "lr": 0.03},
    )  # fmt: skip


# --- the CLI ----------------------------------------------------------------------------------


def test_a_sane_config_passes_both_checks(cli, tmp_path):
    write_config(tmp_path / "c.yaml", small_config())
    result = cli("check", "c.yaml", "--sanity")
    assert result.returncode == 0, result.stdout + result.stderr
    start = line(result.stdout, "sanity: initial loss")
    assert "expected ln(10) = 2.3026 for softmax_cross_entropy" in start and start.endswith("pass")
    fit = line(result.stdout, "sanity: overfit 20 examples")
    assert "100% train accuracy after" in fit and fit.endswith("pass")
    assert "hint" not in result.stdout


def test_a_huge_init_fails_the_initial_loss(cli, tmp_path):
    write_config(tmp_path / "c.yaml", small_config())
    result = cli("check", "c.yaml", "--sanity", "--set", HUGE_INIT)
    assert result.returncode == 1
    start = line(result.stdout, "sanity: initial loss")
    assert start.endswith("fail") and "expected ln(10) = 2.3026" in start
    measured = float(start.split()[3].rstrip(","))
    assert measured > 20 * math.log(10)
    assert "init scale" in result.stdout and "data.normalize" in result.stdout


def test_a_tiny_lr_fails_the_overfit(cli, tmp_path):
    write_config(tmp_path / "c.yaml", small_config())
    result = cli("check", "c.yaml", "--sanity", "--set", "optimizer.lr=1e-9")
    assert result.returncode == 1
    assert line(result.stdout, "sanity: initial loss").endswith("pass")
    fit = line(result.stdout, "sanity: overfit 20 examples")
    assert fit.endswith("fail") and "the loss stopped falling" in fit
    assert "raise optimizer.lr (now 1e-09)" in result.stdout and "nnrun gradcheck" in result.stdout


def test_without_a_known_expectation_the_initial_loss_is_skipped(cli, tmp_path):
    write_config(tmp_path / "c.yaml", small_config(loss="mse"))
    result = cli("check", "c.yaml", "--sanity")
    assert result.returncode == 0, result.stdout + result.stderr
    start = line(result.stdout, "sanity: initial loss")
    assert "for mse: no expected value known" in start and start.endswith("skip")


def test_without_sanity_nothing_is_trained(cli, tmp_path):
    write_config(tmp_path / "c.yaml", small_config())
    result = cli("check", "c.yaml", "--set", "optimizer.lr=1e-9")
    assert result.returncode == 0
    assert "sanity" not in result.stdout


# --- the functions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss, units, expected",
    [("softmax_cross_entropy", 10, math.log(10)), ("softmax_cross_entropy", 2, math.log(2)),
     ("logistic", 1, math.log(2)), ("hinge", 1, 1.0), ("hinge", 10, 9.0), ({"type": "hinge", "margin": 2.0}, 4, 6.0)],
)  # fmt: skip
def test_the_expected_value_is_each_loss_at_zero_logits(loss, units, expected):
    loss = LOSSES.build(loss)
    y = np.array([0, 1, 1, 0, 1])
    value, _ = expected_initial_loss(loss, units)
    assert value == pytest.approx(expected)
    assert loss.value(np.zeros((len(y), units)), y) == pytest.approx(value)


def test_no_expected_value_for_mse():
    assert expected_initial_loss(LOSSES.build("mse"), 10) == (None, "")


def test_the_initial_loss_is_the_softmax_loss_of_the_fresh_model_on_1000_training_examples():
    config = config_from_dict(small_config(dtype="float64"))
    result = initial_loss(config)
    split = load_dataset(config.resolved()["data"], config.seed).splits["train"]
    x, y = split.x[:1000] * split.scale, split.y[:1000]
    model = Sequential.from_config(config.resolved()["model"], dtype="float64", seed=config.seed)
    logits = model.forward(x, train=False)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert result.examples == 1000
    assert result.measured == pytest.approx(-np.mean(log_softmax[np.arange(1000), y]), rel=1e-12)
    assert result.measured == pytest.approx(LOSSES.build("softmax_cross_entropy").value(logits, y), rel=1e-12)
    assert result.expected == pytest.approx(np.log(10)) and result.formula == "ln(10)"
    assert result.passed


def test_the_initial_loss_is_measured_in_evaluation_mode():
    with_dropout = small_config()
    with_dropout["model"]["layers"].insert(2, {"type": "dropout", "rate": 0.9})
    assert (
        initial_loss(config_from_dict(with_dropout)).measured == initial_loss(config_from_dict(small_config())).measured
    )


def test_logistic_expects_ln_2_and_measures_the_binary_cross_entropy():
    config = config_from_dict(binary_moons() | {"dtype": "float64"})
    result = initial_loss(config)
    split = load_dataset(config.resolved()["data"], config.seed).splits["train"]
    model = Sequential.from_config(config.resolved()["model"], dtype="float64", seed=config.seed)
    z = model.forward(split.x[:1000].astype(np.float64), train=False)[:, 0]
    y = split.y[:1000]
    assert result.examples == len(y) < 1000  # the whole train split when it is smaller
    assert result.measured == pytest.approx(np.mean(np.logaddexp(0, z) - y * z), rel=1e-12)
    assert result.expected == pytest.approx(np.log(2)) and result.formula == "ln(2)"
    assert result.passed


def test_a_binary_digits_task_expects_ln_2_too():
    config = config_from_dict(small_config(data={"dataset": "digits", "positive": [0]}, loss="logistic"),
                              overrides=["model.layers.2.units=1"])  # fmt: skip
    assert initial_loss(config).expected == pytest.approx(np.log(2))


def test_a_huge_init_is_far_off_and_hints_at_the_init_scale():
    result = initial_loss(config_from_dict(small_config(), overrides=[HUGE_INIT]))
    assert result.passed is False and result.ratio > 20
    assert "init scale" in result.hint


def test_overfit_reaches_100_percent_and_lowers_the_loss():
    result = overfit_small(config_from_dict(small_config()))
    assert result.passed and result.accuracy == 1.0 and result.stopped == "fitted"
    assert result.examples == 20 and 0 < result.steps < result.max_steps
    assert result.loss < result.initial_loss and result.hint is None


def test_overfit_turns_dropout_and_weight_decay_off():
    """Dropout draws no init weights, so with it off the same seed must give the very same run as without it."""
    plain = small_config()
    plain["model"]["layers"][:2] = [{"type": "dense_stack", "units": [32], "activation": "relu"}]
    regularised = small_config()
    regularised["model"]["layers"][:2] = [{"type": "dense_stack", "units": [32], "activation": "relu", "dropout": 0.9},
                                          {"type": "dropout", "rate": 0.9}]  # fmt: skip
    regularised["optimizer"]["weight_decay"] = 1.0
    a = overfit_small(config_from_dict(plain))
    b = overfit_small(config_from_dict(regularised))
    assert a.passed and (a.steps, a.loss) == (b.steps, b.loss)


def test_a_tiny_lr_stalls_after_one_window_and_hints_at_the_lr():
    config = config_from_dict(small_config(), overrides=["optimizer.lr=1e-9"])
    result = overfit_small(config)
    assert not result.passed and result.stopped == "stalled" and result.steps == 100
    assert result.loss == pytest.approx(result.initial_loss, rel=1e-4)
    assert "raise optimizer.lr" in result.hint
    limited = overfit_small(config, max_steps=30)
    assert limited.steps == 30 and limited.stopped == "max_steps"


def test_a_huge_lr_hints_at_lowering_it():
    result = overfit_small(config_from_dict(small_config(), overrides=["optimizer.lr=100"]))
    assert not result.passed and "lower optimizer.lr" in result.hint
