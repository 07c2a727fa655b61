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
    diagnostics: Annotated[
        bool,
        typer.Option(
            "--diagnostics",
            help="Runs also get every diagnostic that applies: confusion, misclassified, filters, activations, "
            "weights.",
        ),
    ] = False,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only these diagnostics (repeat it); implies --diagnostics.", show_default=False),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="The split the diagnostics evaluate.")] = "test",
    embedding: Annotated[str, typer.Option("--embedding", help="The maps' projection: tsne or pca.")] = "tsne",
    layer: Annotated[
        str | None,
        typer.Option("--layer", help="The maps' layer, by name or index (default: the last hidden layer)."),
    ] = None,
    graph: Annotated[
        bool, typer.Option("--graph", help="Draw the network of each config (or run folder): layers, shapes, params.")
    ] = False,
    overrides: Overrides = None,
    debug: Debug = False,
) -> None:
    """Draw a run's curves, or a sweep's metric against its parameters, heatmap and curves; several runs are
    also drawn together in comparison.png, labelled by the config values in which they differ.

    Diagnostics of a trained run: the confusion matrix, the misclassified examples, the first layer's filters,
    and t-SNE or PCA maps of the last hidden layer's activations and of a dense layer's weights.

    Examples: nnrun plot results/hidden_units/sweep-218da5ed --metric test_acc;
    nnrun plot results/fashion_mlp/20261123-101500-1a2b3c --diagnostics;
    nnrun plot results/cnn/20261123-101500-1a2b3c --kind activations --embedding pca --layer hidden;
    nnrun plot --graph configs/cnn.yaml
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.report.boundary import is_planar, plot_boundary
    from nnrun.report.compare import plot_comparison
    from nnrun.report.curves import plot_run
    from nnrun.report.diagnostics import plot_diagnostics
    from nnrun.report.layers import plot_layers
    from nnrun.report.style import FORMATS
    from nnrun.report.sweep import left_out, plot_sweep
    from nnrun.results import folder_kind, load_run, load_sweep

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
    drawn = 0
    for path in paths:
        # several folders into one --out: a sub-folder each, so their figures do not overwrite each other
        target = None if out is None else out / path.resolve().name if len(paths) > 1 else out
        if target is not None:
            target.mkdir(parents=True, exist_ok=True)
        try:
            if kinds[path] == "sweep":
                written = plot_sweep(path, metric, target, fmt)
                for reason in left_out(load_sweep(path)):
                    console.print(f"[yellow]left out {reason}[/]", highlight=False)
            else:
                written = [plot_run(path, target, fmt)]
                if is_planar(load_run(path).config):
                    written.append(plot_boundary(path, target, fmt))
                if (path / "diagnostics.csv").is_file():
                    written.append(plot_layers(path, target, fmt))
        except RunError as error:  # a run with nothing to draw yet: say so, and draw the others
            console.print(f"[yellow]skipped {error.message()}[/]", highlight=False)
            continue
        if (diagnostics or kind) and kinds[path] == "run":
            try:
                figures, skipped = plot_diagnostics(path, target, fmt, split, kind, embedding, layer)
                written += figures
                for reason in skipped:
                    console.print(f"[yellow]skipped {reason}[/]", highlight=False)
            except RunError as error:
                if kind:  # asked for by name: not drawing it is a failure, not a note
                    raise
                console.print(f"[yellow]skipped the diagnostics: {error.message()}[/]", highlight=False)
        drawn += len(written)
        for figure in written:
            console.print(f"wrote {figure}", highlight=False)
    runs = [path for path in paths if kinds[path] == "run"]
    if len(runs) > 1:
        try:
            figure = plot_comparison(runs, out, fmt)
            drawn += 1
            console.print(f"wrote {figure}", highlight=False)
        except RunError as error:
            console.print(f"[yellow]skipped the comparison: {error.message()}[/]", highlight=False)
    if not drawn:
        raise RunError("nothing to draw", hint="see the lines above")


def draw_graph(path: Path, overrides: list[str], out: Path | None, fmt: str) -> Path:
    """A config's network into results/<name>/ (or --out), or a run folder's into the folder."""
    from nnrun.report.graph import plot_graph, plot_model_graph

    if path.is_dir():
        if overrides:
            raise RunError(f"--set changes a config; {path} is a run folder, whose config is fixed")
        return plot_model_graph(path, out, fmt)
    return plot_graph(path, overrides, out, fmt)
