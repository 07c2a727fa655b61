"""`nnrun data list | download | info`: the datasets, where their files are, and what a data config gives."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nnrun.cli.check import human_bytes
from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Command, Debug, Group, Offline, apply_offline

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from nnrun.data.catalog import Entry

app = typer.Typer(
    cls=Group,
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


@app.command("list", cls=Command)
@handles_errors
def list_datasets(debug: Debug = False) -> None:
    """Every dataset with its shape, classes and where its files were found. Never downloads.

    Example: nnrun data list
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.data.catalog import entries

    console = Console(highlight=False)
    rows = entries()
    table = datasets_table(rows)
    if console.measure(table, options=console.options.update_width(10_000)).maximum <= console.width:
        console.print(table)
    else:  # a table would wrap its descriptions to a word a line and split the paths
        print_datasets(console, rows)


def location_colour(location: str) -> str:
    """Green for files found (or built in), dim for none, red for an error."""
    if location.startswith("error"):
        return "red"
    return "dim" if location in ("not present", "needs data.path") else "green"


def datasets_table(rows: list[Entry]) -> Table:
    """`nnrun data list` in a terminal wide enough: a row a dataset."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="datasets", title_justify="left")
    for column in ("name", "shape", "classes", "description", "files"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            escape(row.name),
            str(list(row.shape)) if row.shape else "from the files",
            str(row.classes) if row.classes else "from the files",
            escape(row.description),
            f"[{location_colour(row.location)}]{escape(row.location)}[/]",
        )
    return table


def print_datasets(console: Console, rows: list[Entry]) -> None:
    """`nnrun data list` in a narrow terminal: a dataset's facts on its line, then its files' folder on a line of
    its own (whole, to copy) and its description, indented."""
    import textwrap

    from rich.markup import escape

    console.print("[bold]datasets[/]: input shape, classes and files (`nnrun data info NAME` tells more)")
    for row in rows:
        shape = f"{list(row.shape)}" if row.shape else "input from the files"
        classes = f"{row.classes} classes" if row.classes else "classes from the files"
        found = row.location != "built in" and location_colour(row.location) == "green"
        status = "files in:" if found else escape(row.location)
        console.print(f"[bold]{escape(row.name)}[/]  {shape}, {classes}; [{location_colour(row.location)}]{status}[/]")
        if found:  # not wrapped by rich: a path longer than the line is still one line to copy
            console.print(f"  [green]{escape(row.location)}[/]", soft_wrap=True)
        indented = textwrap.fill(
            row.description, console.width, initial_indent="  ", subsequent_indent="  ", break_long_words=False,
            break_on_hyphens=False,
        )  # fmt: skip
        console.print(escape(indented), soft_wrap=True)


@app.command("download", cls=Command)
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
    from rich.markup import escape

    from nnrun.data.catalog import fetch

    apply_offline(offline)
    found = fetch(name, path)
    console = Console(highlight=False, soft_wrap=True)
    if found is None:
        console.print(f"{escape(name)} is built in: nothing to download")
    else:
        console.print(f"{escape(name)}: {escape(str(found))}")


@app.command("info", cls=Command)
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
        console.print(f"{escape(str(drawn))} saved to {escape(str(grid))}")
