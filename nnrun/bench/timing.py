"""The parent of `nnrun bench`: drives the workers in turn and times start-up, on a machine it describes.

It imports nothing heavy at module level: every worker and the first-batch child import this package.
"""

from __future__ import annotations

import importlib.util
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

import yaml

import nnrun
from nnrun.bench.models import FASHION, MODELS, SYNTHETIC, run_config
from nnrun.bench.roofline import Op, roofline
from nnrun.errors import ConfigError
from nnrun.runtime import machine

FIRST_BATCH_MODEL = "cnn"
FRAMEWORKS = ("nnrun", "torch", "jax")  # nnrun first: the ratios are nnrun's time over each peer's
MODULES = {"torch": ("torch",), "jax": ("jax", "jaxlib", "optax")}  # what each peer's worker imports
INSTALL = {
    "torch": "pip install torch --index-url https://download.pytorch.org/whl/cpu",
    "jax": "pip install 'nnrun[bench]'",
}


class BenchError(RuntimeError):
    """A worker failed; the message carries the end of its stderr."""


def run(
    models: list[str] | tuple[str, ...] = ("mlp", "cnn", "cnn7"),
    *,
    frameworks: list[str] | tuple[str, ...] | None = None,
    reps: int = 3,
    batches: int | None = None,
    warmup: int = 20,
    threads: int | None = None,
    torch: bool = True,
    synthetic: bool = False,
    startup: bool = True,
    peak_size: int = 4096,
    triad_mb: int = 128,
    progress=None,
    command: str | None = None,
) -> dict[str, Any]:
    """Benchmark `models` and return the results as a JSON-ready dict (see `report` for the table).

    frameworks: nnrun and the peers to time beside it (None: all of FRAMEWORKS); a peer that is not
    installed is listed under "not_installed" instead. torch=False leaves torch out (and with frameworks
    None, as before there was a choice, times nnrun alone).
    batches: time this many batches per repetition and extrapolate to an epoch (None: whole epochs).
    startup: also time `nnrun --help` and the first batch.
    peak_size, triad_mb: the matrix size of the sgemm peak, the MB of each array of the memory-bandwidth triad.
    Each model's roofline (nnrun/bench/roofline.py) is computed from these two measurements.
    progress: a callable taking a line of text, told what is being measured. command: recorded as given.
    """
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)}", hint=f"models: {', '.join(MODELS)}")
    if frameworks is None:
        frameworks = FRAMEWORKS if torch else ("nnrun",)
    requested = [fw for fw in FRAMEWORKS if fw in frameworks and (torch or fw != "torch")]
    strange = [fw for fw in frameworks if fw not in FRAMEWORKS]
    if strange or "nnrun" not in requested:
        raise ConfigError(
            f"frameworks {', '.join(frameworks)}: " + (f"unknown {', '.join(strange)}" if strange else "no nnrun"),
            hint=f"frameworks: {', '.join(FRAMEWORKS)}, nnrun always among them (the ratios and FLOPs are nnrun's)",
        )
    say = progress or (lambda text: None)
    threads = threads or os.cpu_count() or 1
    missing = {fw: f"not installed ({INSTALL[fw]})" for fw in requested if fw != "nnrun" and not installed(fw)}
    frameworks = [fw for fw in requested if fw not in missing]
    notes = [f"{fw}: {message}." for fw, message in missing.items()]

    # the parent only: kept out of the package import, which every worker does (it imports numba)
    from nnrun.bench.bandwidth import triad_bandwidth

    say(f"sgemm peak: np.matmul {peak_size}x{peak_size} float32, {threads} thread(s)")
    peak = sgemm_peak(threads, peak_size)
    say(f"memory bandwidth: triad over 3 float32 arrays of {triad_mb} MB, {threads} thread(s)")
    bandwidth = triad_bandwidth(threads, triad_mb)
    results: dict[str, Any] = {
        "machine": machine(),
        "threads": threads,
        "reps": reps,
        "batches": batches,
        "warmup_batches": warmup,
        "extrapolated": batches is not None,
        "frameworks": frameworks,
        "not_installed": missing,
        "sgemm_peak_gflops": peak,
        "bandwidth_gbs": bandwidth,
        "triad_mb": triad_mb,  # each of the triad's three arrays, the best of 20 passes
        "models": [],
        "notes": notes,
        "command": command,
    }
    data_kind = "synthetic" if synthetic else "auto"
    for model in models:
        say(f"{model}: starting the {', '.join(frameworks)} workers")
        before = os.getloadavg()[0]
        row = measure_model(model, frameworks, threads, reps, batches, warmup, data_kind, say, (peak, bandwidth))
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
            cell["roofline_percent"] = 100 * row["roofline"]["seconds_per_epoch"] / cell["seconds_per_epoch"]
        # nnrun's time over each peer's, from the same run: below 1, nnrun is faster
        row["ratios"] = {fw: row["nnrun"]["seconds_per_epoch"] / row[fw]["seconds_per_epoch"] for fw in frameworks[1:]}
        row["ratio"] = row["ratios"].get("torch")  # nnrun/torch, as the key was before there were more peers
    if startup:
        say("nnrun --help, 5 times")
        results["help_seconds"] = help_seconds()
        say(f"first batch of `nnrun.train` ({FIRST_BATCH_MODEL}): cold numba cache once, then warm 3 times")
        results["first_batch"] = first_batch(FIRST_BATCH_MODEL, threads, results["data"] == "synthetic")
    return results


