"""`nnrun compile [CONFIG ...]`: compile nnrun's kernels into numba's cache once, ahead of the first run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug, Overrides, Quiet

Configs = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Config files whose kernels to compile (default: every layer's, loss's and optimizer's).",
        show_default=False,
    ),
]
Dtypes = Annotated[
    list[str] | None,
    typer.Option(
        "--dtype", help="Without configs: compile for this dtype, float32 or float64 (repeatable; default float32)."
    ),
]
Jobs = Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Processes at once (default: one per core).")]


@handles_errors
def compile_kernels(
    configs: Configs = None,
    overrides: Overrides = None,
    dtype: Dtypes = None,
    jobs: Jobs = None,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Compile the numba kernels every layer, loss and optimizer uses (or those of CONFIGs) into numba's
    cache, for this CPU, in parallel processes. A first run would compile the ones its model calls, seconds
    apiece; after this, every run loads them from the cache. Run it once after installing
    or upgrading nnrun; running it again compiles only what is missing.

    Example: nnrun compile                      (every kernel, float32)
    Example: nnrun compile configs/cnn.yaml     (the kernels this config's model calls; a sweep's: every point's)
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.config.validate import load_config
    from nnrun.errors import ConfigError
    from nnrun.runs.compiling import DTYPES, catalog, compile_models
    from nnrun.runtime import machine
    from nnrun.sweeps.plan import plan_sweep

    if configs and dtype:
        raise ConfigError("--dtype goes with the built-in models only", hint="a config's dtype key sets its kernels'")
    if overrides and not configs:
        raise ConfigError("--set changes a config, and none was given", hint="nnrun compile CONFIG --set KEY=VALUE")
    if configs:
        work = []
        for path in configs:
            config = load_config(path, overrides or [])
            if config.sweep is None:
                work.append((str(path), config))
            else:  # every point's model, as `nnrun sweep` would build them
                trials = {trial.point: trial for trial in plan_sweep(path, overrides or []).trials}
                work += [(f"{path}, point {point}", trial.config) for point, trial in trials.items()]
    else:
        unknown = [name for name in dtype or [] if name not in DTYPES]
        if unknown:
            raise ConfigError(
                f"--dtype {', '.join(unknown)}: not a float dtype", hint=f"choose from {', '.join(DTYPES)}"
            )
        work = catalog(dtype or ["float32"])
    console = Console(stderr=True, highlight=False, quiet=quiet)
    with console.status(f"compiling the kernels of {len(work)} model(s) for this CPU"):
        done = compile_models(work, jobs)
    cpu = machine()["cpu"]
    if done.compiled:
        console.print(
            f"compiled {done.compiled} kernels for {cpu} in {done.seconds:.1f} s "
            f"({done.jobs} process{'es' if done.jobs > 1 else ''}), into {done.cache}"
        )
    else:
        console.print(
            f"nothing to compile: the kernels of the {done.models} model(s) were in numba's cache already, "
            f"for {cpu}: {done.cache}"
        )
