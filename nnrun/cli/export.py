"""`nnrun export PATH... --to mlflow|tensorboard`: run and sweep folders copied into MLflow or TensorBoard."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug
from nnrun.errors import ConfigError


class Tracker(str, Enum):
    mlflow = "mlflow"
    tensorboard = "tensorboard"


@handles_errors
def export(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Run folders, sweep folders, or folders holding them (results/).", show_default=False),
    ],
    to: Annotated[Tracker, typer.Option("--to", help="The tracker to export to.", show_default=False)],
    uri: Annotated[
        str | None,
        typer.Option(
            "--uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlruns.db here)."
        ),
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="MLflow experiment (default: each config's name).")
    ] = None,
    logdir: Annotated[
        Path | None, typer.Option("--logdir", help="TensorBoard log folder (default: tensorboard/ here).")
    ] = None,
    debug: Debug = False,
) -> None:
    """Export run and sweep folders to MLflow or TensorBoard: each run with its config, metrics, status and
    figures; a sweep with its trials and its best point. The folders are only read. Exporting again updates
    what changed and adds nothing twice.

    Examples: nnrun export results/ --to mlflow;
    nnrun export results/hidden_units/sweep-218da5ed --to mlflow --uri http://127.0.0.1:5000 --experiment study;
    nnrun export results/ --to tensorboard --logdir tb
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    if to is Tracker.mlflow and logdir is not None:
        raise ConfigError("--logdir is for --to tensorboard", hint="MLflow's store is chosen with --uri")
    if to is Tracker.tensorboard and (uri is not None or experiment is not None):
        raise ConfigError("--uri and --experiment are for --to mlflow", hint="TensorBoard's folder is --logdir")
    if to is Tracker.mlflow:
        from nnrun.export.mlflow import export_mlflow

        done = export_mlflow(paths, uri, experiment)
    else:
        from nnrun.export.tensorboard import export_tensorboard

        done = export_tensorboard(paths, logdir)
    console = Console(highlight=False, soft_wrap=True)
    for note in done.notes:
        console.print(f"[yellow]{note}[/]")
    counts = ", ".join(f"{count} {what}" for what, count in done.counts.items() if count) or "nothing to write"
    console.print(f"exported {done.what} to {done.where} ({counts})")
    console.print(f"open it: {done.how_to_open}")
