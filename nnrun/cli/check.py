"""`nnrun check CONFIG`: validate a config and print the network summary."""

from __future__ import annotations

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import ConfigPath, Debug, Overrides


@handles_errors
def check(config: ConfigPath, overrides: Overrides = None, debug: Debug = False) -> None:
    """Validate CONFIG and print each layer's output shape, parameters, FLOPs and activation memory.

    Example: nnrun check configs/cnn.yaml
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast
    from rich.table import Table

    from nnrun.config import load_config
    from nnrun.model import Sequential

    cfg = load_config(config, overrides or ())
    model = Sequential.from_config(cfg.resolved()["model"], dtype=cfg.dtype, seed=cfg.seed)
    table = Table(title=f"{cfg.name}: input {list(model.input_shape)}, {cfg.dtype}")
    for column, justify in (("#", "right"), ("layer", "left"), ("output shape", "left"), ("params", "right"),
                            ("FLOPs/example", "right"), ("activations/example", "right")):  # fmt: skip
        table.add_column(column, justify=justify)
    rows = model.summary()
    for row in rows:
        table.add_row(str(row.index), row.label, str(list(row.output_shape)), f"{row.params:,}", f"{row.flops:,}",
                      human_bytes(row.activation_bytes))  # fmt: skip
    table.add_section()
    table.add_row("", "total", "", f"{sum(r.params for r in rows):,}", f"{sum(r.flops for r in rows):,}",
                  human_bytes(sum(r.activation_bytes for r in rows)))  # fmt: skip
    console = Console()
    console.print(table)
    batch = cfg.train.batch_size
    console.print(
        f"config ok. weights {human_bytes(model.num_params() * model.dtype.itemsize)}; "
        f"activations for a batch of {batch}: {human_bytes(batch * sum(r.activation_bytes for r in rows))}"
    )
    if cfg.sweep is not None:
        console.print(
            f"sweep: {cfg.sweep.method} over {', '.join(cfg.sweep.parameters) or 'no parameters'}; "
            f"`nnrun sweep {config} --dry-run` checks every trial and lists them"
        )


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
