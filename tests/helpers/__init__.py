"""Helpers the tests share that are not fixtures (those stay in tests/conftest.py).

Here: the repository root and a small training config. Beside this module: layers.py (a layer's BuildContext)
and idx_files.py (small MNIST-style files), so a test imports only the part of nnrun it tests.
"""

from __future__ import annotations

from pathlib import Path

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
