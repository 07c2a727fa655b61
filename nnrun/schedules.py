"""Learning-rate schedules: the learning rate for a given point in training as a function of the base rate.

`epoch` counts completed epochs (0 during the first), `step` completed updates (0 before the first);
the trainer asks for the rate before each update.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import Field

from nnrun.registry import SCHEDULES, Configurable

Decay = Annotated[float, Field(gt=0, le=1, description="factor the rate is multiplied by")]


class Schedule(Configurable):
    type_name: ClassVar[str]
    uses_budget: ClassVar[bool] = False  # its rates depend on total_steps: a longer run has other rates

    def lr(self, base_lr: float, epoch: int, step: int, steps_per_epoch: int, total_steps: int) -> float:
        raise NotImplementedError


def get(spec: str | dict[str, Any] | Schedule, *, where: str | None = "schedule") -> Schedule:
    """Resolve a name, a `{type: ...}` mapping or a Schedule into a Schedule."""
    if isinstance(spec, Schedule):
        return spec
    return SCHEDULES.build(spec, where=where)


@SCHEDULES.register("constant")
class Constant(Schedule):
    """The base rate throughout."""

    def lr(self, base_lr, epoch, step, steps_per_epoch, total_steps):
        return base_lr


@SCHEDULES.register("step")
class Step(Schedule):
    """base · gamma^(epoch // every): a drop by gamma every `every` epochs (torch's StepLR)."""

    def __init__(
        self,
        every: Annotated[int, Field(gt=0, description="epochs between drops")],
        gamma: Decay = 0.1,
    ):
        self.every = every
        self.gamma = gamma

    def lr(self, base_lr, epoch, step, steps_per_epoch, total_steps):
        return base_lr * self.gamma ** (epoch // self.every)


@SCHEDULES.register("exponential")
class Exponential(Schedule):
    """base · gamma^epoch: cs231n's Solver `lr_decay` applied after every epoch."""

    def __init__(self, gamma: Decay = 0.95):
        self.gamma = gamma

    def lr(self, base_lr, epoch, step, steps_per_epoch, total_steps):
        return base_lr * self.gamma**epoch


@SCHEDULES.register("cosine")
class Cosine(Schedule):
    """Per-step cosine from base to min_lr over the whole run (SGDR without restarts):

    min_lr + ½·(base - min_lr)·(1 + cos(π·step / total_steps)); min_lr after the last step.
    """

    uses_budget = True

    def __init__(self, min_lr: Annotated[float, Field(ge=0, description="rate reached at the last step")] = 0.0):
        self.min_lr = min_lr

    def lr(self, base_lr, epoch, step, steps_per_epoch, total_steps):
        progress = min(step, total_steps) / max(total_steps, 1)
        return self.min_lr + 0.5 * (base_lr - self.min_lr) * (1 + math.cos(math.pi * progress))
