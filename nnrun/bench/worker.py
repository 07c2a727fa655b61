"""A benchmark worker: one framework training one model in its own process, driven by the parent over stdin.

    python -m nnrun.bench.worker FRAMEWORK MODEL THREADS DATA_KIND

FRAMEWORK is nnrun, torch or jax, DATA_KIND auto (Fashion-MNIST when loadable) or synthetic. The worker says
ready with what it loaded, then answers JSON lines (nnrun.bench.timing.Worker is the other end).
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from nnrun.bench.models import FASHION, IMAGE_SHAPE, MODELS, SYNTHETIC, TRAIN_EXAMPLES, run_config
from nnrun.bench.roofline import step_ops
from nnrun.data import Dataset, Loader, Split, batches, load_dataset
from nnrun.errors import NnrunError
from nnrun.registry import DATASETS


def serve(framework: str, model: str, threads: int, data_kind: str) -> None:
    """Worker main loop: set up, say ready, then answer {"op": "run" | "stats" | "quit"} lines on stdin."""
    # The protocol gets its own copy of stdout; anything else printed goes to stderr.
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    try:
        # the nnrun Trainer's run folder: train_step writes nothing, and it goes when the worker ends
        with tempfile.TemporaryDirectory(prefix="nnrun-bench-") as scratch:
            if framework == "nnrun":
                step, info = setup_nnrun(model, threads, data_kind, Path(scratch))
            elif framework == "torch":
                step, info = setup_torch(model, threads, data_kind)
            else:
                step, info = setup_jax(model, threads, data_kind)
            split, batch_size = info.pop("split"), info["batch_size"]
            shuffle = np.random.default_rng(0)  # the same seed in every worker: the same batches
            send({"ready": True, **info})
            for line in sys.stdin:
                command = json.loads(line)
                if command["op"] == "run":
                    tick = time.perf_counter()
                    stream = batches(split, batch_size, np.float32, rng=shuffle)
                    for _, (xb, yb) in zip(range(command["batches"]), stream):
                        step(xb, yb)
                    send({"seconds": time.perf_counter() - tick})
                elif command["op"] == "stats":
                    send({"rss_mb": peak_rss_mb()})
                else:
                    break
    except Exception as error:  # the parent shows it with the worker's stderr
        traceback.print_exc()
        send({"error": f"{type(error).__name__}: {error}"})
        sys.exit(1)


def setup_nnrun(model: str, threads: int, data_kind: str, folder: Path):
    """A Trainer for the model; its train_step is what `nnrun train` runs for every batch."""
    # the nnrun worker only: the torch worker's peak RSS leaves out the trainer and all it imports
    import threadpoolctl

    from nnrun.config import config_from_dict
    from nnrun.runs.folder import RunFolder
    from nnrun.runs.trainer import Trainer
    from nnrun.runtime import versions

    # The Trainer loads the data itself; trying Fashion-MNIST through it keeps one copy in memory.
    section = FASHION if data_kind == "auto" else register_synthetic()
    try:
        trainer = Trainer(config_from_dict(run_config(model, section, threads)), RunFolder(folder))
    except NnrunError:
        if section is not FASHION:
            raise
        section = register_synthetic()
        trainer = Trainer(config_from_dict(run_config(model, section, threads)), RunFolder(folder))
    split = trainer.dataset.splits["train"]
    blas = [
        {k: pool.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for pool in threadpoolctl.threadpool_info()
        if pool.get("user_api") == "blas"
    ]
    info = {
        "split": split,
        "data": section["dataset"],
        "batch_size": trainer.batch_size,
        "examples": len(split),
        "steps_per_epoch": trainer.steps_per_epoch,
        "forward_flops": sum(row.flops for row in trainer.model.summary()),
        # the ops of one training step of the model the trainer trains, for the parent's roofline
        "step_ops": [[op.name, op.flops, op.bytes] for op in step_ops(trainer.model, trainer.batch_size)],
        "params": trainer.model.num_params(),
        "versions": {**versions(), "blas": blas},
    }
    return trainer.train_step, info


def setup_torch(model: str, threads: int, data_kind: str):
    """The same network in torch (nnrun.bench.torch_models), Adam 1e-3 and cross-entropy, at `threads`."""
    import torch  # the torch worker only: torch is optional

    from nnrun.bench import torch_models  # imports torch

    torch.set_num_threads(threads)
    section, dataset = load_training_set(data_kind)
    split = dataset.splits["train"]
    config = MODELS[model]
    network = torch_models.build(config["layers"], config["input_shape"], dataset.input_shape)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    network.train()

    def step(xb, yb) -> None:
        x, y = torch.from_numpy(xb), torch.from_numpy(yb)
        optimizer.zero_grad()
        logits = network(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        # what nnrun's train_step does per batch too: read the loss and count the correct predictions
        loss.item()
        int((logits.argmax(dim=1) == y).sum())

    info = {
        "split": split,
        "data": section["dataset"],
        "batch_size": config["batch_size"],
        "examples": len(split),
        "steps_per_epoch": math.ceil(len(split) / config["batch_size"]),
        "forward_flops": None,
        "params": sum(p.numel() for p in network.parameters()),
        "versions": {"torch": torch.__version__, "threads": torch.get_num_threads(), "config": torch_config()},
    }
    return step, info


def setup_jax(model: str, threads: int, data_kind: str):
    """The same network in JAX (nnrun.bench.jax_models), optax Adam 1e-3 and cross-entropy, at `threads`.

    The training step is compiled here, before the warm-up; info["compile_seconds"] says how long it took.
    """
    # XLA sizes its CPU thread pools (tf_XLAEigen, and its executor's) from NPROC when its CPU client starts;
    # --xla_cpu_multi_thread_eigen=false in XLA_FLAGS limited nothing in jaxlib 0.10. The executor thread
    # works beside the pool: about 1.2 cores busy at --threads 1 (benchmarks/README.md, "JAX").
    os.environ["NPROC"] = str(threads)
    os.environ["JAX_PLATFORMS"] = "cpu"  # the benchmark compares CPUs: no accelerator, no probing for one
    import jax  # the jax worker only: jax and optax are optional (the bench extra)
    import jaxlib
    import optax

    from nnrun.bench import jax_models  # imports jax

    section, dataset = load_training_set(data_kind)
    split = dataset.splits["train"]
    config = MODELS[model]
    network = jax_models.build(config["layers"], config["input_shape"], dataset.input_shape)
    optimizer = optax.adam(1e-3)
    params = network.init(jax.random.PRNGKey(0))
    opt_state = optimizer.init(params)
    jitted = jax_models.train_step(network, optimizer)
    batch_size = config["batch_size"]
    example = (np.zeros((batch_size, *dataset.input_shape), np.float32), np.zeros(batch_size, np.int32))
    tick = time.perf_counter()
    compiled = jitted.lower(params, opt_state, *example, step_key(0)).compile()
    compile_seconds = time.perf_counter() - tick
    count = 0

    def step(xb, yb) -> None:
        nonlocal params, opt_state, count
        count += 1
        run = compiled if len(xb) == batch_size else jitted  # a short last batch compiles once more
        params, opt_state, loss = run(params, opt_state, xb, yb.astype(np.int32), step_key(count))
        # JAX dispatches asynchronously: reading the loss waits for the step, as torch's loss.item() does
        # (no count of correct predictions: train_step returns no logits)
        float(loss)

    info = {
        "split": split,
        "data": section["dataset"],
        "batch_size": batch_size,
        "examples": len(split),
        "steps_per_epoch": math.ceil(len(split) / batch_size),
        "forward_flops": None,
        "params": jax_models.num_params(params),
        "compile_seconds": compile_seconds,
        "versions": {
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "optax": optax.__version__,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "nproc": os.environ["NPROC"],
            "xla_pool_threads": thread_names().get("tf_XLAEigen"),
            "device": str(jax.devices()[0]),
        },
    }
    return step, info


def step_key(step: int) -> np.ndarray:
    """A raw threefry PRNG key for one training step, made on the host: no device call per step."""
    return np.array([0, step], dtype=np.uint32)


def thread_names() -> dict[str, int]:
    """How many of this process's threads bear each name (Linux; empty elsewhere)."""
    try:
        return dict(Counter((task / "comm").read_text().strip() for task in Path("/proc/self/task").iterdir()))
    except OSError:
        return {}


