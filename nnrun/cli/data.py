"""`nnrun data list | download | info`: the datasets, where their files are, and what a data config gives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.check import human_bytes
from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug, Offline, apply_offline

app = typer.Typer(
    help="List the datasets, download one, or inspect what a data config gives (counts, ranges, sample images).",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="Dataset name (see `nnrun data list`).", show_default=False)]
DataSettings = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="A data key, YAML-typed (repeatable): --set val=5000 --set classes=[3,8] --set normalize=standardize.",
    ),
]


@app.command("list")
@handles_errors
def list_datasets(debug: Debug = False) -> None:
    """Every dataset with its shape, classes and where its files were found. Never downloads.

    Example: nnrun data list
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast
    from rich.table import Table

    from nnrun.data.catalog import entries

    table = Table(title="datasets", title_justify="left")
    for column in ("name", "shape", "classes", "description", "files"):
        table.add_column(column, overflow="fold")
    for row in entries():
        colour = "green" if row.location not in ("not present", "needs data.path") else "dim"
        if row.location.startswith("error"):
            colour = "red"
        table.add_row(
            row.name,
            str(list(row.shape)) if row.shape else "from the files",
            str(row.classes) if row.classes else "from the files",
            row.description,
            f"[{colour}]{row.location}[/]",
        )
    Console().print(table)


@app.command("download")
@handles_errors
def download(
    name: Name,
    path: Annotated[
        Path | None, typer.Option("--path", help="Look for (or put) the files here instead of the default places.")
    ] = None,
    offline: Offline = False,
    debug: Debug = False,
) -> None:
    """Find a dataset's files, downloading them into the cache when missing; print where they are.

    Example: nnrun data download mnist
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.data.catalog import fetch

    apply_offline(offline)
    found = fetch(name, path)
    console = Console(highlight=False, soft_wrap=True)
    if found is None:
        console.print(f"{name} is built in: nothing to download")
    else:
        console.print(f"{name}: {found}")


@app.command("info")
@handles_errors
def info(
    name: Name,
    settings: DataSettings = None,
    seed: Annotated[int, typer.Option(min=0, help="Run seed: fixes generated points, splits and subsamples.")] = 0,
    grid: Annotated[
        Path | None,
        typer.Option("--grid", help="Save sample images (10 per class) to this PNG; a scatter plot for 2-D points."),
    ] = None,
    offline: Offline = False,
    debug: Debug = False,
) -> None:
    """Load a dataset as a run would and print counts per class and split, value ranges, dtype and memory.

    Example: nnrun data info digits --set classes=[3,8] --grid digits.png
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast
    from rich.markup import escape
    from rich.table import Table

    from nnrun.config import apply_overrides
    from nnrun.data.catalog import SAMPLE, inspect_dataset, save_grid

    apply_offline(offline)
    # `key=value` settings are --set overrides under `data.` (the prefix is optional)
    raw: dict = {"data": {"dataset": name}}
    apply_overrides(
        raw, [text if text.strip().startswith("data.") else f"data.{text.strip()}" for text in settings or ()]
    )
    report = inspect_dataset(raw["data"], seed)
    ds = report.dataset
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"[bold]{escape(ds.name)}[/]: input {list(ds.input_shape)}, {ds.num_classes} classes; files: {escape(report.location)}"
    )
    keys = ", ".join(f"{k}={v}" for k, v in report.config.items() if k != "dataset")
    console.print(f"data keys: {escape(keys)} (seed {seed})")
    for note in ds.notes:
        console.print(f"  - {escape(note)}")

    counts = Table(title="examples per class", title_justify="left")
    counts.add_column("class")
    counts.add_column("name")
    for split in report.split_names:
        counts.add_column(split, justify="right")
    for k, row in enumerate(report.counts):
        counts.add_row(str(k), escape(ds.class_names[k]), *(f"{row[s]:,}" for s in report.split_names))
    counts.add_section()
    counts.add_row("", "total", *(f"{s.n:,}" for s in report.splits))
    console.print(counts)

    values = Table(title="values", title_justify="left")
    for column in ("split", "stored as", "memory", "stored min..max", "batched min..max", "batched mean / std"):
        values.add_column(column, justify="left" if column in ("split", "stored as") else "right")
    for s in report.splits:
        values.add_row(
            s.name,
            f"{s.dtype} {list(s.shape)}",
            human_bytes(s.nbytes),
            f"{s.raw_min:g}..{s.raw_max:g}",
            f"{s.norm_min:.4g}..{s.norm_max:.4g}",
            f"{s.norm_mean:.4f} / {s.norm_std:.4f}",
        )
    console.print(values)
    console.print(
        f"memory {human_bytes(report.nbytes)} in all; batched values are (x * scale - mean) / std, over the first "
        f"{SAMPLE:,} examples of each split at most"
        + ("; training batches are augmented on top" if ds.augment is not None else "")
    )
    if grid is not None:
        drawn = save_grid(ds, grid)
        console.print(f"{drawn} saved to {grid}")
