"""From a config with a `sweep:` section to its trials, every one validated before anything runs.

A trial is one parameter point trained with one seed. It is exactly the train run
`nnrun train CONFIG --set <the sweep's own --set> --set <its parameters> --set seed=S`: its config is made
the same way, by applying those overrides to the file's data, and checked by the same validation. Its id is
a hash of that resolved config (the thread count aside, which does not change the numbers), so a resumed
sweep recognises the trials it has already run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnrun.config import LineMap, Override, SweepConfig, read_config, validate
from nnrun.errors import ConfigError, NnrunError
from nnrun.io import inline
from nnrun.sweeps.space import Point, point_overrides, points

MAX_LISTED = 12  # trial errors listed before "... and N more"


@dataclass(frozen=True)
class Trial:
    id: str
    point: int  # the number of its parameter point, from 1
    params: Point
    seed: int
    config: dict[str, Any]  # resolved, train.threads as the base config gives it
    sets: tuple[str, ...]  # the `--set` arguments that make it from the config file

    def command(self, source: str, threads: int | None = None) -> str:
        """The `nnrun train` command that gives this trial's metrics.csv, byte for byte."""
        sets = list(self.sets) + ([f"train.threads={threads}"] if threads is not None else [])
        return shlex.join(["nnrun", "train", source, *(part for text in sets for part in ("--set", text))])


@dataclass
class Plan:
    name: str
    source: str  # the config file as given, or "<dict>"
    raw: dict[str, Any]  # the config as read: sweep section included, --set not yet applied
    overrides: tuple[str, ...]  # the sweep's own --set arguments
    base: dict[str, Any]  # the resolved config every trial starts from
    spec: SweepConfig
    points: list[Point]
    trials: list[Trial]
    dropped: int  # random draws that repeated an earlier point

    @property
    def base_id(self) -> str:
        return config_hash(self.base)


def plan_sweep(config: str | Path | dict[str, Any], overrides: Sequence[str | Override] = ()) -> Plan:
    """Read the config, apply `overrides`, expand its sweep section and validate every trial's config."""
    if isinstance(config, dict):
        raw, lines, source = copy.deepcopy(config), None, "<dict>"
    else:
        raw, lines = read_config(config)
        source = str(config)
    overrides = [item if isinstance(item, Override) else Override.parse(item) for item in overrides]
    work = copy.deepcopy(raw)
    checked = validate(work, source, lines, overrides)
    if checked.sweep is None:
        raise ConfigError(
            "the config has no sweep: section",
            where=source,
            hint="add one (configs/studies/ has examples: hidden_units.yaml), or train it once with nnrun train",
        )
    spec = checked.sweep
    work.pop("sweep", None)
    base = checked.resolved()
    run_sets = tuple(o.text for o in overrides if o.parts[0] != "sweep")  # sweep.* changes no trial
    found, dropped = points(spec)
    seeds = spec.seeds or [checked.seed]

    trials: list[Trial] = []
    errors: list[str] = []
    failing: set[int] = set()
    first_of: dict[str, int] = {}
    for number, point in enumerate(found, start=1):
        keyed = point_overrides(point)
        point_sets = [override for _, override in keyed]
        try:
            resolved = validate(copy.deepcopy(work), source, lines, point_sets).resolved()
        except NnrunError as error:
            errors += point_errors(error, number, point, keyed, source, lines)
            failing.add(number)
            continue
        key = config_hash(resolved)
        if key in first_of:
            errors.append(
                f"{source}: points {first_of[key]} and {number} of sweep.parameters give the same config "
                f"({label_of(point)}); list each value once"
            )
            failing.add(number)
            continue
        first_of[key] = number
        for seed in seeds:
            trial_config = {**copy.deepcopy(resolved), "seed": seed}
            sets = run_sets + tuple(o.text for o in point_sets) + (f"seed={seed}",)
            trials.append(Trial(config_hash(trial_config), number, point, seed, trial_config, sets))
    if errors:
        shown = errors[:MAX_LISTED] + ([f"... and {len(errors) - MAX_LISTED} more"] if len(errors) > MAX_LISTED else [])
        raise ConfigError(
            f"{len(failing)} of the sweep's {len(found)} parameter points are not valid configs:\n" + "\n".join(shown),
            hint="fix sweep.parameters (each point is checked as `nnrun train` would check it)",
        )
    return Plan(checked.name, source, raw, tuple(o.text for o in overrides), base, spec, found, trials, dropped)


def point_errors(
    error: NnrunError, number: int, point: Point, keyed: list[tuple[str, Override]], source: str, lines: LineMap | None
) -> list[str]:
    """The error's lines, each naming the point, located at the parameter's line in the sweep section."""
    found = getattr(error, "problems", None) or [(error.where, error.what)]
    out = []
    for where, what in found:
        for key, override in keyed:
            if where == f"--set {override.text}":
                line = (lines or {}).get(("sweep", "parameters", key))
                where = f"{source}:{line[0]}" if line else f"{source}: sweep.parameters.{key}"
        hint = f"\n  {error.hint}" if error.hint else ""
        out.append(f"{where or source}: point {number} ({label_of(point)}): {what}{hint}")
    return out


def label_of(point: Point) -> str:
    return ", ".join(f"{path}={inline_value(value)}" for path, value in point.items()) or "(base config)"


def inline_value(value: Any) -> str:
    """A value as a table or CSV cell: strings bare, everything else as one line of YAML."""
    return value if isinstance(value, str) else inline(value)


def config_hash(resolved: dict[str, Any]) -> str:
    """12 hex digits of the config's hash; the thread count is left out, since it does not change the numbers."""
    train = {k: v for k, v in resolved.get("train", {}).items() if k != "threads"}
    canonical = json.dumps({**resolved, "train": train}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
