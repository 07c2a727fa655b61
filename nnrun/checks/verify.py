"""`nnrun verify`: train a finished run again from its saved config, and compare, by hash, what it gives with
what the folder holds: metrics.csv byte for byte and every array of model.npz.

Same config, seed, thread count and machine give the same bits (docs/results.md), so any difference is a
finding: a changed nnrun or library, another CPU, or a folder edited by hand. The run is repeated in a
temporary folder that goes away afterwards; the run's own folder is only read.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnrun.config import config_from_dict
from nnrun.errors import RunError, TrainingDiverged
from nnrun.io import read_csv, read_npz
from nnrun.results import FINISHED, METRIC_COLUMNS, load_run
from nnrun.runs.progress import Reporter
from nnrun.runs.trainer import train
from nnrun.runtime import machine

ENDED = (*FINISHED, "failed")  # a failed run has a final result too: where it diverged


@dataclass
class Verdict:
    """What the saved run and its repetition agree on, and where they first differ (None: nowhere)."""

    run_dir: Path
    metrics_rows: int
    arrays: int
    metrics_hash: str
    model_hash: str | None
    metrics_difference: str | None = None
    model_difference: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.metrics_difference is None and self.model_difference is None


def verify(run_dir: str | Path, reporter: Reporter | None = None) -> Verdict:
    """Repeat the run at `run_dir` and compare; raises RunError for a run that has not finished."""
    run = load_run(run_dir)
    if run.status not in ENDED:
        raise RunError(
            f"{run.path} has not finished (status {run.status}): there is no final result to compare",
            hint=f"finish it first: nnrun train --resume {run.path}",
        )
    config = run.config
    if config["train"]["threads"] is None and run.summary.get("threads"):
        # the thread count changes how BLAS sums: repeat with the one the run had
        config = {**config, "train": {**config["train"], "threads": run.summary["threads"]}}
    notes = []
    saved_cpu, cpu = run.summary.get("machine", {}).get("cpu"), machine()["cpu"]
    if saved_cpu and saved_cpu != cpu:
        notes.append(f"the run was made on {saved_cpu}, this is {cpu}: other kernels may sum in another order")
    with tempfile.TemporaryDirectory(prefix="nnrun-verify-") as scratch:
        again = Path(scratch) / "run"
        try:
            train(config_from_dict(config, source=str(run.path / "config.yaml")), out=again, reporter=reporter,
                  plot=False)  # fmt: skip
        except TrainingDiverged:
            pass  # a failed run fails again, as it should: its metrics are what is compared
        return compare(run.path, again, notes)


def compare(saved: Path, again: Path, notes: list[str]) -> Verdict:
    # a run that failed before its first evaluation has no metrics.csv: then neither may the repetition
    mine, theirs = (folder / "metrics.csv" for folder in (saved, again))
    mine, theirs = (path.read_bytes() if path.is_file() else b"" for path in (mine, theirs))
    verdict = Verdict(
        run_dir=saved,
        metrics_rows=len(rows(saved)),
        arrays=0,
        metrics_hash=hashlib.sha256(mine).hexdigest(),
        model_hash=None,
        notes=notes,
    )
    if mine != theirs:
        verdict.metrics_difference = first_row_difference(
            read_csv(saved / "metrics.csv"), read_csv(again / "metrics.csv")
        )
    if (saved / "model.npz").is_file() or (again / "model.npz").is_file():
        verdict.model_difference, verdict.arrays, verdict.model_hash = model_difference(saved, again)
    return verdict


def rows(folder: Path) -> list[dict[str, Any]]:
    return read_csv(folder / "metrics.csv") if (folder / "metrics.csv").is_file() else []


def first_row_difference(saved: list[dict[str, Any]], again: list[dict[str, Any]]) -> str:
    for index, (row, other) in enumerate(zip(saved, again)):
        for column in METRIC_COLUMNS:
            if row.get(column) != other.get(column):
                return (f"metrics.csv row {index + 1} (epoch {row.get('epoch')}, step {row.get('step')}): {column} "
                        f"saved {row.get(column)!r}, again {other.get(column)!r}")  # fmt: skip
    if len(saved) != len(again):
        return f"metrics.csv has {len(saved)} rows saved and {len(again)} again"
    return "metrics.csv differs in its text, not in its numbers"


def model_difference(saved: Path, again: Path) -> tuple[str | None, int, str | None]:
    """(where model.npz first differs or None, the number of arrays, a hash of all of them)."""
    if not (saved / "model.npz").is_file() or not (again / "model.npz").is_file():
        missing = "saved" if not (saved / "model.npz").is_file() else "again"
        return f"model.npz is missing {missing}", 0, None
    mine, theirs = read_npz(saved / "model.npz"), read_npz(again / "model.npz")
    digest = hashlib.sha256()
    for key in sorted(mine):
        digest.update(key.encode() + array_hash(mine[key]).encode())
    if sorted(mine) != sorted(theirs):
        return f"model.npz holds other arrays: {sorted(set(mine) ^ set(theirs))}", len(mine), digest.hexdigest()
    for key in sorted(mine):
        if array_hash(mine[key]) != array_hash(theirs[key]):
            a, b = mine[key], theirs[key]
            if a.shape != b.shape or a.dtype != b.dtype:
                return (
                    f"model.npz {key}: {a.dtype}{list(a.shape)} saved, {b.dtype}{list(b.shape)} again",
                    len(mine),
                    None,
                )
            if a.dtype.kind == "f":
                gap = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
                where = f"{int(np.sum(a != b))} of {a.size} values differ, by up to {gap:.3g}"
            else:
                where = "its text differs"
            return f"model.npz {key}: {where}", len(mine), digest.hexdigest()
    return None, len(mine), digest.hexdigest()


def array_hash(array: np.ndarray) -> str:
    return hashlib.sha256(str(array.dtype).encode() + str(array.shape).encode() + array.tobytes()).hexdigest()
