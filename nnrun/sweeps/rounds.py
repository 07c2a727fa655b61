"""tpe's rounds: the points each round added to the plan, what is told before the next, and when it is due.

A round's points are asked for when every trial of the rounds before it has its result (or failed), and
kept in rounds.json before any of them trains. A resumed study reads the rounds back into its plan in order,
so its points, numbers and trial ids are the ones the uninterrupted study had. What is told is each
suggestion's point as summary.csv reads it (nnrun.sweeps.tpe.told_result), in the order they were suggested.
"""

from __future__ import annotations

import json
import math
from typing import Any

from nnrun.config import metric_direction
from nnrun.errors import ConfigError
from nnrun.sweeps.halving import Bracket, bracket_ladders, round_rungs
from nnrun.sweeps.plan import Plan
from nnrun.sweeps.tpe import Told, optuna, round_seed, timed_suggest, told_result


def fingerprint(plan: Plan) -> dict[str, Any]:
    """What a study's suggestions depend on, besides their results, as rounds.json keeps it (JSON's types)."""
    spec = plan.spec.model_dump()
    return json.loads(json.dumps({key: value for key, value in spec.items() if key not in ("n_trials", "retries")}))


def restore(plan: Plan, saved: dict[str, Any] | None, where: str, force: bool) -> None:
    """Add rounds.json's rounds to the plan; a spec that changed what they were asked under is refused, or with
    `force` starts the search over (trials the new points share keep their results)."""
    if not saved:
        return
    now = fingerprint(plan)
    if saved["spec"] != now:
        if force:
            return
        changed = sorted(key for key in {*saved["spec"], *now} if saved["spec"].get(key) != now.get(key))
        raise ConfigError(
            f"the tpe study's sweep.{', sweep.'.join(changed)} changed since its rounds were suggested; the points "
            "so far answer the old spec",
            where=where,
            hint="resume with the spec unchanged (only n_trials may change), start a new study with --out NEW_DIR, "
            "or give --force to suggest every round again under the new spec",
        )
    for number, round_ in enumerate(saved["rounds"], start=1):
        kept = round_["points"][: plan.spec.n_trials - len(plan.suggested)]  # n_trials may have been lowered
        if not kept:
            break
        plan.extend(kept, number)


def rounds_for(plan: Plan) -> int:
    return math.ceil(plan.spec.n_trials / plan.spec.batch)


def due(plan: Plan) -> bool:
    """Whether points are still to be suggested."""
    return len(plan.suggested) < plan.spec.n_trials


def told(plan: Plan, summary: list[dict[str, Any]]) -> list[Told]:
    """Every suggestion so far with its point's result, in the order they were suggested."""
    rows = {row["point"]: row for row in summary}
    metric = plan.spec.metric.name
    scheduled = plan.spec.schedule is not None
    return [told_result(plan.points[point - 1], rows[point], metric, scheduled) for _, point in plan.suggested]


def ask(plan: Plan, summary: list[dict[str, Any]]) -> dict[str, Any]:
    """The next round, as rounds.json keeps it: its number, the sampler's seed, its points and the seconds the
    sampler took (the driver's own time: rebuilding the study and asking)."""
    spec = plan.spec
    number = len(plan.brackets) + 1
    size = min(spec.batch, spec.n_trials - len(plan.suggested))
    goal = metric_direction(spec.metric.name, spec.metric.goal)
    found, seconds = timed_suggest(plan.space, spec, goal, told(plan, summary), number, size)
    seed = round_seed(spec.sampler_seed, number)
    return {"round": number, "seed": seed, "points": found, "seconds": round(seconds, 4)}


def optuna_version() -> str:
    return optuna().__version__


def planned_jobs(plan: Plan, number: int, size: int) -> int:
    """The jobs round `number` runs if its `size` points are new and every trial finishes: a trial runs once
    per rung it reaches."""
    seeds = len(plan.spec.seeds or [0])
    if not plan.spec.schedule:
        return size * seeds
    _, maximum = plan.resource
    bracket = Bracket(0, round_rungs(plan.spec.schedule.model_dump(), maximum, number), tuple(range(size)))
    return sum(bracket.planned(plan.spec.schedule.eta)) * seeds


def expected_jobs(plan: Plan) -> int:
    """The jobs of the rounds not yet asked for (fewer if tpe repeats a point)."""
    total, left, number = 0, plan.spec.n_trials - len(plan.suggested), len(plan.brackets)
    while left > 0:
        number += 1
        size = min(plan.spec.batch, left)
        total += planned_jobs(plan, number, size)
        left -= size
    return total


def plan_lines(plan: Plan) -> list[str]:
    """The search's plan as text (the dry run, and the start of a sweep)."""
    spec = plan.spec
    seeds = len(spec.seeds or [plan.base["seed"]])
    unit, maximum = plan.resource
    lines = [
        f"tpe: points chosen as the study goes, by Optuna's TPE from the results so far (sampler_seed "
        f"{spec.sampler_seed}): {rounds_for(plan)} rounds of {spec.batch} points, each asked when the rounds "
        f"before it have their results; {spec.n_trials} points × {seeds} seeds = {spec.n_trials * seeds} trials "
        f"of {maximum} {unit}",
    ]
    if plan.suggested:
        lines.append(
            f"so far: {len(plan.brackets)} rounds, {len(plan.points)} points ({len(plan.suggested)} suggested)"
        )
    if spec.schedule:
        ladders = bracket_ladders(spec.schedule.model_dump(), maximum)
        kind = "successive halving" if spec.schedule.type == "halving" else "Hyperband, its brackets by turns,"
        lines.append(f"each round's points go through {kind} (η={spec.schedule.eta}):")
        for index, rungs in enumerate(ladders):
            counts = Bracket(0, rungs, tuple(range(spec.batch))).planned(spec.schedule.eta)
            name = f"rounds {index + 1}, {index + 1 + len(ladders)}, …: " if len(ladders) > 1 else ""
            lines.append(f"  {name}" + ", ".join(f"{count} at {rung} {unit}" for rung, count in zip(rungs, counts)))
    return lines


def round_line(plan: Plan, asked: dict[str, Any]) -> str:
    """`round 3 of 15: points 9-12 from tpe (0.02 s)`, with the repeats it suggested."""
    number = asked["round"]
    mine = [point for point, at in plan.rounds.items() if at == number]
    repeats = sum(at == number for at, _ in plan.suggested) - len(mine)
    shown = "no new points" if not mine else f"point {mine[0]}" if len(mine) == 1 else f"points {mine[0]}-{mine[-1]}"
    again = f"; {repeats} repeated an earlier point, told its result" if repeats else ""
    return f"round {number} of {rounds_for(plan)}: {shown} from tpe ({asked['seconds']:.2f} s){again}"
