"""Training speed of nnrun beside PyTorch on the reports' three models: `nnrun bench` and benchmarks/bench.py.

How it measures (benchmarks/README.md has the figures):
- Each framework trains each model in its own worker subprocess, so each one's peak RSS (VmHWM) is its own.
  The parent drives the two workers in turn, one repetition each, alternating which goes first, and never
  lets them run at once; on a shared, noisy machine the ratio of neighbouring repetitions stays meaningful.
- nnrun runs through `Trainer.train_step` of a Trainer built from a config, as `nnrun train` does: forward,
  loss, backward, Adam, accuracy bookkeeping. Both frameworks take the same float32 batches from
  `nnrun.data.batches`, shuffled by generators of the same seed; torch wraps them with `torch.from_numpy`.
- A repetition is one epoch (or `batches` batches, extrapolated to an epoch); a warm-up of `warmup` batches
  before the repetitions (JIT compile, first allocations) is not timed. The figure is the median.
- Training FLOPs per epoch = 3 x forward FLOPs (nnrun's `model.summary()`) x examples: backward costs about
  twice the forward (one GEMM for the input gradient, one for the weight gradient per forward GEMM).
  Both frameworks are credited with the same count; the sgemm peak is a large np.matmul at the same threads.

The parent imports nothing heavy at module level, so `python -m nnrun.bench worker ...` starts lean.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FRAMEWORKS = ("nnrun", "torch")
SYNTHETIC = "bench_synthetic"
FASHION = {"dataset": "fashion_mnist", "val": 0}
TRAIN_EXAMPLES, IMAGE_SHAPE = 60000, (1, 28, 28)  # Fashion-MNIST's training set, for the synthetic stand-in
FIRST_BATCH_MODEL = "cnn"

# The three networks of issue 4, as nnrun model sections; benchmarks/torch_models.py builds the same in torch.
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


class BenchError(RuntimeError):
    """A worker failed; the message carries the end of its stderr."""


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


# --- the parent ---------------------------------------------------------------------------------
def run(
    models: list[str] | tuple[str, ...] = ("mlp", "cnn", "cnn7"),
    *,
    reps: int = 3,
    batches: int | None = None,
    warmup: int = 20,
    threads: int | None = None,
    torch: bool = True,
    synthetic: bool = False,
    startup: bool = True,
    peak_size: int = 4096,
    progress=None,
    command: str | None = None,
) -> dict[str, Any]:
    """Benchmark `models` and return the results as a JSON-ready dict (see `report` for the table).

    batches: time this many batches per repetition and extrapolate to an epoch (None: whole epochs).
    torch: also time PyTorch when it is importable. startup: also time `nnrun --help` and the first batch.
    progress: a callable taking a line of text, told what is being measured. command: recorded as given.
    """
    import importlib.util

    unknown = [m for m in models if m not in MODELS]
    if unknown:
        from nnrun.errors import ConfigError

        raise ConfigError(f"unknown model(s) {', '.join(unknown)}", hint=f"models: {', '.join(MODELS)}")
    say = progress or (lambda text: None)
    threads = threads or os.cpu_count() or 1
    notes = []
    frameworks = ["nnrun"]
    if torch:
        if importlib.util.find_spec("torch") is None:
            notes.append("torch is not importable: nnrun only")
        elif not torch_models_path().is_file():
            notes.append(f"{torch_models_path()} is missing (torch needs a source checkout): nnrun only")
        else:
            frameworks.append("torch")

    say(f"sgemm peak: np.matmul {peak_size}x{peak_size} float32, {threads} thread(s)")
    results: dict[str, Any] = {
        "machine": machine(),
        "threads": threads,
        "reps": reps,
        "batches": batches,
        "warmup_batches": warmup,
        "extrapolated": batches is not None,
        "frameworks": frameworks,
        "sgemm_peak_gflops": sgemm_peak(threads, peak_size),
        "models": [],
        "notes": notes,
        "command": command,
    }
    data_kind = "synthetic" if synthetic else "auto"
    for model in models:
        say(f"{model}: starting {' and '.join(frameworks)} workers")
        before = os.getloadavg()[0]
        row = measure_model(model, frameworks, threads, reps, batches, warmup, data_kind, say)
        # one-minute load averages around the model: far above `threads` means other work shared the cores
        row["load_average"] = [round(before, 2), round(os.getloadavg()[0], 2)]
        results["models"].append(row)
    first = results["models"][0]
    results["data"] = first["data"]
    results["versions"] = {fw: first[fw]["versions"] for fw in frameworks}
    for row in results["models"]:
        for fw in frameworks:
            cell = row[fw]
            cell["gflops"] = row["train_flops_per_epoch"] / cell["seconds_per_epoch"] / 1e9
            cell["peak_percent"] = 100 * cell["gflops"] / results["sgemm_peak_gflops"]
        row["ratio"] = row["nnrun"]["seconds_per_epoch"] / row["torch"]["seconds_per_epoch"] if "torch" in row else None
    if startup:
        say("nnrun --help, 5 times")
        results["help_seconds"] = help_seconds()
        say(f"first batch of `nnrun train` ({FIRST_BATCH_MODEL}): cold numba cache once, then warm 3 times")
        results["first_batch"] = first_batch(FIRST_BATCH_MODEL, threads, results["data"] == "synthetic")
    return results


def measure_model(model, frameworks, threads, reps, batches, warmup, data_kind, say) -> dict[str, Any]:
    """Start one worker per framework, warm each up, then time them in turn, alternating who goes first."""
    workers = {fw: Worker(fw, model, threads, data_kind) for fw in frameworks}
    try:
        ready = {fw: w.receive() for fw, w in workers.items()}
        info = ready["nnrun"]
        if len({r["data"] for r in ready.values()}) != 1:
            raise BenchError(f"the workers loaded different data: {ready}")
        count = batches or info["steps_per_epoch"]
        for fw, w in workers.items():
            say(f"{model}: {fw} warm-up, {min(warmup, count)} batches")
            w.call(op="run", batches=min(warmup, count))
        seconds = {fw: [] for fw in frameworks}
        for rep in range(reps):
            order = frameworks if rep % 2 == 0 else frameworks[::-1]
            for fw in order:
                say(f"{model}: {fw} repetition {rep + 1}/{reps}, {count} batches")
                seconds[fw].append(workers[fw].call(op="run", batches=count)["seconds"])
        row: dict[str, Any] = {
            "model": model,
            "batch_size": info["batch_size"],
            "examples_per_epoch": info["examples"],
            "steps_per_epoch": info["steps_per_epoch"],
            "timed_batches": count,
            "data": info["data"],
            "forward_flops_per_example": info["forward_flops"],
            "train_flops_per_epoch": 3 * info["forward_flops"] * info["examples"],
            "params": info["params"],
        }
        scale = info["steps_per_epoch"] / count  # whole epochs when count == steps_per_epoch
        for fw, w in workers.items():
            per_epoch = [s * scale for s in seconds[fw]]
            row[fw] = {
                "seconds_per_epoch": statistics.median(per_epoch),
                "reps": per_epoch,
                "rss_mb": w.call(op="stats")["rss_mb"],
                "versions": ready[fw]["versions"],
            }
        return row
    finally:
        for w in workers.values():
            w.close()


def worker_env(framework: str) -> dict[str, str]:
    """The environment of a worker: torch's runs with the thread settings it would have without nnrun."""
    import nnrun

    env = dict(os.environ)
    if framework == "torch":
        for key in nnrun.thread_defaults_set:
            env.pop(key, None)
        env["NNRUN_THREAD_DEFAULTS"] = "0"
    return env


