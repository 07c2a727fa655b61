"""`nnrun compile`: one priming of numba's cache covers every config, and a second compiles nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnrun.kernels import direct
from nnrun.runs.compiling import CATALOG, catalog
from tests.helpers import ROOT

# Kernels that only another kind of CPU compiles (nnrun/kernels/direct.py picks by vector width), and one
# that numba inlines into its caller and so never caches on its own.
OTHER_CPU = (
    {"correlate_narrow", "correlate_weights_narrow"}
    if direct.WIDE_VECTORS
    else {"correlate", "correlate_wide", "correlate_weights", "correlate_weights_wide"}
)
INLINED = {"_adam_entry"}

LOAD_EVERY_CONFIG = """
import json, sys
from pathlib import Path
from numba.core.dispatcher import Dispatcher
from nnrun import kernels
from nnrun.config.validate import config_from_dict, load_config
from nnrun.sweeps.plan import plan_sweep
from nnrun.runs.compiling import compile_config
for path in sorted(p for p in Path(sys.argv[1]).rglob("*.yaml") if p.name != "reports.yaml"):  # the manifest
    config = load_config(path)
    if config.sweep is None:
        compile_config(config)
    else:
        for trial in plan_sweep(path).trials:
            compile_config(config_from_dict(trial.config))
print(json.dumps(sorted(
    f"{module.__name__}.{name}"
    for module in kernels.MODULES
    for name, kernel in vars(module).items()
    if isinstance(kernel, Dispatcher) and sum(kernel.stats.cache_misses.values())
)))
"""


def nnrun_compile(cache: Path, *args: str) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-m", "nnrun", "compile", *args], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr
    return " ".join(done.stderr.split())  # rich wraps the line at the terminal's width


@pytest.mark.slow
def test_one_priming_covers_every_kernel_and_every_config(tmp_path):
    cache = tmp_path / "cache"
    said = nnrun_compile(cache, "--jobs", "2")
    assert said.startswith("compiled ") and str(cache) in said, said

    cached = {path.name.split("-")[0] for path in cache.rglob("*.nbi")}
    kernels = {
        f"{module.__name__.rsplit('.', 1)[1]}.{name}"
        for module in __import__("nnrun.kernels", fromlist=["MODULES"]).MODULES
        for name, kernel in vars(module).items()
        if type(kernel).__name__ == "CPUDispatcher" and name not in OTHER_CPU | INLINED
    }
    assert kernels - cached == set(), "kernels no catalog model calls"

    # every shipped config, sweep points included, now loads its kernels without compiling one
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_EVERY_CONFIG, str(ROOT / "configs")], env=env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == [], "compiled after priming"

    again = nnrun_compile(cache)
    assert again.startswith(f"nothing to compile: the kernels of the {len(CATALOG)} model(s) were in numba's cache"), (
        again
    )


def test_the_catalog_is_valid_configs_in_each_dtype():
    from nnrun.config.validate import config_from_dict

    configs = catalog(["float32", "float64"])
    assert len(configs) == 2 * len(CATALOG)
    for label, raw in configs:
        assert config_from_dict(raw, source=label).dtype in label


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dtype", "float16"], "--dtype float16: not a float dtype"),
        (["configs/cnn.yaml", "--dtype", "float64"], "--dtype goes with the built-in models only"),
        (["no-such.yaml"], "config file not found"),
        (["--set", "seed=1"], "--set changes a config, and none was given"),
    ],
)
def test_bad_arguments_say_what_is_wrong(tmp_path, args, message):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "nnrun", "compile", *args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert not list((tmp_path / "cache").rglob("*.nbi"))  # nothing compiled


def test_a_model_that_does_not_build_is_named_before_any_process_starts(tmp_path):
    config = tmp_path / "too-small.yaml"
    config.write_text(
        "data: {dataset: digits}\n"
        "model: {input_shape: [1, 8, 8], layers: [{type: conv2d, filters: 4, kernel: 9}, flatten, {type: dense, units: 10}]}\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "nnrun", "compile", str(config)], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert done.stderr.startswith(f"error: {config}"), done.stderr
    assert "kernel" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not list((tmp_path / "cache").rglob("*.nbi"))
