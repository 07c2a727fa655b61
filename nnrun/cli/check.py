"""`nnrun check CONFIG`: validate a config against its data and print the network summary; `--sanity` runs
cs231n's two checks too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import ConfigPath, Debug, Overrides

if TYPE_CHECKING:
    from rich.table import Table

    from nnrun.data import DataShape
    from nnrun.model import Sequential

Sanity = Annotated[
    bool,
    typer.Option(
        "--sanity",
        help="Also check the loss at initialisation and that the network overfits 20 training examples; "
        "exit 1 if either fails.",
    ),
]


@handles_errors
def check(config: ConfigPath, overrides: Overrides = None, sanity: Sanity = False, debug: Debug = False) -> None:
    """Validate CONFIG against its data and print each layer's output shape, parameters, FLOPs and activation memory.

    The data is looked at, not loaded: the catalog's shape and classes, a CSV's header and label column, an
    npz's array headers and labels, an image folder's classes and first image. Nothing is downloaded.

    Example: nnrun check configs/cnn.yaml --sanity
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast
    from rich.markup import escape

    from nnrun.checks.data import against_data
    from nnrun.config import load_config
    from nnrun.model import Sequential

    cfg = load_config(config, overrides or ())
    model = Sequential.from_config(cfg.resolved()["model"], dtype=cfg.dtype, seed=cfg.seed)
    data, warning = against_data(cfg, model)
    console = Console()
    console.print(summary_table(cfg.name, model))
    if data is not None:
        console.print(f"data: {describe(data)}", highlight=False)
    if warning:
        Console(stderr=True, highlight=False).print(f"[yellow]warning: {escape(warning)}[/]")
    if data is None:
        verdict = "config ok; data not checked"
    elif data.where is None and not data.downloads:
        verdict = f"config ok. {data.name}'s files were not found"
    else:
        verdict = "config ok"  # `train` will start
    weights = human_bytes(model.num_params() * model.dtype.itemsize)
    batch = cfg.train.batch_size
    activations = human_bytes(batch * sum(r.activation_bytes for r in model.summary()))
    console.print(f"{verdict}. weights {weights}; activations for a batch of {batch}: {activations}")
    if cfg.sweep is not None:
        console.print(
            f"sweep: {cfg.sweep.method} over {', '.join(cfg.sweep.parameters) or 'no parameters'}; "
            + (
                f"`nnrun sweep {config} --dry-run` checks every choice and range end and prints the rounds"
                if cfg.sweep.method == "tpe"
                else f"`nnrun sweep {config} --dry-run` checks every trial and lists them"
            )
        )
    if sanity:
        print_sanity(console, cfg)


def describe(data: DataShape) -> str:
    """'csv in cancer.csv: input [30], 2 classes (benign, malignant)': what was read, and where."""
    names = ", ".join(data.class_names)
    numbered = data.class_names == [str(k) for k in range(data.num_classes)]
    shown = "" if numbered or len(names) > 40 else f" ({names})"
    text = f"input {list(data.input_shape)}, {data.num_classes} classes{shown}"
    if data.where is None:
        tail = "; train downloads its files first" if data.downloads else ""
        return f"{data.name} (from the catalog): {text}{tail}"
    return f"{data.name} in {data.where}: {text}" if data.where != "built in" else f"{data.name}: {text}"


def summary_table(name: str, model: Sequential) -> Table:
    """A row per layer; FLOPs and activation memory are per example (the caption says so, the headers stay short)."""
    from rich.table import Table

    table = Table(title=f"{name}: input {list(model.input_shape)}, {model.dtype}",
                  caption="FLOPs and activations (output memory) per example")  # fmt: skip
    # only the layer column wraps (between words); the others keep their width so no number is cut
    for column, justify in (("#", "right"), ("layer", "left"), ("output shape", "left"), ("params", "right"),
                            ("FLOPs", "right"), ("activations", "right")):  # fmt: skip
        table.add_column(column, justify=justify, no_wrap=column != "layer")
    rows = model.summary()
    for row in rows:
        table.add_row(str(row.index), row.label, str(list(row.output_shape)), f"{row.params:,}", f"{row.flops:,}",
                      human_bytes(row.activation_bytes))  # fmt: skip
    table.add_section()
    table.add_row("", "total", "", f"{sum(r.params for r in rows):,}", f"{sum(r.flops for r in rows):,}",
                  human_bytes(sum(r.activation_bytes for r in rows)))  # fmt: skip
    return table


def print_sanity(console, cfg) -> None:
    """Run the two sanity checks and print a line each, a hint under a failure; exit 1 if one fails."""
    from nnrun.checks.sanity import sanity_checks

    start, fit = sanity_checks(cfg)
    if start.expected is None:
        start_text = f"initial loss {start.measured:.4f} for {start.loss_name}: no expected value known"
    else:
        start_text = (
            f"initial loss {start.measured:.4f}, expected {start.formula} = {start.expected:.4f} for "
            f"{start.loss_name} (within a factor of {start.factor:g})"
        )
    ending = {
        "fitted": "",
        "max_steps": ", the step limit",
        "stalled": ": the loss stopped falling",
        "diverged": ": diverged",
    }
    fit_text = (
        f"overfit {fit.examples} examples: {fit.accuracy:.0%} train accuracy after {fit.steps} steps"
        f"{ending[fit.stopped]} (loss {fit.initial_loss:.4f} -> {fit.loss:.4f})"
    )
    verdicts = {True: "[green]pass[/]", False: "[bold red]fail[/]", None: "[yellow]skip[/]"}
    width = max(len(start_text), len(fit_text))
    for text, result in ((start_text, start), (fit_text, fit)):
        console.print(f"sanity: {text:<{width}}   {verdicts[result.passed]}", highlight=False)
        if result.hint:
            console.print(f"  hint: {result.hint}", style="dim", highlight=False)
    if start.passed is False or not fit.passed:
        raise typer.Exit(1)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
