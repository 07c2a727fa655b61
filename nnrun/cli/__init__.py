"""The `nnrun` command: one module per verb, each a thin shell over a Python call a notebook can make too.

Only typer is imported here; each verb imports the numerical stack when it runs, so `nnrun --help` is quick.
"""

from __future__ import annotations

import warnings

import typer

from nnrun.cli import (
    bench,
    check,
    data,
    export,
    gradcheck,
    layers,
    plot,
    report,
    reproduce,
    runs,
    sweep,
    train,
    verify,
)
from nnrun.cli import compile as compile_
from nnrun.cli import eval as eval_
from nnrun.cli.options import Command, Group

app = typer.Typer(
    name="nnrun",
    cls=Group,
    help="Train and study neural networks written from scratch in NumPy and Numba, from YAML configs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command("train", cls=Command)(train.train)
app.command("sweep", cls=Command)(sweep.sweep)
app.command("plot", cls=Command)(plot.plot)
app.command("report", cls=Command)(report.report)
app.command("runs", cls=Command)(runs.runs)
app.command("export", cls=Command)(export.export)
app.command("check", cls=Command)(check.check)
app.command("gradcheck", cls=Command)(gradcheck.gradcheck)
app.command("eval", cls=Command)(eval_.eval_run)
app.command("verify", cls=Command)(verify.verify)
app.command("layers", cls=Command)(layers.layers)
app.add_typer(data.app, name="data")
app.command("bench", cls=Command)(bench.bench)
app.command("compile", cls=Command)(compile_.compile_kernels)
app.command("reproduce", cls=Command)(reproduce.reproduce)


def main() -> None:
    # a loader's warning (say, skipped unreadable images) reads as one line, not a source listing
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
    app()
