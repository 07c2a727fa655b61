"""Compiling nnrun's numba kernels ahead of training: a run's model, a sweep's points, `nnrun compile`.

numba compiles a kernel the first time it is called with a new type signature, seconds apiece, and caches
it per CPU, next to the package or in NUMBA_CACHE_DIR (nnrun/kernels/cache.py keeps those files sound and
locks a kernel while one process compiles it). Three callers compile ahead:
- a run: `compile_model` runs its kernels once on a throwaway copy, so that the compile time is reported
  apart from the first epoch's;
- a sweep's driver: `compile_config` for each point, before the workers start, so that they load the
  kernels instead of all compiling them at once;
- `nnrun compile`: `compile_models` over a catalog of small models that between them call every kernel
  of the layers, the softmax loss and the optimizers (or over the configs given), in `jobs` processes.
  Each process goes through the whole list, starting at a different place: one that meets a kernel
  another is compiling puts that model back at the end of its list and goes on with the next, and waits
  only when every model left is held up so. Cold-start figures are in benchmarks/README.md.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnrun.config import Config
from nnrun.config.validate import config_from_dict
from nnrun.errors import NnrunError
from nnrun.model import Sequential
from nnrun.optimizers import clip_grad_norm
from nnrun.registry import LOSSES, OPTIMIZERS

DTYPES = ("float32", "float64")


def _conv(filters: int, kernel: int = 3, **keys: Any) -> dict[str, Any]:
    return {"type": "conv2d", "filters": filters, "kernel": kernel, "padding": "same", **keys}


def _dense(units: int) -> dict[str, Any]:
    return {"type": "dense", "units": units}


RELU, FLATTEN = {"type": "relu"}, {"type": "flatten"}

# name -> (input shape, layers, optimizer). Kernels are compiled per argument type, not per shape, so tiny
# shapes do. Between them: the direct convolution at 16 and 32 output channels (the AVX-512 kernels
# differ), its input gradient both ways (at most 4 input channels, and more), the fused and the plain
# pools at each window kernel, the strided (im2col) convolution, and every activation and optimizer.
CATALOG: dict[str, tuple[list[int], list[dict[str, Any]], dict[str, Any]]] = {
    "mlp": ([16], [_dense(8), RELU, _dense(3)], {"type": "adam"}),
    "conv 16 and 32 channels, 2x2 and 3x3 pools": (
        [1, 12, 12],
        [
            _conv(32),
            RELU,
            {"type": "maxpool2d", "size": 2},
            _conv(16),
            RELU,
            {"type": "maxpool2d", "size": 3, "stride": 1},
            FLATTEN,
            _dense(3),
        ],
        {"type": "adam"},
    ),
    "conv input gradients, plain pools": (
        [2, 12, 12],
        [
            _conv(4),
            {"type": "tanh"},
            {"type": "maxpool2d", "size": 2},
            _conv(8),
            {"type": "tanh"},
            {"type": "maxpool2d", "size": 3, "stride": 1},
            {"type": "maxpool2d", "size": 4},
            FLATTEN,
            _dense(3),
        ],
        {"type": "adam"},
    ),
    "strided conv, average pools, batchnorm, dropout": (
        [3, 16, 16],
        [
            _conv(8, stride=2, padding=1),
            {"type": "batchnorm"},
            RELU,
            {"type": "dropout", "rate": 0.5},
            {"type": "avgpool2d", "size": 2},
            {"type": "avgpool2d", "size": 2, "stride": 1},
            FLATTEN,
            _dense(3),
        ],
        {"type": "adam"},
    ),
    "dense activations": (
        [16],
        [
            {"type": "dense_stack", "units": [8], "activation": "leaky_relu", "batchnorm": True, "dropout": 0.5},
            {"type": "dense_stack", "units": [8], "activation": "sigmoid"},
            {"type": "dense_stack", "units": [8], "activation": "tanh"},
            _dense(3),
            {"type": "softmax"},
        ],
        {"type": "adam"},
    ),
    **{
        f"optimizer {name}": ([16], [_dense(8), RELU, _dense(3)], {"type": name, "weight_decay": 1e-4})
        for name in ("sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop")
    },
}


def catalog(dtypes: Sequence[str] = ("float32",)) -> list[tuple[str, dict[str, Any]]]:
    """(label, raw config) for each catalog model in each dtype."""
    configs = []
    for dtype in dtypes:
        for name, (input_shape, layers, optimizer) in CATALOG.items():
            raw = {
                "name": "compile",
                "dtype": dtype,
                "data": {"dataset": "digits"},  # never loaded: the kernels run on zeros
                "model": {"input_shape": input_shape, "layers": layers},
                "loss": "softmax_cross_entropy",
                "optimizer": {**optimizer, "clip_norm": 1.0},  # its sum of squares is a kernel too
                "train": {"batch_size": 2},
            }
            configs.append((f"{name} ({dtype})", raw))
    return configs


@dataclass(frozen=True)
class Compiled:
    """What `compile_models` did: the kernels it compiled (one per type signature; 0 when the cache had them all), the
    models it ran, its processes, its wall time and numba's cache folder."""

    compiled: int
    models: int
    jobs: int
    seconds: float
    cache: str


