"""Options shared by several verbs, as Annotated aliases."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

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
