"""Tiny sweeps for the tests here: a 64-16-10 MLP on digits, about a second a trial, and ways to compare them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from nnrun.io import read_csv
from tests.helpers import small_config, write_config  # noqa: F401  # write_config: the sweep tests' too


def tiny_study(parameters: dict[str, Any] | None = None, seeds: list[int] | None = None, **train: Any) -> dict:
    """A config with a sweep: section; `train` keys replace the one-epoch, batch-64 defaults."""
    config = small_config(
        name="tiny",
        model={
            "input_shape": [64],
            "layers": [
                {"type": "dense", "units": 16, "name": "hidden"},
                {"type": "relu"},
                {"type": "dense", "units": 10},
            ],
        },
        optimizer={"type": "adam", "lr": 0.01},
        train={"epochs": 1, "batch_size": 64, **train},
    )
    config["sweep"] = {
        "parameters": copy.deepcopy(parameters) if parameters is not None else {"optimizer.lr": [0.01, 0.003]},
        "seeds": seeds if seeds is not None else [0, 1],
        "metric": {"name": "val_acc", "goal": "max"},
    }
    return config


def summary_rows(folder: Path) -> list[dict[str, Any]]:
    """summary.csv without its one wall-clock column, seconds_mean."""
    return [{k: v for k, v in row.items() if k != "seconds_mean"} for row in read_csv(folder / "summary.csv")]


def trial_rows(folder: Path) -> dict[str, dict[str, Any]]:
    """trials.csv by trial id."""
    return {row["trial"]: row for row in read_csv(folder / "trials.csv", text=["trial"])}


def metrics_bytes(folder: Path) -> dict[str, bytes]:
    """Each trial folder's metrics.csv, by trial id."""
    return {path.parent.name: path.read_bytes() for path in sorted((folder / "trials").glob("*/metrics.csv"))}


def metrics_stamps(folder: Path) -> dict[str, int]:
    """Each trial folder's metrics.csv modification time (ns), by trial id."""
    return {path.parent.name: path.stat().st_mtime_ns for path in sorted((folder / "trials").glob("*/metrics.csv"))}
