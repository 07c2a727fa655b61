"""Learning-rate schedules: values at chosen epochs and steps, and their config validation."""

import math

import pytest

from nnrun import schedules
from nnrun.errors import ConfigError
from nnrun.registry import SCHEDULES

STEPS_PER_EPOCH = 10
TOTAL = 100


def at(schedule, epoch, step=None, base=0.1):
    step = epoch * STEPS_PER_EPOCH if step is None else step
    return schedule.lr(base, epoch, step, STEPS_PER_EPOCH, TOTAL)


def test_every_schedule_is_covered():
    assert SCHEDULES.names() == ["constant", "cosine", "exponential", "step"]


def test_constant():
    constant = schedules.get("constant")
    assert [at(constant, e) for e in (0, 3, 9)] == [0.1, 0.1, 0.1]


def test_step():
    step = schedules.get({"type": "step", "every": 3, "gamma": 0.5})
    assert [at(step, e) for e in range(8)] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025])
    assert at(step, 2, step=29) == 0.1  # the drop waits for the epoch, not the step
    assert schedules.get({"type": "step", "every": 1}).lr(1.0, 2, 0, 1, 1) == pytest.approx(0.01)  # gamma 0.1


def test_exponential():
    exponential = schedules.get({"type": "exponential", "gamma": 0.9})
    assert at(exponential, 0) == 0.1
    assert at(exponential, 1) == pytest.approx(0.09)
    assert at(exponential, 5) == pytest.approx(0.1 * 0.9**5)
    assert schedules.get("exponential").gamma == 0.95


def test_cosine():
    cosine = schedules.get({"type": "cosine", "min_lr": 0.01})
    assert at(cosine, 0, step=0) == pytest.approx(0.1)
    assert at(cosine, 5, step=50) == pytest.approx(0.055)
    assert at(cosine, 2, step=25) == pytest.approx(0.01 + 0.045 * (1 + math.cos(math.pi / 4)))
    assert at(cosine, 9, step=100) == pytest.approx(0.01)
    assert at(cosine, 10, step=130) == pytest.approx(0.01)  # past the end it stays at min_lr
    values = [at(cosine, s // STEPS_PER_EPOCH, step=s) for s in range(TOTAL + 1)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert schedules.get("cosine").lr(1.0, 0, 100, 10, 100) == pytest.approx(0.0)


def test_configs_validate_and_round_trip():
    for spec in ("constant", {"type": "step", "every": 2}, "exponential", {"type": "cosine", "min_lr": 1e-4}):
        schedule = schedules.get(spec)
        assert schedules.get(schedule.get_config()).get_config() == schedule.get_config()
    assert schedules.get({"type": "step", "every": 2}).get_config() == {"type": "step", "every": 2, "gamma": 0.1}
    for bad in (
        {"type": "step"},
        {"type": "step", "every": 0},
        {"type": "step", "every": 2, "gamma": 1.5},
        {"type": "exponential", "gamma": 0},
        {"type": "cosine", "min_lr": -1},
        {"type": "cosine", "warmup": 10},
    ):
        with pytest.raises(ConfigError):
            schedules.get(bad)
    with pytest.raises(ConfigError, match="did you mean 'cosine'"):
        schedules.get("cosin")
