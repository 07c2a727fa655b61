"""The benchmark's results as a table with footnotes: rich for the terminal, Markdown for benchmarks/README.md."""

from __future__ import annotations

import sys
from typing import Any

FRAMEWORKS = ("nnrun", "torch")


def rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table as header and text rows, shared by the rich table and the Markdown one."""
    header = ["model", "nnrun s/epoch", "torch s/epoch", "nnrun/torch", "nnrun GFLOP/s (% peak)",
              "torch GFLOP/s (% peak)", "nnrun RSS MB", "torch RSS MB"]  # fmt: skip
    body = []
    for row in results["models"]:
        cells = [f"{row['model']} (batch {row['batch_size']})"]
        for fw in FRAMEWORKS:
            cells.append(f"{row[fw]['seconds_per_epoch']:.2f}" if fw in row else "–")
        cells.append(f"{row['ratio']:.2f}" if row.get("ratio") else "–")
        for fw in FRAMEWORKS:
            cells.append(f"{row[fw]['gflops']:.0f} ({row[fw]['peak_percent']:.0f}%)" if fw in row else "–")
        for fw in FRAMEWORKS:
            cells.append(f"{row[fw]['rss_mb']:.0f}" if fw in row else "–")
        body.append(cells)
    return header, body


def footnotes(results: dict[str, Any]) -> list[str]:
    lines = []
    how = (
        f"{results['batches']} batches per repetition, extrapolated to an epoch; short repetitions miss "
        "slowdowns that set in later in training"
        if results["extrapolated"]
        else "whole epochs"
    )
    lines.append(
        f"{results['threads']} thread(s); median of {results['reps']} repetitions ({how}) after "
        f"{results['warmup_batches']} warm-up batches; data: {results['data']}."
    )
    lines.append(
        f"sgemm peak {results['sgemm_peak_gflops']:.0f} GFLOP/s; training FLOPs = 3 x forward FLOPs "
        "(forward + input gradient + weight gradient)."
    )
    if "help_seconds" in results:
        lines.append(f"`nnrun --help`: {results['help_seconds']:.2f} s (median of 5).")
    if "first_batch" in results:
        fb = results["first_batch"]
        lines.append(
            f"`nnrun.train` ({fb['model']}) from the start of its process to the end of the first batch: "
            f"cold numba cache {fb['cold_seconds']:.1f} s (JIT warm-up {fb['cold_jit_seconds']:.1f} s), "
            f"warm {fb['warm_seconds']:.2f} s (JIT warm-up {fb['warm_jit_seconds']:.2f} s); "
            "`nnrun train` adds the CLI's own start-up: about the `nnrun --help` figure."
        )
    busy = [row["model"] for row in results["models"] if max(row.get("load_average", [0])) > results["threads"] + 1]
    if busy:
        lines.append(f"other work was running during {', '.join(busy)} (load average above {results['threads'] + 1}).")
    lines.extend(results["notes"])
    return lines


def report(results: dict[str, Any], console=None) -> None:
    """Print the results as a rich table with its footnotes."""
    # the parent only: kept out of the package import, which every worker does
    from rich.console import Console
    from rich.table import Table

    # wide enough for the eight columns when the output is a pipe or a file (rich assumes 80 there)
    console = console or (Console() if sys.stdout.isatty() else Console(width=160))
    header, body = rows(results)
    table = Table(title=f"training speed, {results['machine']['cpu']}", title_justify="left")
    for index, column in enumerate(header):
        table.add_column(column, justify="left" if index == 0 else "right")
    for cells in body:
        table.add_row(*cells)
    console.print(table)
    for line in footnotes(results):
        console.print(line, highlight=False)


def markdown(results: dict[str, Any]) -> str:
    """The same table as GitHub Markdown, for benchmarks/README.md."""
    header, body = rows(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines + [""] + footnotes(results)) + "\n"
