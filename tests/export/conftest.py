"""A results/ folder trained once for every export test (a run, and a sweep with a diverging point), and an empty
MLflow store made once and copied for each test (creating its tables takes MLflow seconds)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import nnrun
from tests.helpers import small_config
from tests.sweeps.studies import tiny_study

GOOD, DIVERGES = [0.01, 0.003], 1.0e30  # the sweep's learning rates: 1e30 makes the loss NaN, the trial failed


def study(*rates: float) -> dict:
    return tiny_study({"optimizer.lr": list(rates)}, seeds=[0])


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> Path:
    """results/small/run (3 epochs) and results/tiny/sweep (three points, one seed each; the last one failed)."""
    root = tmp_path_factory.mktemp("export") / "results"
    nnrun.train(small_config(), out=root / "small" / "run")
    nnrun.sweep(study(*GOOD, DIVERGES), out=root / "tiny" / "sweep", workers=1)
    return root


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("store") / "mlruns.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # makes the tables
    return path


@pytest.fixture
def store(empty_store, tmp_path) -> str:
    """A fresh SQLite store's URI, in a folder of the test's own."""
    path = tmp_path / "store" / "mlruns.db"
    path.parent.mkdir()
    shutil.copy(empty_store, path)
    return f"sqlite:///{path}"
