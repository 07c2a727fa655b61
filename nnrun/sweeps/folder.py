"""The one writer of a sweep folder's own files: sweep.yaml, trials.csv, summary.csv and summary.md (with a
schedule rungs.csv, with tpe rounds.json).

Only the driver writes them, each atomically, so a sweep killed at any moment leaves complete files; the
trials write their own run folders under trials/. nnrun.results.load_sweep reads it all back.
"""

from __future__ import annotations

import difflib
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from nnrun.errors import ConfigError, RunError
from nnrun.io import atomic_write_text, csv_text, dump_yaml, read_csv
from nnrun.results import RUNG_COLUMNS, SUMMARY_COLUMNS, TRIAL_COLUMNS
from nnrun.sweeps.plan import Plan, without_budget


class SweepFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def trials_dir(self) -> Path:
        return self.path / "trials"

    def trial_dir(self, trial: str) -> Path:
        return self.trials_dir / trial

    def saved(self) -> dict[str, Any] | None:
        """sweep.yaml's content, or None for a new folder; a folder holding anything else is refused."""
        if (self.path / "sweep.yaml").is_file():
            return yaml.safe_load((self.path / "sweep.yaml").read_text())
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise RunError(
                f"{self.path} is not a sweep folder (no sweep.yaml) and not empty",
                hint="choose a new --out folder, or point --resume at a folder nnrun sweep wrote",
            )
        return None

    def check_base(self, plan: Plan, force: bool) -> None:
        """Refuse to add trials of a changed base config to this folder, showing the change, unless forced."""
        saved = self.saved()
        if saved is None or saved["base"] == plan.base or force or raises_maximum(saved["base"], plan):
            return
        diff = difflib.unified_diff(
            dump_yaml(saved["base"]).splitlines(),
            dump_yaml(plan.base).splitlines(),
            f"{self.path / 'sweep.yaml'} (base)",
            f"{plan.source} (base)",
            lineterm="",
            n=1,
        )
        raise ConfigError(
            "the base config differs from the one this sweep ran with; only sweep: may change when resuming:\n"
            + "\n".join(diff),
            where=str(self.path),
            hint="resume with the config unchanged, start a new sweep with --out NEW_DIR, or give --force to "
            "run the new base's trials here (the old trials are then listed as stale)",
        )

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold sweep.lock while running: a second driver on the same folder is refused, not interleaved.

        A lock left by a driver that died (no such process on this host) is taken over."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / "sweep.lock"
        owner = f"{socket.gethostname()} {os.getpid()}"
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                host, _, pid = lock.read_text().partition(" ")
                if host != socket.gethostname() or _alive(int(pid or 0)):
                    raise RunError(
                        f"another nnrun sweep ({host}, pid {pid}) is running in {self.path}",
                        hint=f"wait for it to finish, or delete {lock} if that process is gone",
                    ) from None
                lock.unlink(missing_ok=True)  # its driver died
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(owner)
            break
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)

    def write_plan(self, plan: Plan) -> None:
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        saved = {
            "source": plan.source,
            "overrides": list(plan.overrides),
            "spec": plan.spec.model_dump(),
            "base": plan.base,
            "config": plan.raw,
        }
        header = "# nnrun sweep: the config as read (config), its --set (overrides), the resolved base and the spec\n"
        atomic_write_text(self.path / "sweep.yaml", header + dump_yaml(saved))

    def previous_trials(self) -> dict[str, dict[str, Any]]:
        """trials.csv rows of an earlier session, by trial id (their seconds and attempts carry over)."""
        path = self.path / "trials.csv"
        return {row["trial"]: row for row in read_csv(path, text=["trial"])} if path.is_file() else {}

    def write_trials(
        self, parameters: list[str], rows: list[dict[str, Any]], scheduled: bool = False, rounds: bool = False
    ) -> None:
        # with tpe, `round` follows `point`; with a schedule, `rung` (the resource each trial reached) `status`
        after = TRIAL_COLUMNS.index("status") + 1
        rung = ["rung"] if scheduled else []
        head = TRIAL_COLUMNS[:2] + (["round"] if rounds else []) + TRIAL_COLUMNS[2:3]
        columns = head + parameters + TRIAL_COLUMNS[3:after] + rung + TRIAL_COLUMNS[after:]
        atomic_write_text(self.path / "trials.csv", csv_text(columns, rows))

    def write_summary(self, parameters: list[str], rows: list[dict[str, Any]], markdown: str) -> None:
        # with a schedule, `rung` and `stopped` come before `best`
        scheduled = any("stopped" in row for row in rows)
        at = SUMMARY_COLUMNS.index("best")
        rung = ["rung", "stopped"] if scheduled else []
        columns = SUMMARY_COLUMNS[:1] + parameters + SUMMARY_COLUMNS[1:at] + rung + SUMMARY_COLUMNS[at:]
        atomic_write_text(self.path / "summary.csv", csv_text(columns, rows))
        atomic_write_text(self.path / "summary.md", markdown)

    def saved_rounds(self) -> dict[str, Any] | None:
        path = self.path / "rounds.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def write_rounds(self, spec: dict[str, Any], rounds: list[dict[str, Any]], optuna: str) -> None:
        """tpe's rounds, each written before its trials start: a resumed study continues these points."""
        saved = {"spec": spec, "optuna": optuna, "rounds": rounds}
        atomic_write_text(self.path / "rounds.json", json.dumps(saved, indent=1) + "\n")

    def write_rungs(self, parameters: list[str], rows: list[dict[str, Any]]) -> None:
        at = RUNG_COLUMNS.index("point") + 1
        columns = RUNG_COLUMNS[:at] + parameters + RUNG_COLUMNS[at:]
        atomic_write_text(self.path / "rungs.csv", csv_text(columns, rows))


def raises_maximum(before: dict[str, Any], plan: Plan) -> bool:
    """Whether the plan differs from the saved base only by a larger budget, which its trials continue to."""
    if not plan.budget_free:
        return False
    key = "max_steps" if plan.base["train"].get("max_steps") else "epochs"
    return without_budget(before) == without_budget(plan.base) and before["train"][key] < plan.base["train"][key]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
