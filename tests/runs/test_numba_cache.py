"""numba's on-disk cache of nnrun's kernels (cache=True): races, a read-only folder and truncated files.

Each run is `python -m nnrun train` in a fresh process with NUMBA_CACHE_DIR set, and every case must give
the metrics.csv of a run on a fresh cache, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.helpers import small_config


@dataclass(frozen=True)
class Reference:
    config: Path
    metrics: bytes  # metrics.csv of a run that compiled every kernel into `cache`
    cache: Path


def start(config: Path, out: Path, cache: Path, wrap: tuple[str, ...] = (), **env: str) -> subprocess.Popen:
    command = [*wrap, sys.executable, "-m", "nnrun", "train", str(config), "--out", str(out), "--quiet", "--no-plot"]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), **env}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, out: Path) -> tuple[bytes, str, str]:
    """(metrics.csv, stderr, stdout) of a run that must have exited 0."""
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    return (out / "metrics.csv").read_bytes(), stderr, stdout


def train(config: Path, out: Path, cache: Path, wrap: tuple[str, ...] = (), **env: str) -> tuple[bytes, str, str]:
    return finish(start(config, out, cache, wrap, **env), out)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    root = tmp_path_factory.mktemp("numba_cache")
    config = root / "small.yaml"
    # adam: its kernel is a parallel=True one, whose parfor is cached with it
    config.write_text(yaml.safe_dump(small_config(train={"epochs": 1, "batch_size": 32})))
    metrics, _, _ = train(config, root / "reference", root / "cache")
    assert list((root / "cache").rglob("*.nbc")), "the reference run cached nothing"
    return Reference(config, metrics, root / "cache")


def race(reference: Reference, tmp_path: Path, rounds: int) -> None:
    """`rounds` times, two processes compile every kernel at once into a fresh cache folder; then two more
    load what the last pair wrote. Every process must give the reference's metrics."""
    cache = None
    for round_ in range(rounds + 1):
        if round_ < rounds:
            cache = tmp_path / f"cache{round_}"
        outs = [tmp_path / f"round{round_}-{k}" for k in (0, 1)]
        processes = [start(reference.config, out, cache) for out in outs]
        for process, out in zip(processes, outs):
            metrics, stderr, _ = finish(process, out)
            assert metrics == reference.metrics, f"round {round_}: {out.name} differs"
            assert "warning" not in stderr, stderr  # no cache file either one read was unreadable


def test_two_processes_compiling_at_once_give_identical_metrics(reference, tmp_path):
    race(reference, tmp_path, rounds=2)


@pytest.mark.slow
def test_two_processes_compiling_at_once_twenty_times(reference, tmp_path):
    race(reference, tmp_path, rounds=20)


def read_only_runner(folder: Path) -> tuple[str, ...]:
    """A command prefix under which `folder` cannot be written, or skip.

    chmod is enough for a normal user; root writes through it, so then the folder is bind-mounted read-only
    in a mount namespace of the child's own (util-linux's unshare), leaving the host's mounts alone.
    """
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return ()
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("running as root, where chmod does not stop writes, and unshare is not installed")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    wrap = (unshare, "--user", "--map-root-user", "--mount", "sh", "-c", script, str(folder))
    probe = subprocess.run([*wrap, "touch", str(folder / "probe")], capture_output=True, text=True)
    if probe.returncode == 0 or "Read-only file system" not in probe.stderr:
        pytest.skip(f"running as root, and a read-only bind mount is not possible here: {probe.stderr.strip()}")
    return wrap


def test_a_read_only_cache_folder_warns_in_one_line_and_trains_the_same(reference, tmp_path):
    cache = tmp_path / "read-only"
    cache.mkdir()
    wrap = read_only_runner(cache)
    try:
        metrics, stderr, _ = train(reference.config, tmp_path / "run", cache, wrap)
    finally:
        cache.chmod(0o755)
    assert metrics == reference.metrics
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "NUMBA_CACHE_DIR" in warnings[0] and str(cache) in warnings[0], stderr
    assert not list(cache.iterdir())


@pytest.mark.parametrize("pattern, count", [("*.nbc", None), ("*.nbi", 1)], ids=["every-data-file", "an-index"])
def test_truncated_cache_files_are_compiled_again(reference, tmp_path, pattern, count):
    cache = tmp_path / "cache"
    shutil.copytree(reference.cache, cache)
    files = sorted(cache.rglob(pattern))[:count]
    for path in files:
        os.truncate(path, path.stat().st_size // 2)
    metrics, stderr, _ = train(reference.config, tmp_path / "run", cache)
    assert metrics == reference.metrics
    assert stderr.count("warning:") == len(files), stderr  # one line for each file, naming it
    assert all(str(path) in stderr for path in files), stderr
    # the files were written again: a third run loads every kernel from them without a word
    metrics, stderr, log = train(reference.config, tmp_path / "again", cache, NUMBA_DEBUG_CACHE="1")
    assert metrics == reference.metrics
    assert stderr == ""
    assert "data loaded from" in log and "data saved to" not in log, log


COMPILE_AND_COUNT = """
import json, os, sys, time
from nnrun import kernels
from nnrun.config.validate import load_config
from nnrun.runs.compiling import compile_config
from numba.core.dispatcher import Dispatcher
while not os.path.exists(sys.argv[2]):  # both processes start compiling at the same moment
    time.sleep(0.001)
compile_config(load_config(sys.argv[1]))
compiled = sorted(
    f"{module.__name__}.{name}"
    for module in kernels.MODULES
    for name, kernel in vars(module).items()
    if isinstance(kernel, Dispatcher) and sum(kernel.stats.cache_misses.values())
)
print(json.dumps(compiled))
"""


def test_processes_that_need_a_kernel_at_once_compile_it_once(reference, tmp_path):
    go = tmp_path / "go"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-c", COMPILE_AND_COUNT, str(reference.config), str(go)]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(1.0)  # past both processes' imports
    go.touch()
    compiled = [json.loads(process.communicate(timeout=600)[0]) for process in processes]
    assert all(process.returncode == 0 for process in processes)
    assert compiled[0] or compiled[1], "neither process compiled anything: the cache was not fresh"
    assert not set(compiled[0]) & set(compiled[1]), f"compiled by both: {set(compiled[0]) & set(compiled[1])}"
