"""Turns nnrun's exceptions into one red message on stderr and an exit code; --debug shows the traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer

from nnrun.errors import NnrunError


def handles_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a verb: NnrunError -> its message and exit code (1 generic or a failed write, 2 bad input,
    3 diverged); any other OSError -> its one line and 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NnrunError as error:
            if kwargs.get("debug"):
                raise
            report(f"error: {error.message()}")
            raise typer.Exit(error.exit_code) from None
        except OSError as error:  # the machine, not nnrun: a disk, a permission; said in one line all the same
            if kwargs.get("debug"):
                raise
            report(f"error: {error}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            report("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def report(text: str) -> None:
    from rich.console import Console  # imported here: keeps `nnrun --help` fast
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]{escape(text)}[/]")
    sys.stderr.flush()
