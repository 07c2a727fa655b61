"""The sweep's driver: open (or resume) a sweep folder, run the trials it still needs, write its tables.

`sweep(...)` is the Python API behind `nnrun sweep`; `open_study(...)` alone is its dry run. The same command
run again on the same folder resumes it: finished trials (matched by their config hash) are kept, killed
ones continue from their checkpoints, failed ones run again, and trials the spec no longer has are stale.

Which trials run, and how far, comes from the Scheduler (nnrun.sweeps.scheduler): all of them to the end,
or with a halving schedule rung by rung, each promotion decided from what the trial folders hold.
"""

from __future__ import annotations

import copy
import os
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnrun.config import Override, config_from_dict
from nnrun.errors import ConfigError, NnrunError, RunError
from nnrun.io import atomic_write_text, dump_yaml
from nnrun.report.sweep import plot_sweep
from nnrun.results import Sweep, load_run, load_sweep
from nnrun.runs.compiling import compile_config
from nnrun.runs.folder import RESULTS_ROOT
from nnrun.sweeps import rounds
from nnrun.sweeps.folder import SweepFolder
from nnrun.sweeps.halving import plan_lines
from nnrun.sweeps.local import LocalPool
from nnrun.sweeps.plan import Plan, Trial, label_of, plan_sweep
from nnrun.sweeps.progress import SilentSweep, SweepReporter, SweepStart
from nnrun.sweeps.scheduler import Scheduler
from nnrun.sweeps.summary import markdown, rung_rows, summarize, trial_row
from nnrun.sweeps.worker import Job, trial_state


@dataclass
class Study:
    """A plan bound to its folder: what each trial's folder holds now, and the stale trials beside them."""

    plan: Plan
    folder: SweepFolder
    states: dict[str, str]  # trial id -> done, resume, rerun or new (nnrun.sweeps.worker.trial_state)
    stale: list[str]
    scheduler: Scheduler

    def label(self, trial: Trial) -> str:
        return f"point {trial.point} ({label_of(trial.params)}) seed {trial.seed}"


def open_study(
    config: str | Path | dict[str, Any] | None,
    overrides: Sequence[str | Override] = (),
    *,
    out: str | Path | None = None,
    results_root: str | Path = RESULTS_ROOT,
    resume: str | Path | None = None,
    force: bool = False,
) -> Study:
    """Plan the sweep and find its folder (`resume`, else `out`, else results/<name>/sweep-<base hash>)."""
    if resume is not None and out is not None:
        raise ConfigError("--resume names the sweep folder already: drop --out")
    if resume is not None:
        folder = SweepFolder(resume)
        saved = folder.saved()
        if saved is None:
            raise RunError(f"{resume} is not a sweep folder (no sweep.yaml)", hint="point --resume at one")
        if config is None:
            if overrides:
                raise ConfigError("--set changes a sweep's config: give CONFIG with it when resuming")
            plan = plan_sweep(saved["config"], saved["overrides"])
            plan.source = saved["source"]
        else:
            plan = plan_sweep(config, overrides)
    else:
        if config is None:
            raise ConfigError("no config given", hint="usage: nnrun sweep CONFIG.yaml, or nnrun sweep --resume DIR")
        plan = plan_sweep(config, overrides)
        folder = SweepFolder(out if out is not None else Path(results_root) / plan.name / f"sweep-{plan.base_id[:8]}")
    folder.check_base(plan, force)
    if plan.source == "<dict>":
        plan.source = str(folder.path / "config.yaml")  # the commands in trials.csv need a file to name
    if plan.spec.method == "tpe":  # the rounds already suggested, in order: their points and trial ids
        rounds.restore(plan, folder.saved_rounds(), str(folder.path / "rounds.json"), force)
    states = {trial.id: trial_state(folder.trial_dir(trial.id)) for trial in plan.trials}
    present = sorted(path.name for path in folder.trials_dir.glob("*") if path.is_dir())
    stale = [name for name in present if name not in states]
    return Study(plan, folder, states, stale, Scheduler(plan, folder.trial_dir))


def sweep(
    config: str | Path | dict[str, Any] | None,
    overrides: Sequence[str | Override] = (),
    *,
    out: str | Path | None = None,
    results_root: str | Path = RESULTS_ROOT,
    workers: int | None = None,
    dask: str | None = None,
    resume: str | Path | None = None,
    force: bool = False,
    reporter: SweepReporter | None = None,
    executor: Any = None,
    plot: bool = True,
) -> Sweep:
    """Run a config's sweep section; returns the Sweep read back from its folder (see nnrun.results)."""
    study = open_study(config, overrides, out=out, results_root=results_root, resume=resume, force=force)
    return run_study(study, workers=workers, dask=dask, reporter=reporter, executor=executor, plot=plot)