def measure_model(model, frameworks, threads, reps, batches, warmup, data_kind, say, limits) -> dict[str, Any]:
    """Start one worker per framework, warm each up, then time them in turn, alternating who goes first.

    limits: (sgemm peak GFLOP/s, bandwidth GB/s), for the roofline of the step the nnrun worker describes.
    """
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
        line = roofline([Op(*op) for op in info["step_ops"]], *limits)
        row["roofline"] = {"seconds_per_epoch": line["seconds_per_step"] * info["steps_per_epoch"], **line}
        scale = info["steps_per_epoch"] / count  # whole epochs when count == steps_per_epoch
        for fw, w in workers.items():
            per_epoch = [s * scale for s in seconds[fw]]
            row[fw] = {
                "seconds_per_epoch": statistics.median(per_epoch),
                "reps": per_epoch,
                "rss_mb": w.call(op="stats")["rss_mb"],
                "compile_seconds": ready[fw].get("compile_seconds"),  # before the warm-up, not timed (jax)
                "versions": ready[fw]["versions"],
            }
        return row
    finally:
        for w in workers.values():
            w.close()


def installed(framework: str) -> bool:
    """Whether the modules a peer's worker imports can be found (nnrun's always can)."""
    for module in MODULES.get(framework, ()):
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):  # a parent package that fails to import, a module without a spec
            return False
    return True


def worker_env(framework: str) -> dict[str, str]:
    """The environment of a worker: a peer's runs with the thread settings it would have without nnrun."""
    env = dict(os.environ)
    if framework != "nnrun":
        for key in nnrun.thread_defaults_set:
            env.pop(key, None)
        env["NNRUN_THREAD_DEFAULTS"] = "0"
    return env


class Worker:
    """The parent's handle on one worker subprocess (nnrun.bench.worker): JSON lines over its stdin and stdout."""

    def __init__(self, framework: str, model: str, threads: int, data_kind: str):
        self.framework = framework
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nnrun.bench.worker", framework, model, str(threads), data_kind],
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
    # the parent only: kept out of the package import, which every worker does
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
    """Median wall time of `nnrun --help` in a fresh process: the CLI's own start-up."""
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        subprocess.run([*nnrun_command(), "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def first_batch(
    model: str, threads: int, synthetic: bool, warm_repeats: int = 3, primed: bool = True
) -> dict[str, Any]:
    """Seconds from starting a Python process to the end of the first batch of `nnrun.train`, cold and warm.

    The child (nnrun.bench.first_batch) runs `nnrun.train(config, out=..., reporter=...)`, what `nnrun train
    CONFIG --quiet` runs without the CLI's start-up, with a reporter that prints the time when the first
    batch ends and exits. The clock is CLOCK_MONOTONIC, shared by parent and child. Cold: NUMBA_CACHE_DIR
    is a new empty folder, so every kernel compiles; warm: the same folder again, now filled. Python's own
    bytecode cache stays warm. primed: also time `nnrun compile` into another new folder, then a first
    batch with that one, as after a fresh install and `nnrun compile`.
    """
    with tempfile.TemporaryDirectory(prefix="nnrun-bench-") as tmp:
        tmp = Path(tmp)
        data = {"dataset": SYNTHETIC} if synthetic else FASHION
        config = tmp / "first_batch.yaml"
        config.write_text(yaml.safe_dump(run_config(model, data, threads, name="first_batch"), sort_keys=False))

        def once(index: int, cache: str = "numba_cache") -> dict[str, float]:
            command = [sys.executable, "-m", "nnrun.bench.first_batch", str(config), str(tmp / f"run{index}")]
            if synthetic:
                command.append("synthetic")
            env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / cache)}
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
        timing = {
            "model": model,
            "cold_seconds": cold["seconds"],
            "cold_jit_seconds": cold["jit_seconds"],
            "warm_seconds": middle["seconds"],
            "warm_jit_seconds": middle["jit_seconds"],
        }
        if primed:
            env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "primed_cache")}
            tick = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "nnrun", "compile", "--quiet"], capture_output=True, text=True, env=env
            )
            if done.returncode != 0:
                raise BenchError(f"nnrun compile failed ({done.returncode}):\n{done.stderr[-3000:]}")
            timing["compile_seconds"] = time.perf_counter() - tick
            after = once(warm_repeats + 1, "primed_cache")
            timing["primed_seconds"], timing["primed_jit_seconds"] = after["seconds"], after["jit_seconds"]
    return timing
