"""nnrun: neural-network experiments from a YAML config, on NumPy and Numba.

The Python API, for notebooks and scripts (the CLI is a thin shell over it):

    import nnrun
    run = nnrun.train("configs/quickstart.yaml", overrides=["train.epochs=5"])
    run.summary["best"], run.history[-1], run.path
    run = nnrun.load_run(run.path)

Names are imported on first use so that `nnrun --help` stays fast.
"""

__version__ = "0.1.0"

_API = {
    "train": ("nnrun.trainer", "train"),
    "resume": ("nnrun.trainer", "resume"),
    "load_run": ("nnrun.results", "load_run"),
    "Run": ("nnrun.results", "Run"),
    "load_config": ("nnrun.config", "load_config"),
    "config_from_dict": ("nnrun.config", "config_from_dict"),
    "load_model": ("nnrun.model", "load_model"),
    "evaluate_run": ("nnrun.evaluate", "evaluate_run"),
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
