"""`nnrun layers`: every registered layer, loss, optimizer, schedule, initializer and dataset, with parameters."""

from __future__ import annotations

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug


@handles_errors
def layers(debug: Debug = False) -> None:
    """List the registered building blocks and their parameters (name=default).

    Example: nnrun layers
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast
    from rich.markup import escape
    from rich.table import Table

    import nnrun.config  # noqa: F401  (imports every family, filling the registries)
    from nnrun.registry import DATASETS, INITIALIZERS, LAYERS, LOSSES, OPTIMIZERS, SCHEDULES

    console = Console()
    for registry in (LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, INITIALIZERS, DATASETS):
        plural = registry.kind + ("es" if registry.kind.endswith("s") else "s")  # loss: losses
        table = Table(title=plural, title_justify="left")
        table.add_column("type")
        table.add_column("parameters")
        table.add_column("description")
        for name, cls in registry.items():
            fields = registry.schema(name).model_fields
            params = ", ".join(
                f"{key}" if field.is_required() else f"{key}={field.default!r}"
                for key, field in fields.items()
                if key not in ("type", "name")
            )
            doc = (cls.__doc__ or "").strip().splitlines()
            # docstrings and defaults hold brackets ([dropout], softmax(z)[y]) that rich would read as markup
            table.add_row(escape(name), escape(params) or "–", escape(doc[0]) if doc else "")
        console.print(table)
