"""Compiling nnrun's numba kernels ahead of training: a run's model, a sweep's points, `nnrun compile`.

numba compiles a kernel the first time it is called with a new type signature, seconds apiece, and caches
it per CPU, next to the package or in NUMBA_CACHE_DIR (nnrun/kernels/cache.py keeps those files sound and
locks a kernel while one process compiles it). Compiling is single-threaded, so the kernels are compiled by
several processes at once: a pass over the model in which no kernel runs lists the ones numba's cache
lacks, by type signature, in milliseconds (`uncached_kernels`), and this process and helper processes go
through that list together, each taking the next kernel nobody is compiling. When the cache holds them
all, the list is empty and no helper starts. Three callers:
- a run: `compile_model`, so that the compile time is reported apart from the first epoch's;
- a sweep's driver: `compile_config` for each point, before the workers start, so that they load the
  kernels instead of all compiling them at once;
- `nnrun compile`: `compile_models` over a catalog of small models that between them call every kernel
  of the layers, the softmax loss and the optimizers (or over the configs given).
Cold-start figures are in benchmarks/README.md.
"""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from nnrun import kernels
from nnrun.config import Config
from nnrun.config.validate import config_from_dict
from nnrun.errors import NnrunError
from nnrun.kernels import cache
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

    configs: (label, Config or raw config dict). jobs: processes at once, this one included (None: the
    machine's cores, at most one per kernel to compile). A config that does not validate, or whose model
    does not build, raises its ConfigError or ShapeError, naming its label, before any kernel compiles.
    """
    tick = time.perf_counter()
    passes = []
    for label, config in configs:
        checked = config_from_dict(config.resolved() if isinstance(config, Config) else config, source=label)
        try:
            passes.append(zero_batch(checked))
        except NnrunError as error:
            error.where = f"{label}: {error.where}" if error.where else label
            raise
    listed: list[tuple[str, Any]] = []
    unfinished = []  # passes that could not list every kernel they call
    for one in passes:
        found, complete = uncached_kernels(*one)
        listed += [pair for pair in found if pair not in listed]
        if not complete:
            unfinished.append(one)
    helpers = start_helpers(listed, jobs)
    try:
        cache.compile_uncached(listed)
        for helper in helpers:  # compiling what this process found them compiling
            helper.wait()
    finally:
        stop_helpers(helpers)
    before = kernels.compiles()
    for name, sig in listed:  # what a helper failed on: compiled here, where its error is raised
        if not cache.in_cache(cache.kernel(name), sig):
            cache.kernel(name).compile(sig)
    for one in unfinished:
        run_kernels_once(*one)
    cache_folder = os.path.dirname(kernels.loss.softmax_cross_entropy.stats.cache_path)
    compiled = len(listed) + kernels.compiles() - before
    return Compiled(compiled, len(passes), 1 + len(helpers), time.perf_counter() - tick, cache_folder)


def compile_config(config: Config, jobs: int | None = None) -> None:
    """Compile (or load from numba's cache) the kernels a run of `config` calls, on a batch of zeros.

    A sweep's driver calls it for each point before its workers start, so that they load the kernels from
    the cache instead of all compiling them at once. A model that does not build raises its ShapeError.
    """
    compile_model(*zero_batch(config), jobs=jobs)


def zero_batch(config: Config) -> tuple[Sequential, Any, Config, np.ndarray, np.ndarray]:
    """The arguments of `run_kernels_once` for `config`'s model on a batch of two zero examples."""
    resolved = config.resolved()
    model = Sequential.from_config(resolved["model"], dtype=config.dtype, seed=config.seed)
    xb = np.zeros((2, *model.input_shape), dtype=config.dtype)
    return model, LOSSES.build(resolved["loss"]), config, xb, np.zeros(2, dtype=np.int64)


def compile_model(
    model: Sequential, loss, config: Config, xb: np.ndarray, yb: np.ndarray, jobs: int | None = None
) -> float:
    """Compile (or load from numba's cache) the kernels of a training step and an evaluation of `model` on
    the batch (xb, yb), in up to `jobs` processes when several are missing (None: one per core); the
    seconds it took. `model` is left as it was."""
    tick = time.perf_counter()
    # with no helper to share it, the list would only cost a pass and a copy of the model
    listed = uncached_kernels(model, loss, config, xb, yb)[0] if can_share(jobs) else []
    helpers = start_helpers(listed, jobs)
    try:
        cache.compile_uncached(listed)  # this process's share; then the pass loads the others' and any not listed
        run_kernels_once(copy.deepcopy(model), loss, config, xb, yb)
    finally:
        stop_helpers(helpers)  # this process holds every kernel listed by now: what they do next is of no use
    return time.perf_counter() - tick


def uncached_kernels(
    model: Sequential, loss, config: Config, xb: np.ndarray, yb: np.ndarray
) -> tuple[list[tuple[str, Any]], bool]:
    """The (kernel name, type signature) pairs that `run_kernels_once` calls and numba's cache lacks, in call
    order, found without compiling any (cache.listing_uncached) on a copy of `model`, and whether the
    pass got to its end. ([], False) where it cannot start: a kernel is loaded already, or numba's JIT is off.
    """
    if numba.config.DISABLE_JIT or cache.any_loaded():
        return [], False
    with cache.listing_uncached() as listed, np.errstate(all="ignore"):  # arrays no kernel wrote hold anything
        try:
            run_kernels_once(copy.deepcopy(model), loss, config, xb, yb)
        except Exception:  # the same arrays can derail the Python between kernels: the list so far still holds
            return listed, False
    return listed, True


# A helper is a fresh interpreter on the parent's sys.path, sent the list on stdin: a pickle, as
# multiprocessing would send it, of numba type objects. multiprocessing itself would run the parent's
# __main__ again in it, the script of a user who called nnrun.train() at its top level included.
HELPER = """
import pickle, sys
path, listed = pickle.load(sys.stdin.buffer)
sys.path[:] = path
from nnrun.kernels import cache
cache.compile_uncached(pickle.loads(listed))
"""


def can_share(jobs: int | None) -> bool:
    """Whether helper processes can share the compiling: more than one job (None: the cores), lock files
    (without them, all would compile all) and an interpreter to start."""
    return (jobs or os.cpu_count() or 1) > 1 and cache.LOCKING and bool(sys.executable)


def start_helpers(listed: Sequence[tuple[str, Any]], jobs: int | None = None) -> list[subprocess.Popen]:
    """Start processes that compile `listed` beside this one (cache.compile_uncached): jobs - 1 of them
    (None: one per core but this one's), at most one per pair but the first; none where they cannot help.
    Their output goes nowhere: this process's own pass reports whatever they would."""
    count = min(jobs or os.cpu_count() or 1, len(listed)) - 1
    if count < 1 or not can_share(jobs):
        return []
    message = pickle.dumps((sys.path, pickle.dumps(listed)))
    helpers = []
    for _ in range(count):
        try:
            helper = subprocess.Popen(
                [sys.executable, "-c", HELPER], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError:  # no process to spare: this one compiles the rest
            break
        helpers.append(helper)
        try:
            helper.stdin.write(message)
            helper.stdin.close()
        except OSError:  # it died at once; the caller waits for it all the same
            pass
    return helpers


def stop_helpers(helpers: Sequence[subprocess.Popen]) -> None:
    """End the helpers still running (their compile of a kernel is lost, its lock freed) and wait for them all."""
    for helper in helpers:
        if helper.poll() is None:
            helper.terminate()
        helper.wait()


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
