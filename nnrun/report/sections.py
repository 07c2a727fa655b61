"""The content of a report, kept apart from its format: a page is a title and a list of Blocks, built from a
run or sweep folder (document.py writes them as HTML or Markdown).

Building a page draws the folder's standard figures into it first, so the report shows the folder as it
is now; what cannot be drawn (no evaluation yet, no model.npz) is listed as skipped, with the reason.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrun import __version__
from nnrun.errors import RunError
from nnrun.io import inline, read_csv
from nnrun.report.run_figures import CAPTIONS, REPORT, Inspect, draw_run
from nnrun.report.sweep import left_out, plot_sweep
from nnrun.results import load_run, load_sweep, metric_cell, metric_title


@dataclass
class Block:
    """heading | text | table | image | code. Text may use **bold** and `code`; `bold` holds row indices."""

    kind: str
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    bold: set[int] = field(default_factory=set)
    path: Path | None = None
    language: str = ""
    meta: bool = False


def run_page(path: Path, inspect: bool) -> tuple[str, list[Block], list[str]]:
    run = load_run(path)
    summary = run.summary
    drawn = draw_run(path, REPORT, inspect=Inspect() if inspect else None)
    figures, skipped = drawn.written, drawn.skipped
    figures = list(dict.fromkeys(figures))
    blocks = [meta(f"run folder `{path}` · status **{run.status}** · {progress(summary)}")]
    blocks += [Block("heading", "Results")]
    if (path / "summary.md").is_file():
        blocks += markdown_blocks((path / "summary.md").read_text())
    else:
        blocks.append(Block("text", f"No summary.md yet (status {run.status})."))
    blocks += figure_blocks(figures, skipped)
    blocks += [Block("heading", "Config"), Block("code", (path / "config.yaml").read_text(), language="yaml")]
    blocks += [Block("heading", "Environment"), key_values(environment([summary]))]
    blocks += [Block("heading", "Timings"), *run_timings(path, summary)]
    blocks.append(footer(path))
    return f"{run.config['name']}: run report", blocks, skipped


def sweep_page(path: Path) -> tuple[str, list[Block], list[str]]:
    sweep = load_sweep(path)
    figures, skipped = [], []
    try:
        figures = plot_sweep(path)
    except RunError as error:
        skipped.append(f"figures: {error.what}")
    skipped += left_out(sweep)
    statuses = Counter(row["status"] for row in sweep.trials)
    states = ", ".join(f"{n} {status}" for status, n in statuses.items()) or "no trials yet"
    schedule = f" with {sweep.schedule['type']} (η={sweep.schedule['eta']})" if sweep.schedule else ""
    method = f"{sweep.spec['method']} over {', '.join(sweep.parameters)}{schedule}"
    if sweep.spec["method"] == "tpe":
        method += f" ({sweep.spec['n_trials']} points in rounds of {sweep.spec['batch']})"
    blocks = [meta(f"sweep folder `{path}` · {method} · {states}")]
    blocks += [Block("heading", "Results")]
    if (path / "summary.md").is_file():
        blocks += markdown_blocks((path / "summary.md").read_text())
    blocks += figure_blocks(figures, skipped)
    blocks += [Block("heading", "Trials"), trials_table(sweep)]
    blocks += [Block("heading", "Config"), Block("code", (path / "sweep.yaml").read_text(), language="yaml")]
    summaries = [
        sweep.run(row["trial"]).summary
        for row in sweep.trials
        if row.get("status") != "stale" and (path / "trials" / row["trial"] / "summary.json").is_file()
    ]
    if summaries:
        blocks += [Block("heading", "Environment"), key_values(environment(summaries))]
    seconds = [row["seconds"] for row in sweep.trials if isinstance(row.get("seconds"), (int, float))]
    if seconds:
        blocks += [
            Block("heading", "Timings"),
            key_values(
                {
                    "trials timed": len(seconds),
                    "sum of trial seconds": f"{sum(seconds):.1f}",
                    "mean seconds per trial": f"{sum(seconds) / len(seconds):.1f}",
                    "slowest trial (s)": f"{max(seconds):.1f}",
                }
            ),  # fmt: skip
        ]
    blocks.append(footer(path))
    return f"{sweep.base['name']}: sweep report", blocks, skipped


def figure_blocks(figures: list[Path], skipped: list[str]) -> list[Block]:
    blocks = [Block("heading", "Figures")]
    blocks += [Block("image", caption(figure), path=figure) for figure in figures]
    if skipped:
        blocks.append(Block("text", "Not drawn: " + "; ".join(skipped) + "."))
    return blocks


def caption(figure: Path) -> str:
    stem = figure.stem
    if "_vs_" in stem:
        metric, parameter = stem.split("_vs_", 1)
        return f"{metric}, mean ± std over seeds, against {parameter}"
    for suffix, words in (("_heatmap", "mean {} in each cell of the grid"), ("_curves", "{} against epoch for "
                          "each point, ± std across seeds"), ("_rungs", "{} of every trial against the resource: the "
                          "stopped ones fade at their rung, the ones that reached the top are drawn strong"),
                          ("_history", "{} of every trial against its point's number, in the order the points "
                          "came, with the best point so far")):  # fmt: skip
        if stem.endswith(suffix):
            return words.format(stem.removesuffix(suffix))
    if stem == "boundaries":
        return "each point's decision boundary (its first seed)"
    return CAPTIONS.get(stem, stem)


def trials_table(sweep: Any) -> Block:
    metric = sweep.spec.get("metric", {})
    column = f"{metric.get('at', 'best')}_{metric.get('name', 'val_acc')}"
    rung = ["rung"] if sweep.schedule else []  # the resource each trial reached
    tpe = ["round"] if sweep.spec.get("method") == "tpe" else []
    header = ["trial", "point", *tpe, *sweep.parameters, "seed", "status", *rung, metric_title(column), "seconds",
              "error"]  # fmt: skip
    rows = []
    for row in sweep.trials:
        error = str(row.get("error") or "")
        reached = [number(row.get("rung"), "g")] if rung else []
        rows.append([str(row["trial"]), str(row["point"]), *(str(row.get("round")) for _ in tpe),
                     *(inline(row[p]) for p in sweep.parameters),
                     str(row["seed"]), row["status"], *reached, metric_cell(column, row.get(column)),
                     number(row.get("seconds"), ".1f"), error[:120] + ("…" if len(error) > 120 else "")])  # fmt: skip
    return Block("table", header=header, rows=rows)


def environment(summaries: list[dict[str, Any]]) -> dict[str, str]:
    """Versions, machine and settings of a run, or of a sweep's trials: where the trials differ (a sweep over
    hidden units: their parameters), the range of the values, or each value."""
    each = [settings(summary) for summary in summaries]
    names = dict.fromkeys(name for one in each for name in one)
    return {name: values_text([one.get(name) for one in each], ranged=name == "parameters") for name in names}


def settings(summary: dict[str, Any]) -> dict[str, Any]:
    """One run's versions, machine and settings from its summary.json; None where it has none."""
    versions = summary.get("versions", {})
    machine = summary.get("machine", {})
    return {
        **{name: versions[name] for name in ("nnrun", "python", "numpy", "numba") if name in versions},
        "cpu": machine.get("cpu"),
        "cores": machine.get("cores"),
        "avx-512": machine.get("avx512"),
        "platform": versions.get("platform"),
        "threads": summary.get("threads"),
        "dtype": summary.get("dtype"),
        "seed": summary.get("seed"),
        "parameters": summary.get("params"),
        "git commit": summary.get("git_commit"),
    }


