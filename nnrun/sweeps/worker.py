"""One trial, run where an executor puts it: a local worker process or a Dask worker.

`run_trial(job)` is the whole of it: look at the trial's folder, resume what a killed attempt left (or a
paused rung), start anew what cannot be resumed, and report how it ended. It never raises for a failed
trial (NaN loss, bad data): the error is the outcome, and the sweep goes on with the others.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import yaml
from threadpoolctl import threadpool_info

from nnrun.config import config_from_dict
from nnrun.data import Dataset, load_dataset
from nnrun.errors import NnrunError
from nnrun.results import FINISHED
from nnrun.runs.progress import RunStart, Silent
from nnrun.runs.resuming import budget_key, resume
from nnrun.runs.trainer import train


@dataclass(frozen=True)
class Job:
    trial: str
    run_dir: str  # absolute: a Dask worker on another machine must reach it (a shared file system)
    config: dict[str, Any]  # resolved, with the thread count this trial runs with
    plot: bool = True  # the trial draws its curves.png
    until: int | None = None  # pause at this rung (epochs, or steps with train.max_steps); None: to the end


@dataclass
class Outcome:
    trial: str
    status: str  # the run's status (completed, early_stopped, paused, failed, interrupted)
    error: str | None = None
    seconds: float = 0.0  # wall time in the worker: data, compile, training and evaluation
    threads: dict[str, int] = field(default_factory=dict)  # numba's and BLAS's, as the trial ran


def trial_state(run_dir: Path) -> str:
    """done (finished), resume (a checkpoint to continue from), rerun (failed or unusable), or new."""
    summary = run_dir / "summary.json"
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return "new"
    try:
        status = json.loads(summary.read_text()).get("status")
    except (OSError, ValueError):
        status = None
    if status in FINISHED:
        return "done"
    if status in ("running", "interrupted", "paused") and (run_dir / "checkpoint.npz").is_file():
        return "resume"
    return "rerun"


def set_aside(run_dir: Path) -> Path:
    """Move an attempt that cannot be resumed to <sweep>/attempts/<trial>-<n>/, where it stays to be read."""
    attempts = run_dir.parent.parent / "attempts"
    attempts.mkdir(exist_ok=True)
    n = 1 + sum(1 for path in attempts.glob(f"{run_dir.name}-*"))
    target = attempts / f"{run_dir.name}-{n}"
    shutil.move(run_dir, target)
    return target


def run_trial(job: Job, events: Callable[[tuple], None] | None = None) -> Outcome:
    """Train (or resume) one trial into job.run_dir; `events` hears its start and each evaluation."""
    tick = time.perf_counter()
    run_dir = Path(job.run_dir)
    reporter = Events(job.trial, events) if events else Silent()
    state = trial_state(run_dir)
    key = budget_key(job.config["train"])
    budget = job.config["train"][key]
    saved, summary = read_folder(run_dir) if state in ("done", "resume") else ({}, {})
    before = saved.get("train", {}).get(key)
    if state in ("done", "resume") and before != budget:
        # a study whose maximum was raised continues the trial; one lowered has it start again
        state = "extend" if before and before < budget else "rerun"
    if state == "done" or (state != "rerun" and summary.get("status") == "paused" and at_rung(summary, job)):
        # a Dask retry of a trial that had got there; one whose budget was lowered (rerun) starts again
        return Outcome(job.trial, summary["status"])
    try:
        if state in ("resume", "extend"):
            run = resume(run_dir, reporter=reporter, plot=job.plot, until=job.until, budget=budget, load=kept_dataset)
        else:
            if state != "new":
                set_aside(run_dir)
            config = config_from_dict(job.config)
            run = train(config, out=run_dir, reporter=reporter, plot=job.plot, until=job.until, load=kept_dataset)
        status, error = run.status, None
    except NnrunError as failure:
        status, error = "failed", failure.message()
    except Exception as failure:  # a bug or a system error: the trial fails, the sweep goes on
        status, error = "failed", f"{type(failure).__name__}: {failure}"
    return Outcome(job.trial, status, error, time.perf_counter() - tick, thread_counts())


KEPT_DATASETS = 2  # a worker keeps the datasets of its last two (data, seed) pairs, a study's seeds often
_kept: OrderedDict[str, Dataset] = OrderedDict()


def kept_dataset(data: dict[str, Any], seed: int) -> Dataset:
    """load_dataset, keeping the last few in this worker: a halving study runs a trial once a rung, and
    loading Fashion-MNIST again each time was a third of its workers' time (benchmarks/README.md, "Halving")."""
    key = json.dumps([data, seed], sort_keys=True)
    if key in _kept:
        _kept.move_to_end(key)
        return _kept[key]
    dataset = load_dataset(data, seed)
    _kept[key] = dataset
    while len(_kept) > KEPT_DATASETS:
        _kept.popitem(last=False)
    return dataset


def read_folder(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial folder's config.yaml and summary.json ({} for a file that cannot be read)."""
    out = []
    for name, parse in (("config.yaml", yaml.safe_load), ("summary.json", json.loads)):
        try:
            value = parse((run_dir / name).read_text())
        except (OSError, ValueError, yaml.YAMLError):
            value = None
        out.append(value if isinstance(value, dict) else {})
    return out[0], out[1]


def at_rung(summary: dict[str, Any], job: Job) -> bool:
    """Whether a paused trial's summary says it is paused at the job's rung already."""
    where = summary.get("step") if job.config["train"].get("max_steps") else summary.get("epoch")
    return job.until is not None and where == job.until


def thread_counts() -> dict[str, int]:
    """numba's threads and those of numpy's BLAS, the one nnrun calls (numba may load scipy's copy too)."""
    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    ours = [pool for pool in pools if "numpy" in pool.get("filepath", "")] or pools
    return {"numba": numba.get_num_threads(), "blas": max((pool["num_threads"] for pool in ours), default=0)}


class Events(Silent):
    """A reporter that passes a trial's start and evaluations on, as small tuples a pipe can carry."""

    def __init__(self, trial: str, send: Callable[[tuple], None]):
        self.trial, self.send = trial, send

    def start(self, run: RunStart) -> None:
        self.send(("start", self.trial, run.step, run.total_steps))

    def evaluation(self, row: dict[str, Any]) -> None:
        self.send(("evaluation", self.trial, row["step"], row.get("val_acc"), row.get("val_loss")))
