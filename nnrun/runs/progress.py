"""What a training run tells while it runs: the Reporter protocol, the Silent default and the rich progress.

The trainer calls a reporter at each event below and nowhere else prints; `nnrun train` passes a
RichReporter, the Python API and each sweep trial whatever reporter they are given. A reporter that
wants a few events subclasses Silent and overrides those.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nnrun.results import metric_cell, metric_title


@dataclass(frozen=True)
class RunStart:
    """What is known when a run starts (or resumes)."""

    name: str
    run_dir: Path
    params: int
    train_examples: int
    total_steps: int
    step: int  # steps already done: 0 for a new run, the checkpoint's step when resuming
    threads: int


class Reporter(Protocol):
    def start(self, run: RunStart) -> None:
        """Before the JIT warm-up; the run folder exists and holds config.yaml."""

    def compiled(self, seconds: float) -> None:
        """The kernels are compiled (or loaded from numba's cache): training starts now."""

    def epoch_start(self, epoch: int, batches: int) -> None:
        """Epoch `epoch` (from 0) starts; it has `batches` steps left to run."""

    def batch(self, loss: float, acc: float, samples: int) -> None:
        """One optimizer step is done: its batch's mean loss, accuracy and number of examples."""

    def epoch_end(self) -> None: ...

    def evaluation(self, row: dict[str, Any]) -> None:
        """A metrics.csv row, already written."""

    def message(self, text: str) -> None:
        """Something the user should read (early stopping)."""

    def finish(self, summary: dict[str, Any]) -> None:
        """The run is over; `summary` is summary.json's content."""


class Silent:
    """The default reporter: every event is ignored, so the Python API prints nothing unless asked."""

    def start(self, run: RunStart) -> None: ...
    def compiled(self, seconds: float) -> None: ...
    def epoch_start(self, epoch: int, batches: int) -> None: ...
    def batch(self, loss: float, acc: float, samples: int) -> None: ...
    def epoch_end(self) -> None: ...
    def evaluation(self, row: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None: ...
    def finish(self, summary: dict[str, Any]) -> None: ...


class RichReporter(Silent):
    """`nnrun train`'s progress: a live bar per epoch, one line per evaluation, a best/last table at the end."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self.task = None
        self.header_printed = False

    def start(self, run: RunStart) -> None:
        self.console.print(
            f"[bold]{run.name}[/]: {run.params:,} params, "
            f"{run.train_examples:,} training examples, {run.total_steps:,} steps, "
            f"{run.threads} thread(s)\nresults in {run.run_dir}"
        )
        # A redraw holds the GIL while the training threads wait for it: 4 a second, not rich's 10
        # (figures in benchmarks/README.md).
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.3f}  {task.fields[rate]:,.0f} samples/s"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            refresh_per_second=4,
        )
        self.progress.start()

    def epoch_start(self, epoch: int, batches: int) -> None:
        self.loss = self.acc = 0.0
        self.count = 0
        self.samples = 0
        self.tick = time.perf_counter()
        self.task = self.progress.add_task("", total=batches, epoch=epoch + 1, loss=0.0, acc=0.0, rate=0.0)

    def batch(self, loss: float, acc: float, samples: int) -> None:
        self.count += 1
        self.samples += samples
        self.loss += (loss - self.loss) / self.count
        self.acc += (acc - self.acc) / self.count
        rate = self.samples / max(time.perf_counter() - self.tick, 1e-9)
        self.progress.update(self.task, advance=1, loss=self.loss, acc=self.acc, rate=rate)

    def epoch_end(self) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None

    def evaluation(self, row: dict[str, Any]) -> None:
        # fixed-width columns under one header, so a line fits an 80-column terminal
        splits = [split for split in ("train", "val", "test") if row.get(f"{split}_loss") is not None]
        if not self.header_printed:
            header = f"{'epoch':>6} {'step':>7} {'lr':>7}" + "".join(
                f" {split + ' loss':>10} {'acc %':>7}" for split in splits
            )
            self.console.print(header, style="bold", highlight=False)
            self.header_printed = True
        line = f"{row['epoch']:>6} {row['step']:>7} {row['lr']:>7.2g}"
        line += "".join(f" {row[f'{split}_loss']:>10.4f} {100 * row[f'{split}_acc']:>7.2f}" for split in splits)
        self.console.print(line, highlight=False)

    def message(self, text: str) -> None:
        self.console.print(f"[yellow]{text}[/]")

    def finish(self, summary: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.console.print(summary_table(summary))
        timings = summary["timings"]
        self.console.print(
            f"status [bold]{summary['status']}[/]; {timings['train_seconds']:.1f} s training, "
            f"{timings['jit_compile_seconds']:.1f} s JIT compile\nresults in {summary['run_dir']}"
        )


def summary_table(summary: dict[str, Any]) -> Table:
    """The best and last evaluation, as summary.md has them (accuracies in %)."""
    table = Table(title=f"{summary['name']}: best ({summary['monitor_mode']} {summary['monitor']}) and last")
    table.add_column("")
    metrics = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
    for metric in metrics:
        table.add_column(metric_title(metric), justify="right")
    for label in ("best", "last"):
        row = summary.get(label) or {}
        table.add_row(label, *(metric_cell(metric, row.get(metric)) for metric in metrics))
    return table
