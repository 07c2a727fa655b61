"""`nnrun train CONFIG`: train a network and write its run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug, NoPlot, Offline, Overrides, Quiet, apply_offline
from nnrun.errors import ConfigError


@handles_errors
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config file (omit with --resume).")] = None,
    overrides: Overrides = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder to create (default results/<name>/<run-id>).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue the run in this folder from its checkpoint; with --set train.epochs=N (or "
            "train.max_steps=N), continue it, finished or not, to that budget.",
        ),
    ] = None,
    quiet: Quiet = False,
    no_plot: NoPlot = False,
    offline: Offline = False,
    debug: Debug = False,
) -> None:
    """Train the network a config describes; writes metrics, summary, weights and curves to the run folder.

    Example: nnrun train configs/quickstart.yaml --set train.epochs=5

    Example: nnrun train --resume results/quickstart/RUN_ID --set train.epochs=10
    """
    from nnrun.runs import resuming, trainer  # imported here: keeps `nnrun --help` fast
    from nnrun.runs.progress import RichReporter

    apply_offline(offline)
    reporter = None if quiet else RichReporter()
    if resume is not None:
        if config is not None or out is not None:
            raise ConfigError(
                "--resume continues a run in its own folder, with the config saved there",
                hint="drop CONFIG and --out when resuming (--set train.epochs=N still extends the run)",
            )
        resuming.extend(resume, overrides or (), reporter=reporter, plot=not no_plot)
    elif config is None:
        raise ConfigError("no config given", hint="usage: nnrun train CONFIG.yaml, or nnrun train --resume RUN_DIR")
    else:
        trainer.train(config, overrides or (), out=out, reporter=reporter, plot=not no_plot)
