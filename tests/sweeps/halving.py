"""Halving studies for the tests here: nine learning rates of the tiny digits MLP, and ways to read them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnrun.io import read_csv
from tests.sweeps.studies import tiny_study

# nine rates, from ones that barely move in an epoch to ones that learn fast, so that every rung decides
LRS = [0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001, 3.0e-05, 1.0e-05, 0.1]
RECORD_COLUMNS = ("seconds", "attempts")  # how a trial ran, not what it gave: left out of comparisons


def halving_study(lrs=LRS, seeds=(0, 1), schedule: dict | None = None, **train: Any) -> dict:
    """The tiny digits study over `lrs` with successive halving (min 1, eta 3) over 9 epochs."""
    config = tiny_study({"optimizer.lr": list(lrs)}, seeds=list(seeds), **{"epochs": 9, **train})
    config["sweep"]["schedule"] = schedule or {"type": "halving", "min": 1, "eta": 3}
    return config


def tables(folder: Path) -> dict[str, Any]:
    """trials.csv without the record columns, summary.csv without seconds_mean, rungs.csv, and every
    metrics.csv and model.npz: what two runs of one study must agree on."""
    trials = [{k: v for k, v in row.items() if k not in RECORD_COLUMNS} for row in read_csv(folder / "trials.csv")]
    summary = [{k: v for k, v in row.items() if k != "seconds_mean"} for row in read_csv(folder / "summary.csv")]
    files = {
        f"{path.parent.name}/{path.name}": path.read_bytes()
        for name in ("metrics.csv", "model.npz")
        for path in sorted((folder / "trials").glob(f"*/{name}"))
    }
    return {"trials": trials, "summary": summary, "rungs": read_csv(folder / "rungs.csv"), "files": files}


def seed_mean(values: list[float]) -> float:
    return sum(values) / len(values)
