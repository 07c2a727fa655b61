"""`nnrun verify RUN_DIR`: train a finished run again and check that it gives the same bits."""

from __future__ import annotations

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug, Offline, Quiet, RunDir, apply_offline


@handles_errors
def verify(run_dir: RunDir, quiet: Quiet = False, offline: Offline = False, debug: Debug = False) -> None:
    """Train RUN_DIR's saved config again (with its seed and thread count) in a temporary folder, and compare
    metrics.csv and model.npz with the saved ones by hash. Prints "identical", or where they first differ
    and exits 1. A sweep's trial folders are runs too.

    Example: nnrun verify results/quickstart/20261123-153000-1a2b3c
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.checks.verify import verify as repeat
    from nnrun.runs.progress import RichReporter

    apply_offline(offline)
    verdict = repeat(run_dir, reporter=None if quiet else RichReporter())
    console = Console(highlight=False)
    for note in verdict.notes:
        console.print(f"[yellow]note: {note}[/]")
    if verdict.identical:
        model = f" and model.npz ({verdict.arrays} arrays, sha256 {verdict.model_hash[:12]})" if verdict.arrays else ""
        console.print(
            f"[green]identical[/]: metrics.csv ({verdict.metrics_rows} rows, sha256 {verdict.metrics_hash[:12]}){model}"
        )
        return
    for difference in (verdict.metrics_difference, verdict.model_difference):
        if difference:
            console.print(f"[red]differs[/]: {difference}")
    raise typer.Exit(1)
