"""Continuing a run from its checkpoint: after a kill, from a pause at a rung, or past the budget it began with.

`resume(run_dir)` is the Python API behind `nnrun train --resume`. Each way ends where a run trained
straight ends, byte for byte: a longer budget is taken only when nothing the run did depends on its budget.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nnrun.config import Config, config_from_dict
from nnrun.config.overrides import Override
from nnrun.data import load_dataset
from nnrun.errors import ConfigError, RunError
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
            raise RunError(
                f"run {run.path} has already finished ({run.status})",
                hint=f"train it longer with --set train.{key}=N (N > {before}), or start a new run",
            )
        resolved = run.config
    else:
        resolved = copy.deepcopy(run.config)
        resolved["train"][key] = budget
    config = config_from_dict(resolved, source=str(run.path / "config.yaml"))
    if run.status == "early_stopped":  # it stops at the same evaluation with any longer budget
        return relabel(run, config, before)
    if not folder.checkpoint_path.is_file():
        kept_none = run.config["train"].get("checkpoint") is False
        raise RunError(
            f"run {run.path} has no checkpoint.npz to resume from",
            hint="it was trained with train.checkpoint: false, so it kept none; start a new run"
            if kept_none
            else "a checkpoint is written after each epoch; a run stopped in its first epoch must be started again",
        )
    trainer = Trainer(config, folder, reporter, plot=plot, load=load)
    trainer.started_at = run.summary.get("started_at", trainer.started_at)
    trainer.extended = list(run.summary.get("extended", []))
    if resolved is not run.config:
        check_extension(trainer, run, before)
        trainer.extended.append({"key": f"train.{key}", "from": before, "to": budget, "step": run.summary["step"]})
        folder.log(f"extended: budget {key} {before} -> {budget}, from step {run.summary['step']}")
    trainer.restore()
    return trainer.fit(trainer.pause_step(until))


def extend(
    run_dir: str | Path,
    overrides: Sequence[str],
    *,
    reporter: Reporter | None = None,
    plot: bool = True,
    load: DataLoad = load_dataset,
) -> Run:
    """`nnrun train --resume RUN --set train.epochs=N`: continue a run, finished or not, to a new budget.

    Only the budget may change: every other value trained the weights the checkpoint holds. A run that stopped
    early is refused, since a longer budget stops it at the same evaluation."""
    run = load_run(run_dir)
    key = budget_key(run.config["train"])
    budget = None
    for text in overrides:
        override = Override.parse(text)
        where = f"--set {override.text}"
        if override.parts[:1] != ("train",) or override.parts[1:] not in (("epochs",), ("max_steps",)):
            raise ConfigError(
                "a resumed run keeps the config it was trained with: only its budget, train.epochs or "
                "train.max_steps, can change",
                where=where,
                hint="to try other values, start a new run: nnrun train CONFIG --set ...",
            )
        if override.parts[1] != key:
            raise ConfigError(
                f"run {run.path} trains by {'steps' if key == 'max_steps' else 'epochs'}, so its budget is train.{key}",
                where=where,
                hint=f"extend it with --set train.{key}=N",
            )
        if isinstance(override.value, bool) or not isinstance(override.value, int) or override.value < 1:
            raise ConfigError(f"train.{key} must be a whole number of at least 1", where=where)
        budget = override.value
    before = run.config["train"][key]
    if run.status == "early_stopped":
        stopping = run.config["train"]["early_stopping"]
        raise RunError(
            f"run {run.path} stopped early: {stopping['monitor']} had not improved for {stopping['patience']} "
            "evaluations; with a longer budget it stops at the same evaluation, so there is nothing to continue",
            hint="to train on, start a new run with a larger train.early_stopping.patience, or without early stopping",
        )
    if run.status == "completed" and budget is not None and budget <= before:
        raise RunError(
            f"run {run.path} has already finished at train.{key}={before}",
            hint=f"give a larger budget, e.g. --set train.{key}={before * 2}",
        )
    return resume(run.path, reporter=reporter, plot=plot, budget=budget, load=load)


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