def values_text(values: list[Any], ranged: bool = False) -> str:
    """One value as it is; values that differ listed (`0, 1, 2`), or as their range when `ranged` and they are
    numbers (`129–2,049` parameters); – for none."""
    known = list(dict.fromkeys(value for value in values if value is not None and value != ""))
    if not known:
        return "–"
    if len(known) > 1 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in known):
        known.sort()
        if ranged:
            return f"{known[0]:,}–{known[-1]:,}"
    return ", ".join(f"{value:,}" if ranged and isinstance(value, int) else str(value) for value in known)


def run_timings(path: Path, summary: dict[str, Any]) -> list[Block]:
    timings = summary.get("timings", {})
    names = {"jit_compile_seconds": "compile (s)", "train_seconds": "training (s)", "eval_seconds": "evaluation (s)",
             "samples_per_sec": "training samples/s"}  # fmt: skip
    blocks = [key_values({names.get(key, key): value for key, value in timings.items()})]
    if (path / "timing.csv").is_file():
        rows = read_csv(path / "timing.csv")
        blocks.append(
            Block(
                "table",
                header=["epoch", "step", "seconds since start", "samples/s"],
                rows=[
                    [
                        number(r["epoch"], "g"),
                        str(r["step"]),
                        number(r["seconds"], ".1f"),
                        number(r["samples_per_sec"], ",.0f"),
                    ]
                    for r in rows
                ],  # fmt: skip
            )
        )
    return blocks


def markdown_blocks(text: str) -> list[Block]:
    """The blocks of a summary.md: its tables and the notes after them (its `# title` is the page's)."""
    blocks, table = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if table:
            header, rows = table[0], [row for row in table[1:] if not set("".join(row)) <= set("-: ")]
            bold = {i for i, row in enumerate(rows) if all(c.startswith("**") for c in row if c)}
            rows = [[cell.strip("*") if i in bold else cell for cell in row] for i, row in enumerate(rows)]
            blocks.append(Block("table", header=header, rows=rows, bold=bold))
            table = []
        if line.strip() and not line.startswith("# "):
            blocks.append(Block("text", line.strip()))
    return blocks


def key_values(values: dict[str, Any]) -> Block:
    return Block("table", header=["", ""], rows=[[key, str(value)] for key, value in values.items()])


def meta(text: str) -> Block:
    return Block("text", text, meta=True)


def footer(path: Path) -> Block:
    return meta(f"Written by nnrun {__version__} on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
                f"from `{path}`; `nnrun report {path}` writes it again.")  # fmt: skip


def progress(summary: dict[str, Any]) -> str:
    if not summary:
        return "no summary.json yet"
    return f"epoch {summary.get('epoch', '–')}, step {summary.get('step', '–')} of {summary.get('total_steps', '–')}"


def number(value: Any, spec: str = ".4f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"
