"""`nnrun plot PATH...`: draw the figures of run folders and sweep folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug
from nnrun.errors import RunError


@handles_errors
def plot(
    paths: Annotated[list[Path], typer.Argument(help="Run folders and sweep folders.", show_default=False)],
    metric: Annotated[
        str | None, typer.Option("--metric", help="A sweep's metric (default: its spec's), e.g. test_acc.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="png, svg or pdf.")] = "png",
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the figures (default: each folder).")] = None,
    diagnostics: Annotated[
        bool,
        typer.Option("--diagnostics", help="Runs also get a confusion matrix and their misclassified examples."),
    ] = False,
    split: Annotated[str, typer.Option("--split", help="The split the diagnostics evaluate.")] = "test",
    debug: Debug = False,
) -> None:
    """Draw a run's curves, or a sweep's metric against its parameters, heatmap and curves; several runs are
    also drawn together in comparison.png, labelled by the config values in which they differ.

    Examples: nnrun plot results/hidden_units/sweep-218da5ed --metric test_acc;
    nnrun plot results/fashion_mlp/20261123-101500-1a2b3c --diagnostics
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.report.boundary import is_planar, plot_boundary
    from nnrun.report.compare import plot_comparison
    from nnrun.report.curves import plot_run
    from nnrun.report.diagnostics import plot_diagnostics
    from nnrun.report.style import FORMATS
    from nnrun.report.sweep import plot_sweep
    from nnrun.results import load_run

    if fmt not in FORMATS:
        raise RunError(f"--format {fmt} is not one of {', '.join(FORMATS)}")
    for path in paths:
        if not (path / "sweep.yaml").is_file() and not (path / "config.yaml").is_file():
            raise RunError(
                f"{path} is neither a run folder (config.yaml) nor a sweep folder (sweep.yaml)",
                hint="pass a folder under results/<name>/",
            )
    console = Console()
    drawn = 0
    for path in paths:
        # several folders into one --out: a sub-folder each, so their figures do not overwrite each other
        target = None if out is None else out / path.resolve().name if len(paths) > 1 else out
        if target is not None:
            target.mkdir(parents=True, exist_ok=True)
        try:
            if (path / "sweep.yaml").is_file():
                written = plot_sweep(path, metric, target, fmt)
            else:
                written = [plot_run(path, target, fmt)]
                if is_planar(load_run(path).config):
                    written.append(plot_boundary(path, target, fmt))
        except RunError as error:  # a run with nothing to draw yet: say so, and draw the others
            console.print(f"[yellow]skipped {error.message()}[/]", highlight=False)
            continue
        if diagnostics and not (path / "sweep.yaml").is_file():
            try:
                written += plot_diagnostics(path, target, fmt, split)
            except RunError as error:
                console.print(f"[yellow]skipped the diagnostics: {error.message()}[/]", highlight=False)
        drawn += len(written)
        for figure in written:
            console.print(f"wrote {figure}", highlight=False)
    runs = [path for path in paths if not (path / "sweep.yaml").is_file()]
    if len(runs) > 1:
        try:
            figure = plot_comparison(runs, out, fmt)
            drawn += 1
            console.print(f"wrote {figure}", highlight=False)
        except RunError as error:
            console.print(f"[yellow]skipped the comparison: {error.message()}[/]", highlight=False)
    if not drawn:
        raise RunError("nothing to draw", hint="see the lines above")
