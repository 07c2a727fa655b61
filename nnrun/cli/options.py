"""Options shared by several verbs, as Annotated aliases, and the command classes that show them in --help."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

ConfigPath = Annotated[Path, typer.Argument(help="YAML config file.", show_default=False)]
RunDir = Annotated[Path, typer.Argument(help="A run folder, e.g. results/quickstart/20261123-101500-1a2b3c.")]
Overrides = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a config value: key.path=value (YAML-typed; repeatable). "
        "Layers by name or index: model.hidden.units=100, model.layers.2.units=100.",
    ),
]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]
NoPlot = Annotated[bool, typer.Option("--no-plot", help="Skip the figures at the end (`nnrun plot` draws them later).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")]
Offline = Annotated[
    bool,
    typer.Option(
        "--offline", help="Never download: use only local data (same as NNRUN_OFFLINE=1).", envvar="NNRUN_OFFLINE"
    ),
]


def apply_offline(offline: bool) -> None:
    """Make --offline visible to the data loaders, which read NNRUN_OFFLINE."""
    if offline:
        os.environ["NNRUN_OFFLINE"] = "1"


class Command(TyperCommand):
    """A verb: its help's prose reflowed to the terminal's width, its flags shown without a value placeholder."""

    def __init__(self, *args, help: str | None = None, **kwargs):
        super().__init__(*args, help=reflowed(help), **kwargs)

    def get_params(self, ctx: typer.Context) -> list:
        return without_flag_placeholders(super().get_params(ctx))


class Group(TyperGroup):
    """`nnrun` and `nnrun data`: their --help shown as their verbs' is."""

    def get_params(self, ctx: typer.Context) -> list:
        return without_flag_placeholders(super().get_params(ctx))


def without_flag_placeholders(params: list) -> list:
    # typer's rich help gives every option its type, a flag too: `--quiet <bool>` reads as if it took a value
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


def reflowed(help: str | None) -> str | None:
    """The docstring with each paragraph's line breaks made spaces, since rich help keeps them and a paragraph
    then breaks at the source's line ends as well as the terminal's; an Example paragraph keeps its lines."""
    if not help:
        return help
    paragraphs = inspect.cleandoc(help).split("\n\n")
    return "\n\n".join(text if text.startswith(("Example", "\b")) else text.replace("\n", " ") for text in paragraphs)
