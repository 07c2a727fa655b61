"""`nnrun report PATH`: one page of a run or sweep folder, as self-contained HTML or as Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug


@handles_errors
def report(
    path: Annotated[Path, typer.Argument(help="A run folder or a sweep folder.", show_default=False)],
    fmt: Annotated[
        str, typer.Option("--format", help="html (one file, images inside) or md (images beside).")
    ] = "html",
    out: Annotated[
        Path | None, typer.Option("--out", help="The report's file (default: PATH/report.<format>).")
    ] = None,
    inspect: Annotated[
        bool,
        typer.Option("--inspect", help="A run's report also draws and shows its inspection figures (nnrun plot)."),
    ] = False,
    diagnostics: Annotated[bool, typer.Option("--diagnostics", hidden=True, help="The old name of --inspect.")] = False,
    debug: Debug = False,
) -> None:
    """Write a report of PATH: its results table, figures, config, environment and timings. The figures are
    drawn into the folder first, so the report shows the folder as it is now.

    Examples: nnrun report results/hidden_units/sweep-218da5ed;
    nnrun report results/fashion_mlp/20261123-101500-1a2b3c --format md --inspect
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.report.document import write_report

    written = write_report(path, fmt, out, inspect or diagnostics)
    console = Console()
    for reason in written.skipped:
        console.print(f"[yellow]skipped {reason}[/]", highlight=False)
    console.print(f"wrote {written.report} ({len(written.figures)} figures)", highlight=False)
