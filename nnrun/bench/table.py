"""The benchmark's results as a table with footnotes: rich for the terminal, Markdown for benchmarks/README.md."""

from __future__ import annotations

import sys
from typing import Any

FRAMEWORKS = ("nnrun", "torch", "jax")  # the columns' order; nnrun.bench.timing.FRAMEWORKS


def rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table as header and text rows, shared by the rich table and the Markdown one.

    A column per framework timed or asked for but not installed ("not installed" in its s/epoch cells),
    the roofline's seconds per epoch, nnrun's ratio to each peer, each framework's GFLOP/s, every framework's
    % of roofline in one cell ("79 / 47 / 53", as the README's tables give peak RSS) and each one's peak RSS.
    Results from before the roofline show "–" in its cells.
    """
    missing = results.get("not_installed", {})
    columns = [fw for fw in FRAMEWORKS if fw in results["frameworks"] or fw in missing]
    peers = columns[1:]
    header = ["model", *(f"{fw} s/epoch" for fw in columns), "roofline s/epoch", *(f"nnrun/{fw}" for fw in peers)]
    header += [f"{fw} GFLOP/s (% peak)" for fw in columns] + [f"% of roofline, {' / '.join(columns)}"]
    header += [f"{fw} RSS MB" for fw in columns]
    body = []
    for row in results["models"]:
        ratios = row.get("ratios", {"torch": row.get("ratio")})  # results from before the jax column
        cells = [f"{row['model']} (batch {row['batch_size']})"]
        for fw in columns:
            cells.append(
                f"{row[fw]['seconds_per_epoch']:.2f}" if fw in row else "not installed" if fw in missing else "–"
            )
        cells.append(f"{row['roofline']['seconds_per_epoch']:.2f}" if "roofline" in row else "–")
        cells += [f"{ratios[fw]:.2f}" if ratios.get(fw) else "–" for fw in peers]
        for fw in columns:
            cells.append(f"{row[fw]['gflops']:.0f} ({row[fw]['peak_percent']:.0f}%)" if fw in row else "–")
        shares = [
            f"{row[fw]['roofline_percent']:.0f}" if "roofline_percent" in row.get(fw, {}) else "–" for fw in columns
        ]
        cells.append(" / ".join(shares))
        cells += [f"{row[fw]['rss_mb']:.0f}" if fw in row else "–" for fw in columns]
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
    if "bandwidth_gbs" in results:
        lines.append(
            f"memory bandwidth {results['bandwidth_gbs']:.1f} GB/s: a triad a = b + s*c over three float32 arrays of "
            f"{results['triad_mb']} MB, best of 20, 12 bytes per element (write-allocate not counted). Roofline: "
            "each op of a training step (a layer's forward, input and weight gradient, the loss, Adam) takes the "
            "larger of FLOPs / sgemm peak and bytes / bandwidth, summed; % of roofline = roofline time / measured "
            'time (benchmarks/README.md, "The roofline").'
        )
        lines += [breakdown(row) for row in results["models"] if "roofline" in row]
    compiles = [f"{row['model']} {row['jax']['compile_seconds']:.1f} s" for row in results["models"] if "jax" in row]
    if compiles:
        lines.append(f"jax compiles its training step before the warm-up, untimed: {', '.join(compiles)}.")
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
        if "primed_seconds" in fb:
            lines.append(
                f"`nnrun compile` (every kernel, into an empty cache): {fb['compile_seconds']:.1f} s; then the first "
                f"batch: {fb['primed_seconds']:.2f} s (JIT warm-up {fb['primed_jit_seconds']:.2f} s)."
            )
    busy = [row["model"] for row in results["models"] if max(row.get("load_average", [0])) > results["threads"] + 1]
    if busy:
        lines.append(f"other work was running during {', '.join(busy)} (load average above {results['threads'] + 1}).")
    lines.extend(results["notes"])
    return lines


def breakdown(row: dict[str, Any]) -> str:
    """One model's roofline in a line: its step split into compute- and memory-bound ops, and the largest ops."""
    line = row["roofline"]
    largest = sorted(line["ops"], key=lambda op: op["seconds"], reverse=True)[:3]
    return (
        f"{row['model']} roofline {1e3 * line['seconds_per_step']:.2f} ms a step: compute-bound ops "
        f"{1e3 * line['compute_bound_seconds']:.2f} ms, memory-bound {1e3 * line['memory_bound_seconds']:.2f} ms; "
        "largest " + ", ".join(f"{op['op']} {1e3 * op['seconds']:.2f} ms ({op['bound']})" for op in largest) + "."
    )


def report(results: dict[str, Any], console=None) -> None:
    """Print the results as a rich table with its footnotes."""
    # the parent only: kept out of the package import, which every worker does
    from rich.console import Console
    from rich.table import Table

    # wide enough for the fourteen columns of three frameworks when the output is a pipe or a file (rich assumes 80)
    console = console or (Console() if sys.stdout.isatty() else Console(width=240))
    header, body = rows(results)
    table = Table(title=f"training speed, {results['machine']['cpu']}", title_justify="left")
    for index, column in enumerate(header):
        # the model's name on one line: rich would otherwise narrow it with the long headers
        table.add_column(column, justify="left" if index == 0 else "right", no_wrap=index == 0)
    for cells in body:
        table.add_row(*cells)
    console.print(table)
    for line in footnotes(results):
        console.print(line, highlight=False, markup=False)  # "nnrun[bench]" is not markup


def markdown(results: dict[str, Any]) -> str:
    """The same table as GitHub Markdown, for benchmarks/README.md."""
    header, body = rows(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines + [""] + footnotes(results)) + "\n"
