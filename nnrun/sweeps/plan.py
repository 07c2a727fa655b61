"""From a config with a `sweep:` section to its trials, every one validated before anything runs.

A trial is one parameter point trained with one seed. It is exactly the train run
`nnrun train CONFIG --set <the sweep's own --set> --set <its parameters> --set seed=S`: its config is made
the same way, by applying those overrides to the file's data, and checked by the same validation. Its id is
a hash of that resolved config (the thread count aside, which does not change the numbers), so a resumed
sweep recognises the trials it has already run. With a schedule, where nothing depends on the budget, the
hash leaves the budget out too: a study whose maximum is raised continues its trials from their checkpoints.

A schedule's rungs are checked here against each point's evaluations, with the data's size where that
decides them, so that a rung between evaluations is refused before anything runs.

With `method: tpe` the plan starts with no points: the driver adds each round's (Plan.extend) as Optuna
suggests them (nnrun.sweeps.rounds). Every choice and both ends of every range are validated first.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnrun.config import LineMap, Override, SweepConfig, read_config, validate
from nnrun.data import load_dataset
from nnrun.errors import ConfigError, DataError, NnrunError
from nnrun.io import inline
from nnrun.registry import SCHEDULES
from nnrun.sweeps.halving import Bracket, assign, ladder, resource_of, round_rungs
from nnrun.sweeps.space import Point, grid_values, point_overrides, points
from nnrun.sweeps.tpe import Space

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
    brackets: list[Bracket]  # without a schedule, one bracket of one rung: the budget
    budget_free: bool = False  # trial ids leave the budget out (a schedule, and nothing depends on it)
    # tpe: each suggestion as (round, point), a repeat naming the earlier point; the round each point came in
    suggested: list[tuple[int, int]] = field(default_factory=list)
    rounds: dict[int, int] = field(default_factory=dict)
    space: Space | None = field(default=None, repr=False)
    maker: PointMaker | None = field(default=None, repr=False)

    def extend(self, found: list[Point], number: int) -> list[Trial]:
        """Add tpe's round `number`: its points, each validated into trials, a repeat of an earlier point's
        config only noted; and the round's bracket (with halving, the rungs its new points go through).
        Returns the new trials."""
        first = len(self.points) + 1
        valid = self.maker.validate(
            list(enumerate(found, start=first)), f"the {len(found)} points tpe suggested in round {number}"
        )
        fresh, trials = [], []
        for _, point, resolved, point_sets in valid:
            key = self.maker.key(resolved)
            if key not in self.maker.first_of:
                self.points.append(point)
                trials += self.maker.trials([(len(self.points), point, resolved, point_sets)])
                self.rounds[len(self.points)] = number
                fresh.append(len(self.points))
            self.suggested.append((number, self.maker.first_of[key]))
        _, maximum = self.resource
        rungs = round_rungs(self.spec.schedule.model_dump(), maximum, number) if self.spec.schedule else (maximum,)
        self.brackets.append(Bracket(len(self.brackets), rungs, tuple(fresh)))
        self.trials += trials
        return trials

    @property
    def base_id(self) -> str:
        return config_hash(without_budget(self.base) if self.budget_free else self.base)

    @property
    def resource(self) -> tuple[str, int]:
        """What the trials train by, epochs or steps, and their maximum."""
        return resource_of(self.base["train"])


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
    found, dropped = points(spec) if spec.method != "tpe" else ([], 0)
    space = Space(spec, source, lines) if spec.method == "tpe" else None  # Optuna's distributions, checked
    rungs = Rungs(spec, source, lines, base) if spec.schedule else None
    if rungs:
        rungs.check(base)  # a problem of the base config is said once, not for every point
    maker = PointMaker(work, source, lines, run_sets, spec.seeds or [checked.seed], rungs)
    if spec.method == "tpe":
        # its points come round by round (Plan.extend); the ends of every range are checked now
        ends = probes(spec.parameters)
        maker.validate(list(enumerate(ends, start=1)), f"{len(ends)} points made of every choice and range end")
    valid = maker.validate(list(enumerate(found, start=1)))
    # a schedule's trial ids may leave the budget out, known once every point is checked; tpe's never do, since
    # its later points are not known yet
    maker.budget_free = bool(rungs and rungs.budget_free and spec.method != "tpe")
    trials = maker.trials(valid)
    _, maximum = resource_of(base["train"])
    if spec.method == "tpe":
        brackets = []  # a bracket a round, added by Plan.extend
    elif spec.schedule:
        brackets = assign({number: key for key, number in maker.first_of.items()}, spec.schedule.model_dump(), maximum)
    else:
        brackets = [Bracket(0, (maximum,), tuple(sorted(maker.first_of.values())))]
    return Plan(
        checked.name, source, raw, tuple(o.text for o in overrides), base, spec, found, trials, dropped, brackets,
        budget_free=maker.budget_free, maker=maker, space=space,
    )  # fmt: skip


class PointMaker:
    """Parameter points into trials: each point's config validated as `nnrun train` would, the same config
    refused twice, one trial per seed."""

    def __init__(self, work: dict[str, Any], source: str, lines: LineMap | None, run_sets: tuple[str, ...],
                 seeds: list[int], rungs: Rungs | None):  # fmt: skip
        self.work, self.source, self.lines, self.run_sets = work, source, lines, run_sets
        self.seeds, self.rungs = seeds, rungs
        self.first_of: dict[str, int] = {}  # config hash -> the point that has it
        self.budget_free = False

    def validate(self, numbered: list[tuple[int, Point]], what: str | None = None) -> list[tuple]:
        """(number, point, resolved config, overrides) for each point; a ConfigError listing every bad one."""
        what = what or f"the sweep's {len(numbered)} parameter points"
        errors, failing, valid = [], set(), []
        for number, point in numbered:
            keyed = point_overrides(point)
            point_sets = [override for _, override in keyed]
            try:
                resolved = validate(copy.deepcopy(self.work), self.source, self.lines, point_sets).resolved()
                if self.rungs:
                    self.rungs.check(resolved)
            except ConfigError as error:
                errors += point_errors(error, number, point, keyed, self.source, self.lines)
                failing.add(number)
                continue
            valid.append((number, point, resolved, point_sets))
        if errors:
            raise listed_error(f"{len(failing)} of {what} are not valid configs", errors)
        return valid

    def key(self, resolved: dict[str, Any]) -> str:
        return config_hash(without_budget(resolved) if self.budget_free else resolved)

    def trials(self, valid: list[tuple]) -> list[Trial]:
        """Each valid point's trials, one per seed; a ConfigError for points that repeat an earlier config."""
        errors, out = [], []
        for number, point, resolved, point_sets in valid:
            key = self.key(resolved)
            if key in self.first_of:
                errors.append(
                    f"{self.source}: points {self.first_of[key]} and {number} of sweep.parameters give the same "
                    f"config ({label_of(point)}); list each value once"
                )
                continue
            self.first_of[key] = number
            for seed in self.seeds:
                trial_config = {**copy.deepcopy(resolved), "seed": seed}
                sets = self.run_sets + tuple(o.text for o in point_sets) + (f"seed={seed}",)
                out.append(Trial(self.key(trial_config), number, point, seed, trial_config, sets))
        if errors:
            raise listed_error(f"{len(errors)} of the sweep's parameter points repeat an earlier one", errors)
        return out


