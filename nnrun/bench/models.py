"""The benchmark's three networks as nnrun model sections, the data they train on, and their run config.

nnrun.bench.torch_models builds the same networks in torch from these layer lists.
"""

from __future__ import annotations

from typing import Any

SYNTHETIC = "bench_synthetic"  # the stand-in dataset the workers register (nnrun.bench.worker)
FASHION = {"dataset": "fashion_mnist", "val": 0}
TRAIN_EXAMPLES, IMAGE_SHAPE = 60000, (1, 28, 28)  # Fashion-MNIST's training set, for the synthetic stand-in

# The three networks of issue 4.
MODELS: dict[str, dict[str, Any]] = {
    "mlp": {  # report 001
        "batch_size": 100,
        "input_shape": [784],
        "layers": [{"type": "dense", "units": 1000}, {"type": "relu"}, {"type": "dense", "units": 10}],
    },
    "cnn": {  # report 002
        "batch_size": 50,
        "input_shape": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "filters": 32, "kernel": 5, "padding": "same"},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 512},
            {"type": "relu"},
            {"type": "dense", "units": 10},
        ],
    },
    "cnn7": {  # report 000
        "batch_size": 50,
        "input_shape": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "filters": 32, "kernel": 10, "padding": "same"},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 2},
            {"type": "conv2d", "filters": 16, "kernel": 5, "padding": "same"},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 1024},
            {"type": "relu"},
            {"type": "dense", "units": 10},
        ],
    },
}


def run_config(model: str, data: dict[str, Any], threads: int, name: str = "bench") -> dict[str, Any]:
    """The nnrun config that trains `model` with Adam 1e-3, float32, softmax cross-entropy."""
    spec = MODELS[model]
    return {
        "name": name,
        "seed": 0,
        "dtype": "float32",
        "data": data,
        "model": {"input_shape": spec["input_shape"], "layers": spec["layers"]},
        "loss": "softmax_cross_entropy",
        "optimizer": {"type": "adam", "lr": 0.001},
        "train": {"epochs": 1000, "batch_size": spec["batch_size"], "threads": threads, "checkpoint": False},
    }
