"""Reading run folders back: `load_run(path)` gives a Run (resolved config, metrics rows, summary).

results/<name>/<run-id>/
  config.yaml      the resolved config, every default filled in
  metrics.csv      one row per evaluation (deterministic: same config and seed, same bytes)
  timing.csv       seconds and samples/s per evaluation (wall-clock, so kept apart from metrics.csv)
  summary.json     status, best and last metrics, timings, versions, seed, git commit
  summary.md       the best/last table as Markdown
  model.npz        final weights (see nnrun.model for the layout)
  checkpoint.npz   weights, optimizer state, RNG states, epoch and step for --resume
  curves.png       accuracy and loss against epoch
  train.log        the log of the run

nnrun.run_folder writes them; this module, plots and reports only read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nnrun.errors import RunError
from nnrun.io import read_csv

METRIC_COLUMNS = [
    "epoch", "step", "lr",
    "train_loss", "train_acc", "reg_loss",
    "val_loss", "val_acc", "test_loss", "test_acc",
]  # fmt: skip
TIMING_COLUMNS = ["epoch", "step", "seconds", "samples_per_sec"]


@dataclass
class Run:
    """A run folder read back: its resolved config, its history (metrics.csv rows) and summary.json."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.summary.get("status", "unknown")

    def model(self):
        from nnrun.model import load_model  # imported here: reading a folder should not load the numba kernels

        return load_model(self.path / "model.npz")


def load_run(path: str | Path) -> Run:
    path = Path(path)
    if not (path / "config.yaml").is_file():
        raise RunError(f"{path} is not a run folder (no config.yaml)", hint="pass a folder under results/<name>/")
    config = yaml.safe_load((path / "config.yaml").read_text())
    history = read_csv(path / "metrics.csv") if (path / "metrics.csv").is_file() else []
    summary = json.loads((path / "summary.json").read_text()) if (path / "summary.json").is_file() else {}
    return Run(path=path, config=config, history=history, summary=summary)


def summary_markdown(summary: dict[str, Any]) -> str:
    """Report 003's Table 1: best and last loss/accuracy for train, val and test."""
    lines = [
        f"# {summary.get('name', 'run')}: {summary.get('status', '')}",
        "",
        "| | train loss | train acc | val loss | val acc | test loss | test acc | epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in ("best", "last"):
        row = summary.get(label) or {}
        cells = [
            fmt_cell(row.get(k)) for k in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {fmt_cell(row.get('epoch'))} |")
    if summary.get("monitor"):
        lines += ["", f"best = the evaluation with the {summary['monitor_mode']} `{summary['monitor']}`."]
    return "\n".join(lines) + "\n"


def fmt_cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
