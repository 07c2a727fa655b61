"""`nnrun plot PATH...`: draw the figures of run folders and sweep folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug, Overrides
from nnrun.errors import RunError


@handles_errors
def plot(
    paths: Annotated[
        list[Path], typer.Argument(help="Run folders and sweep folders (configs, with --graph).", show_default=False)
    ],
    metric: Annotated[
        str | None, typer.Option("--metric", help="A sweep's metric (default: its spec's), e.g. test_acc.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="png, svg or pdf.")] = "png",
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the figures (default: each folder).")] = None,
    inspect: Annotated[
        bool,
        typer.Option(
            "--inspect",
            help="Runs also get every inspection figure that applies: confusion, misclassified, filters, "
            "activations, weights.",
        ),
    ] = False,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", help="Only these inspection figures (repeat it); implies --inspect.", show_default=False
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="The split the inspection evaluates.")] = "test",
    embedding: Annotated[str, typer.Option("--embedding", help="The maps' projection: tsne or pca.")] = "tsne",
    layer: Annotated[
        str | None,
        typer.Option("--layer", help="The maps' layer, by name or index (default: the last hidden layer)."),
    ] = None,
    graph: Annotated[
        bool, typer.Option("--graph", help="Draw the network of each config (or run folder): layers, shapes, params.")
    ] = False,
    overrides: Overrides = None,
    diagnostics: Annotated[bool, typer.Option("--diagnostics", hidden=True, help="The old name of --inspect.")] = False,
    debug: Debug = False,
) -> None:
    """Draw a run's curves, or a sweep's metric against its parameters, heatmap and curves; several runs are
    also drawn together in comparison.png, labelled by the config values in which they differ.

    Inspecting a trained run: the confusion matrix, the misclassified examples, the first layer's filters,
    and t-SNE or PCA maps of the last hidden layer's activations and of a dense layer's weights.

    Examples: nnrun plot results/hidden_units/sweep-218da5ed --metric test_acc;
    nnrun plot results/fashion_mlp/20261123-101500-1a2b3c --inspect;
    nnrun plot results/cnn/20261123-101500-1a2b3c --kind activations --embedding pca --layer hidden;
    nnrun plot --graph configs/cnn.yaml
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.report.compare import plot_comparison
    from nnrun.report.run_figures import PLOT, Inspect, draw_run
    from nnrun.report.style import FORMATS
    from nnrun.report.sweep import left_out, plot_sweep
    from nnrun.results import folder_kind, load_sweep

    console = Console()
    if fmt not in FORMATS:
        raise RunError(f"--format {fmt} is not one of {', '.join(FORMATS)}")
    if graph:
        for path in paths:
            console.print(f"wrote {draw_graph(path, overrides or (), out, fmt)}", highlight=False)
        return
    if overrides:
        raise RunError("--set changes a config, so it goes with --graph only", hint="a run folder's config is fixed")
    kinds = {path: folder_kind(path) for path in paths}  # every folder checked before any is drawn
    inspection = Inspect(kind, split, embedding, layer) if inspect or diagnostics or kind else None
    written = []
    for path in paths:
        # several folders into one --out: a sub-folder each, so their figures do not overwrite each other
        target = None if out is None else out / path.resolve().name if len(paths) > 1 else out
        if target is not None:
            target.mkdir(parents=True, exist_ok=True)
        if kinds[path] == "sweep":
            try:
                figures = plot_sweep(path, metric, target, fmt)
                notes = [f"left out {reason}" for reason in left_out(load_sweep(path))]
            except RunError as error:  # a sweep with nothing to draw yet: say so, and draw the others
                figures, notes = [], [f"skipped {error.message()}"]
        else:
            drawn = draw_run(path, PLOT, target, fmt, inspection)
            figures, notes = drawn.written, [f"skipped {reason}" for reason in drawn.skipped]
        for note in notes:
            console.print(f"[yellow]{note}[/]", highlight=False)
        for figure in figures:
            console.print(f"wrote {figure}", highlight=False)
        written += figures
    runs = [path for path in paths if kinds[path] == "run"]
    if len(runs) > 1:
        try:
            written.append(plot_comparison(runs, out, fmt))
            console.print(f"wrote {written[-1]}", highlight=False)
        except RunError as error:
            console.print(f"[yellow]skipped the comparison: {error.message()}[/]", highlight=False)
    if not written:
        raise RunError("nothing to draw", hint="see the lines above")


def draw_graph(path: Path, overrides: list[str], out: Path | None, fmt: str) -> Path:
    """A config's network into results/<name>/ (or --out), or a run folder's into the folder."""
    from nnrun.report.graph import plot_graph, plot_model_graph

    if path.is_dir():
        if overrides:
            raise RunError(f"--set changes a config; {path} is a run folder, whose config is fixed")
        return plot_model_graph(path, out, fmt)
    return plot_graph(path, overrides, out, fmt)
