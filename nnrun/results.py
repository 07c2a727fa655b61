"""Run folders and the files in them, each written atomically (temp file in the same folder, then os.replace).

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
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nnrun.errors import RunError

METRIC_COLUMNS = [
    "epoch", "step", "lr",
    "train_loss", "train_acc", "reg_loss",
    "val_loss", "val_acc", "test_loss", "test_acc",
]  # fmt: skip
TIMING_COLUMNS = ["epoch", "step", "seconds", "samples_per_sec"]


# --- atomic writes ----------------------------------------------------------------------------
def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_savez(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# --- CSV ----------------------------------------------------------------------------------------
def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def csv_text(columns: list[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([format_value(row.get(column)) for column in columns])
    return out.getvalue()


def read_csv(path: str | Path) -> list[dict[str, Any]]:
    """Rows with numbers parsed back (empty cells become None)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{key: parse_number(value) for key, value in row.items()} for row in rows]


def parse_number(text: str) -> Any:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# --- run folders --------------------------------------------------------------------------------
def config_hash(resolved: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:6]


def new_run_dir(name: str, resolved: dict[str, Any], out: str | Path | None = None, root: str | Path = "results") -> Path:
    """`out` if given (must be empty or absent), else results/<name>/<UTC time>-<config hash>[-k]."""
    if out is not None:
        path = Path(out)
        if path.exists() and any(path.iterdir()):
            raise RunError(
                f"--out folder {path} is not empty",
                hint="choose a new folder, or use `nnrun train --resume` to continue a run",
            )
        path.mkdir(parents=True, exist_ok=True)
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(root) / name
    base.mkdir(parents=True, exist_ok=True)
    run_id = f"{stamp}-{config_hash(resolved)}"
    for k in range(1000):
        path = base / (run_id if k == 0 else f"{run_id}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunError(f"cannot create a run folder under {base}")


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
        from nnrun.model import load_model

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
        cells = [fmt_cell(row.get(k)) for k in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")]
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