def run_study(
    study: Study,
    *,
    workers: int | None = None,
    dask: str | None = None,
    reporter: SweepReporter | None = None,
    executor: Any = None,
    plot: bool = True,
) -> Sweep:
    """Run the study's unfinished trials (on `executor`, else a LocalPool or a DaskPool) and write its tables,
    then, unless `plot` is False, its figures (nnrun.report.sweep) and each trial's curves."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {workers})")
    scheduler = study.scheduler
    # the trials that may still train: with a schedule, any that has not reached the maximum
    pending = [trial for trial in study.plan.trials if not scheduler.progress[trial.id].has_reached(scheduler.maximum)]
    if pending:
        compile_points(pending)  # a bad model is named here, with its point, before any worker starts
    with study.folder.locked():  # a second driver on this folder is refused
        if executor is None and (scheduler.jobs() or searching(study.plan)):
            executor = make_executor(workers, dask, study.plan.spec.retries)
        try:
            execute(study, executor, workers, reporter or SilentSweep(), plot)
        finally:
            if executor is not None and hasattr(executor, "close"):
                executor.close()
    return load_sweep(study.folder.path)


def searching(plan: Plan) -> bool:
    """Whether tpe has points still to suggest."""
    return plan.spec.method == "tpe" and rounds.due(plan)


def make_executor(workers: int | None, dask: str | None, retries: int) -> Any:
    if dask:
        from nnrun.sweeps.cluster import DaskPool  # imported here: Dask is an optional extra

        return DaskPool(dask, workers, retries)
    return LocalPool(workers or os.cpu_count() or 1, retries)


def execute(study: Study, executor: Any, workers: int | None, reporter: SweepReporter, plot: bool) -> None:
    """Run the scheduler's jobs, and the ones each ended trial makes due, writing the tables after every one."""
    plan, folder, scheduler = study.plan, study.folder, study.scheduler
    cores = os.cpu_count() or 1
    slots = executor.workers if executor is not None else (workers or cores)
    user_threads = plan.base["train"]["threads"]
    # one thread a trial, whatever the number of workers: BLAS sums in another order with more threads, and a
    # sweep's numbers must not depend on --workers (tests/sweeps/test_determinism.py)
    threads = user_threads or 1
    command_threads = threads if user_threads is None else None  # the commands then add --set train.threads

    folder.write_plan(plan)
    if plan.source == str(folder.path / "config.yaml"):
        atomic_write_text(folder.path / "config.yaml", dump_yaml(plan.raw))
    previous = folder.previous_trials()
    attempts: Counter[str] = Counter({k: int(v.get("attempts") or 0) for k, v in previous.items()})
    seconds = {k: v.get("seconds") for k, v in previous.items()}
    by_id = {trial.id: trial for trial in plan.trials}
    parameters = list(plan.spec.parameters)

    def row_of(trial: Trial) -> dict[str, Any]:
        row = study_row(study, trial, previous, command_threads)
        row.update(attempts=attempts[trial.id], seconds=seconds.get(trial.id))
        return row

    rows = {trial.id: row_of(trial) for trial in plan.trials}

    def event(message: tuple) -> None:
        if message[0] in ("started", "submitted"):
            attempts[message[1]] += 1
        reporter.event(message)

    queue: deque[Job] = deque()
    busy: set[str] = set()
    tpe = plan.spec.method == "tpe"
    log = (folder.saved_rounds() or {}).get("rounds", [])[: len(plan.brackets)] if tpe else []

    def feed() -> None:
        while True:
            for trial, until in scheduler.jobs(busy):
                config = with_threads(trial.config, threads)
                queue.append(Job(trial.id, str(folder.trial_dir(trial.id).resolve()), config, plot, until))
                busy.add(trial.id)
            if not (tpe and not queue and not busy and rounds.due(plan)):
                return
            # the last round is over: ask for the next (a round that only repeats earlier points trains nothing)
            next_round()

    def next_round() -> None:
        """Ask tpe for the next round from every result so far, keep it in rounds.json, then add its trials."""
        asked = rounds.ask(plan, summarize(plan, list(rows.values()), scheduler)[0])
        log.append(asked)
        folder.write_rounds(rounds.fingerprint(plan), log, rounds.optuna_version())
        trials = plan.extend(asked["points"], asked["round"])
        if asked["round"] == 1:
            compile_points(trials)  # the kernels once, in the driver, rather than in every worker at once
        scheduler.add(trials)
        for trial in trials:
            by_id[trial.id] = trial
            rows[trial.id] = row_of(trial)
        reporter.round(rounds.round_line(plan, asked), {trial.id: study.label(trial) for trial in trials})

    if plan.spec.schedule:
        reporter.rungs(scheduler)  # before start: the decisions already taken are not news
    reporter.start(
        SweepStart(
            name=plan.name, path=folder.path, points=len(plan.points), seeds=len(plan.spec.seeds or [0]),
            trials=len(plan.trials), to_run=scheduler.remaining() + (rounds.expected_jobs(plan) if tpe else 0),
            stale=len(study.stale), workers=slots, threads=threads, at=plan.spec.metric.at,
            labels={trial.id: study.label(trial) for trial in plan.trials},
            plan=rung_plan(plan) if plan.spec.schedule and not tpe else None,
            done=sum(scheduler.progress[t.id].has_reached(scheduler.maximum) for t in plan.trials),
            paused=sum(scheduler.progress[t.id].status == "paused" for t in plan.trials),
            search=rounds.plan_lines(plan) if tpe else None, scheduled=bool(plan.spec.schedule),
        )
    )  # fmt: skip

    def write_tables() -> tuple[list[dict[str, Any]], str]:
        trials = table(study, rows, previous)
        folder.write_trials(parameters, trials, scheduled=bool(plan.spec.schedule), rounds=tpe)
        summary, metric = summarize(plan, list(rows.values()), scheduler)
        folder.write_summary(parameters, summary, markdown(plan, summary, metric, scheduler))
        if plan.spec.schedule:
            folder.write_rungs(parameters, rung_rows(scheduler))
        return summary, metric

    try:
        feed()  # with tpe, the first round may be asked here
        if tpe:
            summary, metric = write_tables()  # a round's trials are in trials.csv before they start
        for outcome in executor.run(queue, event) if queue else ():
            trial = by_id[outcome.trial]
            busy.discard(trial.id)
            scheduler.refresh(trial.id, failed=outcome.status == "failed")
            # a trial continued from a paused rung adds its time; one started again replaces it
            carried = seconds.get(trial.id) if rows[trial.id]["status"] in ("paused", "stopped") else None
            seconds[trial.id] = round((carried or 0) + outcome.seconds, 2)
            rows[trial.id] = row_of(trial)
            rows[trial.id]["error"] = outcome.error or rows[trial.id]["error"]
            for other in plan.trials:  # a decision changes other trials' status (stopped), nothing else
                rows[other.id]["status"] = scheduler.status(other)
            feed()  # a rung this trial completed may promote others; with tpe, the round it ended asks the next
            summary, metric = write_tables()
            reporter.trial_done(rows[trial.id], next((r for r in summary if r["best"]), None), metric)
            if plan.spec.schedule:
                reporter.rungs(scheduler)
    finally:  # finished, failed or interrupted: the tables say what the folders hold
        for trial in plan.trials:
            if trial.id in busy:
                scheduler.refresh(trial.id)
                rows[trial.id] = row_of(trial)
        for trial in plan.trials:
            rows[trial.id]["status"] = scheduler.status(trial)
        summary, metric = write_tables()
        reporter.finish(summary, parameters, metric)
    if plot and any(row.get(f"{metric}_mean") is not None for row in summary):
        plot_sweep(folder.path)  # not after Ctrl-C: the tables are what an interrupted sweep owes


