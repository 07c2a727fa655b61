"""The benchmark's networks in PyTorch, built from the same nnrun layer lists (nnrun.bench.MODELS).

Imported only by the benchmark's torch worker (nnrun.bench.worker), so torch stays optional. Weights start
as nnrun's defaults do (Xavier-uniform, zero biases), so both frameworks train from the same distribution of
initial weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def build(layers: list[dict], input_shape: list[int], data_shape: tuple[int, ...]) -> nn.Sequential:
    """nn.Sequential for an nnrun layer list taking examples of `data_shape` (flattened if input_shape is flat).

    Supports the layer types the benchmark uses: conv2d (stride 1, "same" or integer padding), relu,
    maxpool2d, flatten and dense.
    """
    modules: list[nn.Module] = []
    if len(input_shape) == 1 and tuple(data_shape) != tuple(input_shape):
        modules.append(nn.Flatten())  # nnrun reshapes images fed to a flat input the same way
    for spec in layers:
        with torch.no_grad():  # the shape reaching this layer, from a dummy example
            shape = tuple(nn.Sequential(*modules)(torch.zeros(1, *data_shape)).shape)
        kind = spec["type"]
        if kind == "conv2d":
            padding = spec.get("padding", "valid")
            module = nn.Conv2d(shape[1], spec["filters"], spec["kernel"], stride=spec.get("stride", 1), padding=padding)
        elif kind == "relu":
            module = nn.ReLU()
        elif kind == "maxpool2d":
            module = nn.MaxPool2d(spec.get("size", 2), stride=spec.get("stride"))
        elif kind == "flatten":
            module = nn.Flatten()
        elif kind == "dense":
            module = nn.Linear(math.prod(shape[1:]), spec["units"])
        else:
            raise ValueError(f"no torch equivalent for layer type {kind!r}")
        modules.append(module)
    network = nn.Sequential(*modules)
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return network