def compile_models(configs: Sequence[tuple[str, dict[str, Any] | Config]], jobs: int | None = None) -> Compiled:
    """Compile (or find in numba's cache) the kernels each config's training step and evaluation call.

    configs: (label, Config or raw config dict). jobs: processes at once (None: the machine's cores, at
    most one per config). A config that does not validate, or whose model does not build, raises its
    ConfigError or ShapeError, naming its label, before any process starts.
    """
    raw = [(label, config.resolved() if isinstance(config, Config) else config) for label, config in configs]
    for label, config in raw:
        checked = config_from_dict(config, source=label)
        try:
            Sequential.from_config(checked.resolved()["model"], dtype=checked.dtype, seed=checked.seed)
        except NnrunError as error:
            error.where = f"{label}: {error.where}" if error.where else label
            raise
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(raw)))
    tick = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: a forked one would share numba's state
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        # each process starts `len / jobs` further along the list, so that they compile different kernels first
        results = list(pool.map(_compile_all, [_rotated(raw, k * len(raw) // jobs) for k in range(jobs)]))
    compiled = sum(misses for misses, _ in results)
    return Compiled(compiled, len(raw), jobs, time.perf_counter() - tick, results[0][1])


def _rotated(items: list, start: int) -> list:
    return items[start:] + items[:start]


def _compile_all(configs: list[tuple[str, dict[str, Any]]]) -> tuple[int, str]:
    """In a worker: run every config's kernels once; (signatures it compiled, numba's cache folder)."""
    from nnrun import kernels
    from nnrun.kernels.cache import KernelBusy, skip_busy

    queue, held_up = deque(configs), 0
    while queue:
        label, config = queue.popleft()
        try:
            with skip_busy(held_up < len(queue)):  # when all the others are held up too, wait on this one
                compile_config(config_from_dict(config, source=label))
            held_up = 0
        except KernelBusy:
            queue.append((label, config))
            held_up += 1
    return kernels.compiles(), os.path.dirname(kernels.loss.softmax_cross_entropy.stats.cache_path)


def compile_config(config: Config) -> None:
    """Compile (or load from numba's cache) the kernels a run of `config` calls, on a batch of zeros.

    A sweep's driver calls it for each point before its workers start, so that they load the kernels from
    the cache instead of all compiling them at once. A model that does not build raises its ShapeError.
    """
    resolved = config.resolved()
    model = Sequential.from_config(resolved["model"], dtype=config.dtype, seed=config.seed)
    xb = np.zeros((2, *model.input_shape), dtype=config.dtype)
    run_kernels_once(model, LOSSES.build(resolved["loss"]), config, xb, np.zeros(2, dtype=np.int64))


def compile_model(model: Sequential, loss, config: Config, xb: np.ndarray, yb: np.ndarray) -> float:
    """Run a run's kernels once on a throwaway copy of `model`; the seconds it took (mostly compiling, or
    loading from numba's cache)."""
    tick = time.perf_counter()
    run_kernels_once(copy.deepcopy(model), loss, config, xb, yb)
    return time.perf_counter() - tick


def run_kernels_once(model: Sequential, loss, config: Config, xb: np.ndarray, yb: np.ndarray) -> None:
    """One training step and one evaluation pass of `model` (changed by it) on the batch (xb, yb)."""
    logits = model.forward(xb, train=True)
    _, dlogits = loss.value_and_grad(logits, yb)
    model.backward(dlogits, input_grad=False)
    opt = config.optimizer
    optimizer = OPTIMIZERS.build(opt.spec())
    params = model.params(opt.weight_decay, opt.decay_bias)
    if opt.clip_norm:
        clip_grad_norm(params, opt.clip_norm)
    optimizer.setup(params)
    optimizer.step(float(opt.lr))
    model.forward(xb, train=False)
