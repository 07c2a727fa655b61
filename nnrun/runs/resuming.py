"""Continuing a run from its checkpoint: after a kill, from a pause at a rung, or past the budget it began with.

`resume(run_dir)` is the Python API behind `nnrun train --resume`. Each way ends where a run trained
straight ends, byte for byte: a longer budget is taken only when nothing the run did depends on its budget.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from nnrun.config import Config, config_from_dict
from nnrun.data import load_dataset
from nnrun.errors import RunError
from nnrun.results import FINISHED, Run, load_run
from nnrun.runs.folder import RunFolder
from nnrun.runs.progress import Reporter
from nnrun.runs.trainer import DataLoad, Trainer


def resume(
    run_dir: str | Path,
    *,
    reporter: Reporter | None = None,
    plot: bool = True,
    until: int | None = None,
    budget: int | None = None,
    load: DataLoad = load_dataset,
) -> Run:
    """Continue a run from its last checkpoint to the same result an uninterrupted run gives (to `until`,
    when given: a paused run continues to its next pause or to its end).

    `budget` (epochs, or steps with train.max_steps) continues it past the budget it started with, as a
    sweep does when its maximum is raised; the result then equals a run started with that budget."""
    run = load_run(run_dir)
    folder = RunFolder(run.path)
    key = budget_key(run.config["train"])
    before = run.config["train"][key]
    if budget is None or budget == before:
        if run.status in FINISHED:
            raise RunError(f"run {run.path} has already finished ({run.status})", hint="start a new run instead")
        resolved = run.config
    else:
        resolved = copy.deepcopy(run.config)
        resolved["train"][key] = budget
    config = config_from_dict(resolved, source=str(run.path / "config.yaml"))
    if run.status == "early_stopped":  # it stops at the same evaluation with any longer budget
        return relabel(run, config, before)
    if not folder.checkpoint_path.is_file():
        raise RunError(
            f"run {run.path} has no checkpoint.npz to resume from",
            hint="a checkpoint is written after each epoch; a run stopped in its first epoch must be started again",
        )
    trainer = Trainer(config, folder, reporter, plot=plot, load=load)
    if resolved is not run.config:
        check_extension(trainer, run, before)
        folder.log(f"budget {key} {before} -> {budget}")
    trainer.restore()
    return trainer.fit(trainer.pause_step(until))


def budget_key(train: dict[str, Any]) -> str:
    """The train key that holds a run's budget: max_steps when it trains by steps, else epochs."""
    return "max_steps" if train.get("max_steps") else "epochs"


def check_extension(trainer: Trainer, run: Run, before: int) -> None:
    """Refuse to continue `run` (its config had `before` as the budget) to the trainer's budget unless the
    result equals a run started with it: nothing may depend on the budget, and the old last evaluation must
    be one the longer run makes too."""
    after = trainer.config.train.max_steps or trainer.config.train.epochs
    what = f"cannot continue run {run.path} from {trainer.resource} {before} to {after}"
    if after < before:
        raise RunError(f"{what}: the budget would shrink", hint="start a new run with the smaller budget")
    if trainer.schedule.uses_budget:
        raise RunError(
            f"{what}: its learning-rate schedule ({trainer.schedule.type_name}) is computed over the whole budget, "
            "so a longer run has other rates from the first step",
            hint="train a new run with the longer budget",
        )
    old_total = before * trainer.steps_per_epoch if trainer.resource == "epochs" else before
    if run.status == "completed" and old_total % trainer.eval_every:
        raise RunError(
            f"{what}: its last evaluation, at step {old_total}, is not one a longer run makes (every "
            f"{trainer.eval_every} steps)",
            hint="train a new run with the longer budget, or a budget on a multiple of train.eval_every",
        )


def relabel(run: Run, config: Config, before: int) -> Run:
    """An early-stopped run given a longer budget: it would stop at the same evaluation, so only its config
    and summary change."""
    folder = RunFolder(run.path)
    resolved = config.resolved()
    train = resolved["train"]
    key = budget_key(train)
    summary = dict(run.summary)
    summary["total_steps"] = train[key] if key == "max_steps" else run.summary["total_steps"] // before * train[key]
    folder.write_config(resolved)
    folder.write_summary(summary, markdown=True)
    folder.log(f"budget {key} {before} -> {train[key]}: it had stopped early, as it does with this budget")
    return load_run(run.path)