def listed_error(head: str, errors: list[str]) -> ConfigError:
    """`head:` and the errors, one a line, the first MAX_LISTED of them and how many more."""
    shown = errors[:MAX_LISTED] + ([f"... and {len(errors) - MAX_LISTED} more"] if len(errors) > MAX_LISTED else [])
    return ConfigError(
        f"{head}:\n" + "\n".join(shown),
        hint="fix sweep.parameters (each point is checked as `nnrun train` would check it)",
    )


def probes(parameters: dict[str, Any]) -> list[Point]:
    """tpe's points checked before anything runs: every choice and both ends of every range, one parameter
    at a time, the others at their first choice or low end."""
    ends = {key: grid_ends(values) for key, values in parameters.items()}
    first = {key: options[0] for key, options in ends.items()}
    found = [first]
    for key, options in ends.items():
        found += [{**first, key: option} for option in options[1:]]
    return found


def grid_ends(values: Any) -> list[Any]:
    """A grid's values of a choice; a range's two ends."""
    if isinstance(values, dict) and values["distribution"] != "choice":
        return [values["low"], values["high"]]
    return grid_values(values)


class Rungs:
    """A schedule's rungs checked against each point's evaluations and data, before anything runs."""

    def __init__(self, spec: SweepConfig, source: str, lines: LineMap | None, base: dict[str, Any]):
        self.schedule = spec.schedule
        self.metric = spec.metric.name
        self.unit, self.maximum = resource_of(base["train"])
        self.ladder = ladder(self.schedule.min, self.schedule.eta, self.maximum)
        line = (lines or {}).get(("sweep", "schedule"))
        self.where = f"{source}:{line[0]}" if line else f"{source}: sweep.schedule"
        self.sizes: dict[str, dict[str, int] | None] = {}  # data section (as JSON) -> examples in each split
        self.budget_free = True

    def split_sizes(self, resolved: dict[str, Any]) -> dict[str, int] | None:
        """Examples in each split, or None for data not found here: its trials will say so, and a dry
        run or a check of the plan should not fail for it."""
        key = json.dumps(resolved["data"], sort_keys=True)
        if key not in self.sizes:
            try:
                splits = load_dataset(resolved["data"], resolved["seed"]).splits
            except DataError:
                self.sizes[key] = None
            else:
                self.sizes[key] = {name: len(split.y) for name, split in splits.items()}
        return self.sizes[key]

    def check(self, resolved: dict[str, Any]) -> None:
        """A ConfigError for a rung between the point's evaluations, or a metric its data never gives."""
        train = resolved["train"]
        split = self.metric.split("_")[0]
        needs_data = split != "train" or (self.unit == "epochs") == bool(train["eval_every"])
        sizes = self.split_sizes(resolved) if needs_data else {}
        if sizes is None:
            return  # the data is not here: nothing of it can be checked, and nothing will train
        if split != "train" and not sizes.get(split):
            raise ConfigError(
                f"sweep.schedule: the schedule ranks by {self.metric}, but the data has no {split} split, so it is "
                "never evaluated",
                where=self.where,
                hint=f"rank by another metric (sweep.metric.name), or hold out a {split} split (data.{split})",
            )
        per_epoch = math.ceil(sizes["train"] / train["batch_size"]) if sizes else None
        every = train["eval_every"] or per_epoch  # None: by epochs, evaluated once an epoch, every rung is one
        steps = [rung * (per_epoch or 1) if self.unit == "epochs" else rung for rung in self.ladder]
        for rung, step in zip(self.ladder[:-1], steps):
            if every and step % every:
                at = f"epoch {rung} (step {step})" if self.unit == "epochs" else f"step {step}"
                raise ConfigError(
                    f"sweep.schedule: the rung at {at} falls between evaluations, which come every {every} steps"
                    + ("" if train["eval_every"] else f" (once an epoch: {sizes['train']} examples in batches of "
                       f"{train['batch_size']})"),
                    where=self.where,
                    hint="choose sweep.schedule.min and eta so that every rung is an evaluation, or set "
                    "train.eval_every to divide them",
                )  # fmt: skip
        schedule = resolved["optimizer"]["schedule"]["type"]
        if SCHEDULES.get(schedule).uses_budget or (every and steps[-1] % every):
            self.budget_free = False  # a longer run would differ: raising the maximum starts trials anew


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


def without_budget(resolved: dict[str, Any]) -> dict[str, Any]:
    """The config with its budget key replaced by a marker: what a budget-free trial id hashes."""
    train = dict(resolved["train"])
    train["max_steps" if train.get("max_steps") else "epochs"] = "budget"
    return {**resolved, "train": train}


def config_hash(resolved: dict[str, Any]) -> str:
    """12 hex digits of the config's hash; the thread count is left out, since it does not change the numbers."""
    train = {k: v for k, v in resolved.get("train", {}).items() if k != "threads"}
    canonical = json.dumps({**resolved, "train": train}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
