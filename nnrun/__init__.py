"""nnrun: neural-network experiments from a YAML config, on NumPy and Numba.

The Python API, for notebooks and scripts (the CLI is a thin shell over it):

    import nnrun
    run = nnrun.train("configs/quickstart.yaml", overrides=["train.epochs=5"])
    run.summary["best"], run.history[-1], run.path
    run = nnrun.load_run(run.path)
    study = nnrun.sweep("configs/studies/hidden_units.yaml", workers=2)
    study.summary, study.best, study.trials
    study = nnrun.load_sweep(study.path)

Names are imported on first use so that `nnrun --help` stays fast.
"""

import os
import sys

__version__ = "0.1.0"

# Thread pools. nnrun's numba kernels and OpenBLAS each run one thread per core, and by default each
# pool's threads go on spinning after their work is done: OpenBLAS's for 2^28 cycles after every call,
# OpenMP's (numba's pool) for 300000 spins. Whichever pool runs next then shares its cores with spinning
# threads, which slows every training step. Shorter waits, set here before either library loads (OpenBLAS
# reads its variable when numpy is imported, OpenMP when numba first runs a parallel loop); values already
# in the environment are kept, and NNRUN_THREAD_DEFAULTS=0 sets none (the benchmark's torch worker).
# OpenMP's spin suits the CPU: 10000 on AVX-512 CPUs and 1000 elsewhere, each the better of the two on the
# CPUs measured (benchmarks/README.md).


def _read_cpu_flags() -> str:
    """The CPU's feature flags line from /proc/cpuinfo (Linux); empty where there is none."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        return ""


CPU_FLAGS = _read_cpu_flags()  # read once; nnrun.runtime.machine reports AVX-512 from it too


def has_avx512(flags: str) -> bool:
    return "avx512f" in flags.split()


def spin_count(flags: str) -> str:
    """GOMP_SPINCOUNT for a CPU with these feature flags."""
    return "10000" if has_avx512(flags) else "1000"


THREAD_DEFAULTS = {"OPENBLAS_THREAD_TIMEOUT": "18", "GOMP_SPINCOUNT": spin_count(CPU_FLAGS)}


def _set_thread_defaults() -> list[str]:
    """Put THREAD_DEFAULTS in os.environ where they are missing and still in time; the keys set."""
    if os.environ.get("NNRUN_THREAD_DEFAULTS", "1") == "0":
        return []
    added = []
    for key, value in THREAD_DEFAULTS.items():
        if key in os.environ or (key.startswith("OPENBLAS") and "numpy" in sys.modules):
            continue  # the user's value, or too late: OpenBLAS has read it (nnrun.runtime keeps kernels serial)
        os.environ[key] = value
        added.append(key)
    return added


thread_defaults_set: list[str] = _set_thread_defaults()  # the keys this import put in os.environ

_API = {
    "train": ("nnrun.runs.trainer", "train"),
    "resume": ("nnrun.runs.resuming", "resume"),
    "sweep": ("nnrun.sweeps.run", "sweep"),
    "load_run": ("nnrun.results", "load_run"),
    "load_sweep": ("nnrun.results", "load_sweep"),
    "Run": ("nnrun.results", "Run"),
    "Sweep": ("nnrun.results", "Sweep"),
    "load_config": ("nnrun.config", "load_config"),
    "config_from_dict": ("nnrun.config", "config_from_dict"),
    "load_model": ("nnrun.model", "load_model"),
    "evaluate_run": ("nnrun.runs.evaluate", "evaluate_run"),
    "verify": ("nnrun.checks.verify", "verify"),
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        import importlib

        module, attribute = _API[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nnrun' has no attribute {name!r}")