def torch_config() -> str:
    """torch's CPU build in one line (oneDNN, OpenMP, CPU capability, BLAS), from torch.__config__.show()."""
    import torch  # the torch worker only: torch is optional

    text = torch.__config__.show()
    wanted = [
        line.strip(" -") for line in text.splitlines() if re.search(r"MKL-DNN|oneDNN|OpenMP|CPU capability", line)
    ]
    wanted += re.findall(r"BLAS_INFO=\w+", text)
    return "; ".join(wanted)


def register_synthetic() -> dict[str, Any]:
    """Register a loader of random uint8 images shaped like Fashion-MNIST's training set (benchmark only).

    Called in the benchmark's child processes only, so the registry nnrun's own code and tests see is never
    changed. Returns the data section that loads it.
    """
    if SYNTHETIC not in DATASETS:

        @DATASETS.register(SYNTHETIC)
        class BenchImages(Loader):
            """Random 28x28 uint8 images with random labels, 60000 of them (benchmark stand-in)."""

            def load(self, seed: int) -> Dataset:
                rng = np.random.default_rng(seed)
                x = rng.integers(0, 256, (TRAIN_EXAMPLES, *IMAGE_SHAPE), dtype=np.uint8)
                y = rng.integers(0, 10, TRAIN_EXAMPLES)
                return Dataset(SYNTHETIC, {"train": Split(x, y)}, IMAGE_SHAPE, 10)

    return {"dataset": SYNTHETIC}


def load_training_set(data_kind: str) -> tuple[dict[str, Any], Dataset]:
    """(data section, Dataset): Fashion-MNIST's 60000 training images when loadable, else the stand-in."""
    if data_kind == "auto":
        try:
            return FASHION, load_dataset(FASHION, 0)
        except NnrunError:
            pass
    section = register_synthetic()
    return section, load_dataset(section, 0)


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    framework, model, threads, data_kind = sys.argv[1:]
    serve(framework, model, int(threads), data_kind)