class Worker:
    """The parent's handle on one worker subprocess: JSON lines over its stdin and stdout."""

    def __init__(self, framework: str, model: str, threads: int, data_kind: str):
        self.framework = framework
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nnrun.bench", "worker", framework, model, str(threads), data_kind],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=worker_env(framework),
        )  # fmt: skip

    def receive(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        message = json.loads(line) if line else {"error": "the worker exited"}
        if "error" in message:
            self.proc.wait(timeout=30)
            self.log.seek(0)
            tail = self.log.read().decode(errors="replace")[-3000:]
            raise BenchError(f"{self.framework} worker: {message['error']}\n{tail}")
        return message

    def call(self, **command: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def sgemm_peak(threads: int, size: int = 4096, repeats: int = 5) -> float:
    """Best GFLOP/s of a float32 size x size np.matmul with BLAS at `threads` threads."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    best = math.inf
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=out)
        for _ in range(repeats):
            tick = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - tick)
    return 2 * size**3 / best / 1e9


def nnrun_command() -> list[str]:
    """The installed `nnrun` script beside this Python, else `python -m nnrun`."""
    script = Path(sys.executable).with_name("nnrun")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "nnrun"]


def help_seconds(repeats: int = 5) -> float:
    """Median wall time of `nnrun --help` in a fresh process."""
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        subprocess.run([*nnrun_command(), "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def first_batch(model: str, threads: int, synthetic: bool, warm_repeats: int = 3) -> dict[str, Any]:
    """Seconds from starting `nnrun train` to the end of its first training step, cold and warm numba cache.

    The child process runs the real CLI (`nnrun train CONFIG --quiet`) after patching the trainer's silent
    reporter, whose `batch` is called when a step ends, to report the time and exit at once. The clock is
    CLOCK_MONOTONIC, shared by parent and child. Cold: NUMBA_CACHE_DIR is a new empty folder, so every
    kernel compiles; warm: the same folder again, now filled. Python's own bytecode cache stays warm.
    """
    import yaml

    with tempfile.TemporaryDirectory(prefix="nnrun-bench-") as tmp:
        tmp = Path(tmp)
        data = {"dataset": SYNTHETIC} if synthetic else FASHION
        config = tmp / "first_batch.yaml"
        config.write_text(yaml.safe_dump(run_config(model, data, threads, name="first_batch"), sort_keys=False))
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "numba_cache")}

        def once(index: int) -> dict[str, float]:
            command = [sys.executable, "-m", "nnrun.bench", "first-batch", str(config), str(tmp / f"run{index}")]
            if synthetic:
                command.append("synthetic")
            tick = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp)
            lines = done.stdout.strip().splitlines()
            if done.returncode != 0 or not lines:
                raise BenchError(f"first-batch run failed ({done.returncode}):\n{done.stderr[-3000:]}")
            message = json.loads(lines[-1])
            return {"seconds": message["at"] - tick, "jit_seconds": message["jit_seconds"]}

        cold = once(0)
        warm = [once(i + 1) for i in range(warm_repeats)]
    middle = sorted(warm, key=lambda r: r["seconds"])[len(warm) // 2]
    return {
        "model": model,
        "cold_seconds": cold["seconds"],
        "cold_jit_seconds": cold["jit_seconds"],
        "warm_seconds": middle["seconds"],
        "warm_jit_seconds": middle["jit_seconds"],
    }


def machine() -> dict[str, Any]:
    import platform

    model, flags = platform.processor(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model.startswith("Intel"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "avx512": "avx512f" in flags.split(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


# --- output -------------------------------------------------------------------------------------
def rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table as header and text rows, shared by the rich table and the Markdown one."""
    header = ["model", "nnrun s/epoch", "torch s/epoch", "nnrun/torch", "nnrun GFLOP/s (% peak)",
              "torch GFLOP/s (% peak)", "nnrun RSS MB", "torch RSS MB"]  # fmt: skip
    body = []
    for row in results["models"]:
        cells = [f"{row['model']} (batch {row['batch_size']})"]
        for fw in FRAMEWORKS:
            cells.append(f"{row[fw]['seconds_per_epoch']:.2f}" if fw in row else "–")
        cells.append(f"{row['ratio']:.2f}" if row.get("ratio") else "–")
        for fw in FRAMEWORKS:
            cells.append(f"{row[fw]['gflops']:.0f} ({row[fw]['peak_percent']:.0f}%)" if fw in row else "–")
        for fw in FRAMEWORKS:
            cells.append(f"{row[fw]['rss_mb']:.0f}" if fw in row else "–")
        body.append(cells)
    return header, body


def footnotes(results: dict[str, Any]) -> list[str]:
    lines = []
    how = (
        f"{results['batches']} batches per repetition, extrapolated to an epoch; short repetitions miss "
        "slowdowns that set in later in training"
        if results["extrapolated"]
        else "whole epochs"
    )
    lines.append(
        f"{results['threads']} thread(s); median of {results['reps']} repetitions ({how}) after "
        f"{results['warmup_batches']} warm-up batches; data: {results['data']}."
    )
    lines.append(
        f"sgemm peak {results['sgemm_peak_gflops']:.0f} GFLOP/s; training FLOPs = 3 x forward FLOPs "
        "(forward + input gradient + weight gradient)."
    )
    if "help_seconds" in results:
        lines.append(f"`nnrun --help`: {results['help_seconds']:.2f} s (median of 5).")
    if "first_batch" in results:
        fb = results["first_batch"]
        lines.append(
            f"`nnrun train` ({fb['model']}) start to end of first batch: cold numba cache {fb['cold_seconds']:.1f} s "
            f"(JIT warm-up {fb['cold_jit_seconds']:.1f} s), warm {fb['warm_seconds']:.2f} s "
            f"(JIT warm-up {fb['warm_jit_seconds']:.2f} s)."
        )
    busy = [row["model"] for row in results["models"] if max(row.get("load_average", [0])) > results["threads"] + 1]
    if busy:
        lines.append(f"other work was running during {', '.join(busy)} (load average above {results['threads'] + 1}).")
    lines.extend(results["notes"])
    return lines


def report(results: dict[str, Any], console=None) -> None:
    """Print the results as a rich table with its footnotes."""
    from rich.console import Console
    from rich.table import Table

    # wide enough for the eight columns when the output is a pipe or a file (rich assumes 80 there)
    console = console or (Console() if sys.stdout.isatty() else Console(width=160))
    header, body = rows(results)
    table = Table(title=f"training speed, {results['machine']['cpu']}", title_justify="left")
    for index, column in enumerate(header):
        table.add_column(column, justify="left" if index == 0 else "right")
    for cells in body:
        table.add_row(*cells)
    console.print(table)
    for line in footnotes(results):
        console.print(line, highlight=False)


def markdown(results: dict[str, Any]) -> str:
    """The same table as GitHub Markdown, for benchmarks/README.md."""
    header, body = rows(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines + [""] + footnotes(results)) + "\n"


# --- the workers (subprocesses) ------------------------------------------------------------------
def torch_models_path() -> Path:
    return Path(__file__).resolve().parents[1] / "benchmarks" / "torch_models.py"


def register_synthetic() -> dict[str, Any]:
    """Register a loader of random uint8 images shaped like Fashion-MNIST's training set (benchmark only).

    Called in worker processes only, so the registry nnrun's own code and tests see is never changed.
    """
    import numpy as np

    from nnrun.data.base import Dataset, Loader, Split
    from nnrun.registry import DATASETS

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


def load_training_set(data_kind: str):
    """(data section, Dataset): Fashion-MNIST's 60000 training images when loadable, else the stand-in."""
    from nnrun.data import load_dataset
    from nnrun.errors import NnrunError

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
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve(framework: str, model: str, threads: int, data_kind: str) -> None:
    """Worker main loop: set up, say ready, then answer {"op": "run" | "stats" | "quit"} lines on stdin."""
    # The protocol gets its own copy of stdout; anything else printed goes to stderr.
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    try:
        setup = setup_nnrun if framework == "nnrun" else setup_torch
        step, info = setup(model, threads, data_kind)
        import numpy as np

        from nnrun.data import batches

        split, batch_size = info.pop("split"), info["batch_size"]
        shuffle = np.random.default_rng(0)  # the same seed in both workers: the same batches
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
        import traceback

        traceback.print_exc()
        send({"error": f"{type(error).__name__}: {error}"})
        sys.exit(1)


def setup_nnrun(model: str, threads: int, data_kind: str):
    """A Trainer for the model; its train_step is what `nnrun train` runs for every batch."""
    import threadpoolctl

    from nnrun import __version__
    from nnrun.config import config_from_dict
    from nnrun.errors import NnrunError
    from nnrun.runtime import versions
    from nnrun.trainer import Silent, Trainer

    # The Trainer loads the data itself; trying Fashion-MNIST through it keeps one copy in memory.
    section = FASHION if data_kind == "auto" else register_synthetic()
    try:
        trainer = Trainer(config_from_dict(run_config(model, section, threads)), Silent())
    except NnrunError:
        if section is not FASHION:
            raise
        section = register_synthetic()
        trainer = Trainer(config_from_dict(run_config(model, section, threads)), Silent())
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
        "params": trainer.model.num_params(),
        "versions": {**versions(), "nnrun": __version__, "blas": blas},
    }
    return trainer.train_step, info


def setup_torch(model: str, threads: int, data_kind: str):
    """The same network in torch (benchmarks/torch_models.py), Adam 1e-3 and cross-entropy, at `threads`."""
    import importlib.util
    import math as _math

    import torch

    torch.set_num_threads(threads)
    spec = importlib.util.spec_from_file_location("torch_models", torch_models_path())
    torch_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(torch_models)

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
        "steps_per_epoch": _math.ceil(len(split) / config["batch_size"]),
        "forward_flops": None,
        "params": sum(p.numel() for p in network.parameters()),
        "versions": {"torch": torch.__version__, "threads": torch.get_num_threads(), "config": torch_config()},
    }
    return step, info


