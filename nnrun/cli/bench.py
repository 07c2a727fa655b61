"""`nnrun bench`: time training epochs of the reports' models with nnrun, PyTorch and JAX side by side."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug


@handles_errors
def bench(
    models: Annotated[str, typer.Option("--models", help="Comma-separated models: mlp, cnn, cnn7.")] = "mlp,cnn,cnn7",
    frameworks: Annotated[
        str | None,
        typer.Option(
            "--frameworks",
            help="Comma-separated: nnrun, torch, jax (default: all three; nnrun always); one not installed is "
            "listed as such.",
        ),
    ] = None,
    reps: Annotated[
        int, typer.Option("--reps", min=1, help="Timed repetitions per model; the median is reported.")
    ] = 3,
    batches: Annotated[
        int | None,
        typer.Option("--batches", min=1, help="Time this many batches per repetition and extrapolate to an epoch."),
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed batches before the repetitions.")] = 20,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Threads for every framework (default: all cores).")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the results to this JSON file.")] = None,
    no_torch: Annotated[
        bool, typer.Option("--no-torch", help="Leave torch out; without --frameworks, time nnrun only.")
    ] = False,
    synthetic: Annotated[
        bool, typer.Option("--synthetic", help="Random images even where Fashion-MNIST is installed.")
    ] = False,
    no_startup: Annotated[
        bool, typer.Option("--no-startup", help="Skip the `nnrun --help` and first-batch timings.")
    ] = False,
    peak_size: Annotated[
        int, typer.Option("--peak-size", min=64, help="Matrix size of the sgemm peak measurement.")
    ] = 4096,
    triad_mb: Annotated[
        int,
        typer.Option(
            "--triad-mb", min=1, help="MB of each of the three arrays of the memory-bandwidth triad (beyond the cache)."
        ),
    ] = 128,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the table as Markdown (for benchmarks/README.md).")
    ] = False,
    debug: Debug = False,
) -> None:
    """Seconds per epoch, GFLOP/s, % of sgemm peak, % of roofline and peak RSS of nnrun, PyTorch and JAX.

    On the MLP, CNN and CNN7. The roofline is each model's least time per epoch on this machine's sgemm peak
    and memory bandwidth (a triad), op by op (benchmarks/README.md, "The roofline").

    Example: nnrun bench --models cnn --batches 200 --reps 3 --frameworks nnrun,jax
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun import bench as harness  # likewise (yaml, subprocess, the harness itself)
    from nnrun.io import atomic_write_text  # likewise: imports numpy

    console = Console(stderr=True)
    results = harness.run(
        [m.strip() for m in models.split(",") if m.strip()],
        frameworks=None if frameworks is None else [f.strip() for f in frameworks.split(",") if f.strip()],
        reps=reps, batches=batches, warmup=warmup, threads=threads, torch=not no_torch, synthetic=synthetic,
        startup=not no_startup, peak_size=peak_size, triad_mb=triad_mb, progress=lambda text: console.print(f"[dim]{text}[/]", highlight=False),
        command=" ".join(["nnrun bench", *sys.argv[2:]]) if Path(sys.argv[0]).name != "bench.py"
        else " ".join(["python benchmarks/bench.py", *sys.argv[1:]]),
    )  # fmt: skip
    if markdown:
        typer.echo(harness.markdown(results))
    else:
        harness.report(results)
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(results, indent=2) + "\n")
