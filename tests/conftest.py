"""Shared fixtures: small configs as dicts, and running the CLI in a subprocess."""

from __future__ import annotations

# nnrun before numpy: its import sets the thread pools' waits that OpenBLAS reads when numpy loads it
# (nnrun/__init__.py), so the tests run nnrun's kernels as `nnrun train` does.
import nnrun  # noqa: F401  # isort: skip
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def small_config(**sections):
    """A fast MLP on digits; keyword arguments replace whole sections."""
    config = {
        "name": "small",
        "seed": 0,
        "data": {"dataset": "digits"},
        "model": {
            "input_shape": [64],
            "layers": [
                {"type": "dense", "units": 32, "name": "hidden"},
                {"type": "relu"},
                {"type": "dense", "units": 10},
            ],
        },
        "loss": "softmax_cross_entropy",
        "optimizer": {"type": "adam", "lr": 0.003},
        "train": {"epochs": 3, "batch_size": 32},
    }
    config.update(sections)
    return config


@pytest.fixture
def cli(tmp_path):
    """Run `python -m nnrun ARGS` in tmp_path; returns the CompletedProcess."""

    def run(*args, timeout=300, check=False):
        env = {**os.environ, "COLUMNS": "200"}
        return subprocess.run(
            [sys.executable, "-m", "nnrun", *map(str, args)],
            cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=env, check=check,
        )  # fmt: skip

    return run
