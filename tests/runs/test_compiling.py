"""`nnrun compile`: one priming of numba's cache covers every config, and a second compiles nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nnrun.kernels import cache as cache_module
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


# In a fresh process: the pass over catalog models that lists the kernels numba's cache lacks, without
# compiling any; then, for the first model only, `compile_config` with one helper, or the pass itself.
LIST_AND_COMPILE = """
import json, sys
from nnrun.config.validate import config_from_dict
from nnrun.kernels import cache
from nnrun.runs import compiling
from nnrun.runs.compiling import catalog, uncached_kernels, zero_batch

started = []
start_helpers = compiling.start_helpers
compiling.start_helpers = lambda listed, jobs=None: started.extend(start_helpers(listed, jobs)) or started
how, *labels = sys.argv[1:]
configs = dict(catalog(["float32", "float64"]))
lists = {label: uncached_kernels(*zero_batch(config_from_dict(configs[label]))) for label in labels}
listed, complete = lists[labels[0]]
if how == "serially":  # no helper: what the pass compiles in this process, kernel by kernel
    compiling.run_kernels_once(*zero_batch(config_from_dict(configs[labels[0]])))
elif how == "in parallel":
    compiling.compile_config(config_from_dict(configs[labels[0]]), jobs=2)  # one helper, whatever the cores
after, after_complete = uncached_kernels(*zero_batch(config_from_dict(configs[labels[0]])))
print(json.dumps({
    "listed": {label: [name for name, _ in found] for label, (found, _) in lists.items()},
    "complete": [label for label, (_, done) in lists.items() if done],
    "helpers": [helper.returncode for helper in started],
    "listed_signatures": sorted(f"{name} {sig}" for name, sig in listed),
    "compiled_here": sorted(f"{name} {sig}" for name in cache._KERNELS for sig in cache.kernel(name).stats.cache_misses),
    "in_cache": [cache.in_cache(cache.kernel(name), sig) for name, sig in listed],
    "listed_after": [[name for name, _ in after], after_complete],
}))
"""
MLP = "mlp (float32)"  # five cheap kernels: a second or two to compile


def list_and_compile(cache: Path, how: str, *labels: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", LIST_AND_COMPILE, how, *labels], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    return json.loads(done.stdout)


def test_a_pass_lists_each_catalog_models_kernels_without_compiling_one(tmp_path):
    labels = [label for label, _ in catalog(["float32", "float64"])]
    found = list_and_compile(tmp_path / "cache", "list only", *labels)
    assert found["complete"] == labels  # no pass was derailed by the arrays left unwritten
    assert all(found["listed"][label] for label in labels)
    assert not list((tmp_path / "cache").rglob("*.nbi"))
    modules = {name.rsplit(".", 1)[0] for names in found["listed"].values() for name in names}
    assert modules == {name.rsplit(".", 1)[0] for name in cache_module._KERNELS}  # every module's kernels


def test_the_listing_names_what_the_pass_then_compiles(tmp_path):
    serial = list_and_compile(tmp_path / "cache", "serially", MLP)
    assert serial["complete"] == [MLP] and serial["helpers"] == []
    assert {"nnrun.kernels.loss.softmax_cross_entropy", "nnrun.kernels.optim.adam_step"} <= set(serial["listed"][MLP])
    assert serial["listed_signatures"] == serial["compiled_here"]


@pytest.fixture(scope="module")
def cold_and_warm(tmp_path_factory) -> tuple[dict, dict]:
    cache = tmp_path_factory.mktemp("numba") / "cache"
    return list_and_compile(cache, "in parallel", MLP), list_and_compile(cache, "in parallel", MLP)


def test_a_run_shares_its_kernels_with_a_helper_and_caches_them_all(cold_and_warm):
    cold, _ = cold_and_warm
    assert cold["complete"] == [MLP] and len(cold["listed"][MLP]) == 5
    assert cold["helpers"] in ([-signal.SIGTERM], [0]), cold["helpers"]  # started, then stopped or done
    assert all(cold["in_cache"])
    assert set(cold["compiled_here"]) <= set(cold["listed_signatures"])  # the rest: loaded from the helper's
    assert cold["listed_after"] == [[], False]  # a loaded kernel would run on arrays never written


def test_a_warm_cache_lists_nothing_and_starts_no_helper(cold_and_warm):
    _, warm = cold_and_warm
    assert warm["listed"] == {MLP: []} and warm["complete"] == [MLP]
    assert warm["helpers"] == [] and warm["compiled_here"] == []
