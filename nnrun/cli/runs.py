"""`nnrun runs [PATH]`: every run and sweep under results/ (or PATH) in one table, or as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug


@handles_errors
def runs(
    path: Annotated[Path, typer.Argument(help="A folder of runs and sweeps, or one of them.")] = Path("results"),
    sort: Annotated[
        str,
        typer.Option(
            "--sort",
            metavar="KEY",
            help="started (newest first), name, status, epochs, val_acc, test_acc (highest first) or wall "
            "(longest first).",
        ),
    ] = "started",
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            metavar="KEY=VALUE",
            help="Only the rows whose KEY (a --json key) is VALUE: status=completed, name=quickstart, kind=sweep. "
            "Repeatable: every key must match, a key given twice either value.",
            show_default=False,
        ),
    ] = None,
    last: Annotated[int | None, typer.Option("--last", metavar="N", min=1, help="Only the N newest.")] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a JSON list instead: accuracies as fractions, UTC times, seconds."),
    ] = False,
    debug: Debug = False,
) -> None:
    """List the runs and sweeps under PATH: name, start (local time), status, epochs, the best evaluation's
    val and test accuracy, wall time; a sweep's trials, failures and best point; and the config values in
    which runs of the same name differ, labelled as `nnrun plot` labels them. Trial folders are counted in
    their sweep's row; a folder that cannot be read is skipped with a warning.

    Examples: nnrun runs; nnrun runs results/quickstart --sort val_acc --last 10;
    nnrun runs --filter status=failed --filter status=interrupted; nnrun runs --json
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast
    from rich.text import Text

    from nnrun.report.runs_table import footer, list_folders, select, table

    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    listed = list_folders(path, warn=lambda text: errors.print(f"warning: {text}", style="yellow", markup=False))
    chosen = select(listed, filters or [], last, sort)
    if as_json:
        sys.stdout.write(json.dumps([item.as_json() for item in chosen], indent=1) + "\n")
        return
    console = Console(highlight=False, soft_wrap=True)  # a line longer than the terminal is a path: kept whole
    if chosen:
        console.print(Text("\n").join(table(chosen, console.width)))
    console.print(footer(listed, chosen), style="dim", markup=False)
