"""The one writer of a run folder: config, metrics, timing, summary, log, checkpoint, weights and curves.

The trainer hands every file to a RunFolder; each is written atomically (nnrun.io), train.log appended.
nnrun.results reads the same files back.
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nnrun.errors import RunError
from nnrun.io import append_line, atomic_savez, atomic_write_text, csv_text, dump_yaml, read_csv, read_npz
from nnrun.model import Sequential, save_model
from nnrun.report.run_figures import TRAIN, draw_run
from nnrun.results import METRIC_COLUMNS, TIMING_COLUMNS, summary_markdown
from nnrun.runs.diagnostics import DIAGNOSTIC_COLUMNS

STATE_KEY = "__state__"  # the checkpoint's JSON state among its arrays
RESULTS_ROOT = "results"  # run folders go to results/<name>/<run-id>/ unless --out says otherwise


class RunFolder:
    def __init__(self, path: str | Path, *, made: list[Path] | None = None):
        self.path = Path(path)
        self._made = made or []  # folders this object created, removed again by discard()

    @classmethod
    def create(
        cls, name: str, resolved: dict[str, Any], out: str | Path | None = None, root: str | Path = RESULTS_ROOT
    ) -> RunFolder:
        """`out` if given (must be empty or absent), else results/<name>/<UTC time>-<config hash>[-k]."""
        if out is not None:
            path = Path(out)
            if path.exists() and any(path.iterdir()):
                raise RunError(
                    f"--out folder {path} is not empty",
                    hint="choose a new folder, or use `nnrun train --resume` to continue a run",
                )
            return cls(path, made=make_folders(path))
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        base = Path(root) / name
        made = make_folders(base)
        run_id = f"{stamp}-{config_hash(resolved)}"
        for k in range(1000):
            path = base / (run_id if k == 0 else f"{run_id}-{k}")
            try:
                path.mkdir()
                return cls(path, made=[path, *made])
            except FileExistsError:
                continue
        raise RunError(f"cannot create a run folder under {base}")

    def discard(self) -> None:
        """Remove the folders `create` made while they are still empty: the run never started."""
        for folder in self._made:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    # --- files ------------------------------------------------------------------------------------
    def write_config(self, resolved: dict[str, Any]) -> None:
        atomic_write_text(self.path / "config.yaml", dump_yaml(resolved))

    def write_metrics(self, history: list[dict[str, Any]], timing: list[dict[str, Any]]) -> None:
        atomic_write_text(self.path / "metrics.csv", csv_text(METRIC_COLUMNS, history))
        atomic_write_text(self.path / "timing.csv", csv_text(TIMING_COLUMNS, timing))

    def write_diagnostics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_text(self.path / "diagnostics.csv", csv_text(DIAGNOSTIC_COLUMNS, rows))

    def read_diagnostics(self) -> list[dict[str, Any]]:
        path = self.path / "diagnostics.csv"
        return read_csv(path, text=["layer"]) if path.is_file() else []

    def read_metrics(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(metrics rows, timing rows) written so far; empty where a file does not exist yet."""
        return tuple(
            read_csv(self.path / name) if (self.path / name).is_file() else [] for name in ("metrics.csv", "timing.csv")
        )

    def write_summary(self, summary: dict[str, Any], *, markdown: bool = False) -> None:
        atomic_write_text(self.path / "summary.json", json.dumps(summary, indent=2) + "\n")
        if markdown:
            atomic_write_text(self.path / "summary.md", summary_markdown(summary))

    def log(self, line: str) -> None:
        append_line(self.path / "train.log", f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}")

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.npz"

    def save_checkpoint(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        atomic_savez(self.checkpoint_path, {**arrays, STATE_KEY: np.array(json.dumps(state))})

    def load_checkpoint(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = read_npz(self.checkpoint_path)
        return arrays, json.loads(str(arrays.pop(STATE_KEY)))

    def save_model(self, model: Sequential, model_config: dict[str, Any]) -> None:
        save_model(model, self.path / "model.npz", model_config)

    def draw_figures(self) -> None:
        draw_run(self.path, TRAIN)


def checkpoint_state(path: str | Path) -> dict[str, Any] | None:
    """The JSON state of a checkpoint.npz (epoch, step, ...), reading none of its arrays; None when there is
    no readable checkpoint."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(str(archive[STATE_KEY]))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def make_folders(path: Path) -> list[Path]:
    """mkdir -p, returning the folders it made, deepest first (an existing `path` gives [])."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    path.mkdir(parents=True, exist_ok=True)
    return missing


def config_hash(resolved: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:6]