def torch_config() -> str:
    """torch's CPU build in one line (oneDNN, OpenMP, CPU capability, BLAS), from torch.__config__.show()."""
    import re

    import torch

    text = torch.__config__.show()
    wanted = [
        line.strip(" -") for line in text.splitlines() if re.search(r"MKL-DNN|oneDNN|OpenMP|CPU capability", line)
    ]
    wanted += re.findall(r"BLAS_INFO=\w+", text)
    return "; ".join(wanted)


def first_batch_child(config: str, out: str, synthetic: bool) -> None:
    """Run `nnrun train CONFIG --quiet --out OUT`; at the end of the first step print the time and exit."""
    from nnrun import trainer as api

    if synthetic:
        register_synthetic()
    seen: dict[str, Any] = {}

    def start(self, trainer) -> None:
        seen["trainer"] = trainer

    def batch(self, loss, acc, samples) -> None:
        print(json.dumps({"at": time.perf_counter(), "jit_seconds": seen["trainer"].jit_seconds}), flush=True)
        os._exit(0)

    api.Silent.start, api.Silent.batch = start, batch
    from nnrun.cli import app

    app(["train", config, "--quiet", "--out", out])


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "worker":
        framework, model, threads, data_kind = args
        serve(framework, model, int(threads), data_kind)
    elif mode == "first-batch":
        first_batch_child(args[0], args[1], synthetic=args[2:] == ["synthetic"])
    else:
        sys.exit(f"unknown mode {mode!r}: use `nnrun bench` or benchmarks/bench.py")