def study_row(study: Study, trial: Trial, previous: dict[str, dict], threads: int | None) -> dict[str, Any]:
    """A trial's row from what its folder holds (pending when it has not run), keeping earlier timings."""
    run_dir = study.folder.trial_dir(trial.id)
    progress = study.scheduler.progress[trial.id]
    # a trial killed before its config.yaml was written has nothing to read: it is pending, and runs again
    run = load_run(run_dir) if progress.status != "new" and (run_dir / "config.yaml").is_file() else None
    before = previous.get(trial.id, {})
    ran_with = run.config["train"]["threads"] if run is not None else threads
    extra = {"rung": progress.reached()} if study.plan.spec.schedule else {}
    if study.plan.spec.method == "tpe":
        extra["round"] = study.plan.rounds[trial.point]
    return trial_row(
        trial,
        run,
        study.scheduler.status(trial),
        error=(run.summary.get("error") if run is not None else None),
        seconds=before.get("seconds"),
        threads=ran_with,
        attempts=before.get("attempts") or 0,
        run_dir=f"trials/{trial.id}",
        command=trial.command(study.plan.source, ran_with if threads is not None else None),
        **extra,
    )


def table(study: Study, rows: dict[str, dict], previous: dict[str, dict]) -> list[dict[str, Any]]:
    """The trials.csv rows: the plan's in order, then the stale trials an earlier spec had."""
    # a tpe study suggested anew (--force) may bring a stale trial back
    stale = [{**previous.get(name, {"trial": name}), "status": "stale"} for name in study.stale if name not in rows]
    return list(rows.values()) + stale


def rung_plan(plan: Plan) -> list[str]:
    unit, _ = plan.resource
    return plan_lines(plan.brackets, plan.spec.schedule.model_dump(), unit, len(plan.spec.seeds or [0]))


def with_threads(config: dict[str, Any], threads: int) -> dict[str, Any]:
    if config["train"]["threads"] is not None:
        return config
    config = copy.deepcopy(config)
    config["train"]["threads"] = threads
    return config


def compile_points(pending: list[Trial]) -> None:
    """Build every pending point's model, running its kernels once: a shape error names its point, and the
    workers load the kernels from numba's cache rather than all compiling them at once."""
    errors = []
    seen: set[int] = set()
    for trial in pending:
        if trial.point in seen:
            continue
        seen.add(trial.point)
        try:
            compile_config(config_from_dict(trial.config))
        except NnrunError as error:
            errors.append(f"point {trial.point} ({label_of(trial.params)}): {error.message()}")
    if errors:
        raise ConfigError(
            f"{len(errors)} of the sweep's points give a model that does not build:\n" + "\n".join(errors),
            hint="fix sweep.parameters; `nnrun check CONFIG --set ...` prints a point's layer shapes",
        )
