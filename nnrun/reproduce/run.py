"""Run the reports' experiments: each config of configs/reports/ as a sweep into results/reports/<name>/.

The report's dataset is used where it is on this machine (or downloaded with `download=True`); otherwise
the manifest's stand-in, and the folder's name says so (`000_cnn7-fashion_mnist`), so that a stand-in's
number is never read as the report's dataset's. A folder that exists is resumed: finished trials are kept.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nnrun.data.catalog import fetch, location
from nnrun.errors import ConfigError
from nnrun.io import atomic_savez, atomic_write_text
from nnrun.registry import DATASETS
from nnrun.report.inspect import plot_inspection
from nnrun.reproduce.manifest import RANDOM, Experiment, Manifest, Report, StandIn
from nnrun.results import FINISHED, Sweep, load_sweep
from nnrun.sweeps.progress import SweepReporter
from nnrun.sweeps.run import sweep

RESULTS = Path("results/reports")
# The noise that stands in for a dataset: enough images for steady timings, few enough to write in a second.
RANDOM_TRAIN, RANDOM_TEST = 12000, 2000
WALL = "reproduce.json"  # in each experiment's folder: the wall time nnrun reproduce spent on it


@dataclass
class Job:
    """One experiment as it runs here: its config, the data it gets, its overrides and its folder."""

    report: Report
    experiment: Experiment
    config: Path
    dataset: str  # the report's
    used: str  # what ran: the report's dataset, a stand-in's name, or RANDOM
    overrides: list[str] = field(default_factory=list)
    folder: Path = RESULTS

    @property
    def stand_in(self) -> bool:
        return self.used != self.dataset


def plan(manifest: Manifest, manifest_dir: Path, reports: list[Report], results: Path, download: bool) -> list[Job]:
    """The jobs of `reports`, each with the data it will use; nothing is run or written."""
    jobs = []
    for report in reports:
        for experiment in report.experiments:
            config = manifest_dir / experiment.config
            dataset = (yaml.safe_load(config.read_text()).get("data") or {}).get("dataset", "")
            used, overrides = dataset, list(experiment.set)
            if not available(dataset, download):
                default = manifest.stand_ins.get(dataset) or StandIn()
                chosen = experiment.stand_in.dataset or default.dataset
                if chosen is None:
                    raise ConfigError(
                        f"{dataset} is not on this machine and the manifest names no stand-in for it",
                        where=f"{experiment.config}",
                        hint=f"add `{dataset}: {{dataset: ...}}` to stand_ins, or `nnrun data download {dataset}`",
                    )
                used = chosen
                if used != RANDOM:
                    overrides.append(f"data.dataset={used}")
                overrides += [*default.set, *experiment.stand_in.set]
            name = experiment.name if used == dataset else f"{experiment.name}-{used}"
            jobs.append(Job(report, experiment, config, dataset, used, overrides, results / name))
    return jobs


def available(dataset: str, download: bool) -> bool:
    """Whether the dataset's files are here (built-in sets always are); with `download`, fetch them first."""
    DATASETS.get(dataset, where="data.dataset")  # an unknown name is an error that says where
    if location(dataset) != "not present":
        return True
    if download:
        fetch(dataset)  # a failed download is an error that says why: the user asked for the real data
        return True
    return False


def random_data(job: Job) -> list[str]:
    """Write (once) noise of the report's dataset's shape and classes; the overrides that train on it."""
    cls = DATASETS.get(job.dataset)
    shape, classes = tuple(cls.shape), int(cls.classes)
    path = job.folder.parent / f"random-{job.dataset}.npz"
    if not path.is_file():
        rng = np.random.default_rng(0)
        arrays = {
            "x_train": rng.integers(0, 256, (RANDOM_TRAIN, *shape), dtype=np.uint8),
            "y_train": np.arange(RANDOM_TRAIN) % classes,
            "x_test": rng.integers(0, 256, (RANDOM_TEST, *shape), dtype=np.uint8),
            "y_test": np.arange(RANDOM_TEST) % classes,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_savez(path, arrays)
    return ["data.dataset=npz", f"data.path={path.resolve()}"]


def run(job: Job, workers: int | None, force: bool = False, reporter: SweepReporter | None = None) -> dict[str, Any]:
    """Run (or resume) the job's sweep; returns its wall-time record, kept in the folder across resumes."""
    overrides = list(job.overrides)
    if job.used == RANDOM:
        overrides = random_data(job) + overrides
    started = time.perf_counter()
    result = sweep(job.config, overrides, out=job.folder, workers=workers, force=force, reporter=reporter, plot=True)
    record = wall_record(job.folder)
    record["runs"].append({"seconds": round(time.perf_counter() - started, 1), "workers": workers})
    record["wall_seconds"] = round(sum(r["seconds"] for r in record["runs"]), 1)
    record["failed"] = len(result.failed)
    atomic_write_text(job.folder / WALL, json.dumps(record, indent=1) + "\n")
    return record


def wall_record(folder: Path) -> dict[str, Any]:
    """The folder's reproduce.json, or a fresh record; a damaged one starts afresh rather than stopping."""
    try:
        record = json.loads((folder / WALL).read_text())
        if isinstance(record.get("runs"), list):
            return record
    except (OSError, ValueError, AttributeError):
        pass
    return {"runs": []}


def best_trial(sweep: Sweep) -> str | None:
    """The finished trial with the lowest seed at the sweep's best point."""
    best = sweep.best
    if best is None:
        return None
    trials = [r for r in sweep.trials if int(r["point"]) == int(best["point"]) and r["status"] in FINISHED]
    return min(trials, key=lambda r: r["seed"])["trial"] if trials else None


def draw_figures(job: Job) -> list[Path]:
    """The inspection figures the manifest shows from the best trial (the sweep drew its own figures and curves)."""
    wanted = [f for f in job.experiment.figures if f.trial and f.kind not in (None, "curves")]
    trial = best_trial(load_sweep(job.folder)) if wanted else None
    if trial is None:
        return []
    written = []
    for figure in wanted:
        files, _ = plot_inspection(job.folder / "trials" / trial, kinds=[figure.kind], layer=figure.layer)
        written += files
    return written
