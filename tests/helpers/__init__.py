"""Helpers the tests share that are not fixtures (those stay in the conftest.py files).

Here: the repository root, a small training config, writing a config, a closed loopback port, and a
tolerance for sums of many terms. Beside this module: layers.py (a layer's BuildContext)
and idx_files.py (small MNIST-style files), so a test imports only the part of nnrun it tests.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]


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


def write_config(path: Path, config: dict) -> Path:
    """`config` as a YAML file at `path`, keys in their order."""
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def closed_port() -> int:
    """A loopback port on which nothing listens: a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_close(ours: np.ndarray, theirs: np.ndarray, tol: float, what: str) -> None:
    """rtol=tol and atol=tol times the largest magnitude in theirs (at least 1): sums of many terms are off
    by about tol * sum|terms|, so a near-zero entry cannot be held to a relative tolerance."""
    assert ours.shape == theirs.shape, what
    scale = max(1.0, float(np.abs(theirs).max()))
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * scale, err_msg=what)
