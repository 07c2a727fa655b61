"""`nnrun eval RUN_DIR`: loss and accuracy of a trained run's weights on one split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors
from nnrun.cli.options import Debug, RunDir


@handles_errors
def eval_run(
    run_dir: RunDir,
    split: Annotated[str, typer.Option(help="Split to evaluate: train, val or test.")] = "test",
    save_logits: Annotated[
        Path | None, typer.Option("--save-logits", help="Save logits and labels to this .npz.")
    ] = None,
    debug: Debug = False,
) -> None:
    """Load RUN_DIR/model.npz and report loss and accuracy on a split.

    Example: nnrun eval results/quickstart/<run-id> --split val --save-logits val_logits.npz
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.runs.evaluate import evaluate_run

    result = evaluate_run(run_dir, split, save_logits=save_logits)
    Console().print(
        f"{result['split']}: loss {result['loss']:.4f}  accuracy {100 * result['accuracy']:.2f} %  ({result['n']:,} examples)"
        + (f"\nlogits and labels saved to {save_logits}" if save_logits else "")
    )
