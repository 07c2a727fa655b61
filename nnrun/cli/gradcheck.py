"""`nnrun gradcheck CONFIG`: the network's analytic gradients against central differences, in float64."""

from __future__ import annotations

from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import ConfigPath, Debug, Overrides


@handles_errors
def gradcheck(
    config: ConfigPath,
    overrides: Overrides = None,
    batch: Annotated[int, typer.Option(min=1, help="Examples in the random batch.")] = 4,
    samples: Annotated[int, typer.Option(min=1, help="Entries checked per parameter array (all if fewer).")] = 40,
    debug: Debug = False,
) -> None:
    """Check every parameter's gradient and the input gradient; exit 1 if any relative error exceeds 1e-6.

    Example: nnrun gradcheck configs/moons.yaml
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast
    from rich.table import Table

    from nnrun.checks.gradcheck import TOLERANCE, check_network
    from nnrun.config import load_config

    cfg = load_config(config, overrides or ())
    rows = check_network(cfg, batch=batch, samples=samples)
    table = Table(title=f"{cfg.name}: gradient check in float64 (tolerance {TOLERANCE:g})")
    for column in ("layer", "parameter", "max rel. error", "result"):
        table.add_column(column)
    for row in rows:
        verdict = "[green]pass[/]" if row.passed else "[bold red]FAIL[/]"
        table.add_row(row.layer, row.param, f"{row.max_rel_error:.2e}", verdict)
    Console().print(table)
    failed = [row for row in rows if not row.passed]
    if failed:
        Console(stderr=True).print(f"[bold red]{len(failed)} of {len(rows)} gradients failed the check[/]")
        raise typer.Exit(1)
