"""Successive halving and Hyperband: the rungs, the brackets and a rung's promotions, as pure functions.

The resource is what the config trains by: epochs, or steps when it sets train.max_steps; the maximum is
its budget. The ladder is min, min·η, min·η², … below the maximum, then the maximum. Halving starts every
point at the first rung; at each rung the points are ranked by their seed mean of the metric there and the
top ⌊n/η⌋ (at least one) continue, the others stop. Hyperband runs halvings (brackets) that start further
up the ladder: bracket 0 at its foot, the last at the maximum alone (a plain grid). Each point belongs to
one bracket, picked by a hash of its config, so a grown study keeps its points where they were.

The driver (nnrun.sweeps.scheduler) feeds these the trials' results; nothing here reads a file.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bracket:
    """One successive halving: its rungs (resource, the last the maximum) and the points that start it."""

    index: int
    rungs: tuple[int, ...]
    points: tuple[int, ...]

    def planned(self, eta: int) -> list[int]:
        """Points at each rung when every trial finishes: ⌊n/η⌋ (at least one) go on from each rung."""
        counts = [len(self.points)]
        for _ in self.rungs[1:]:
            counts.append(max(1, counts[-1] // eta) if counts[-1] else 0)
        return counts

    def planned_resource(self, eta: int) -> int:
        """The resource its points use when every trial finishes, per seed: each point to the rung it stops at."""
        counts = self.planned(eta)
        after = counts[1:] + [0]
        return sum((here - there) * rung for here, there, rung in zip(counts, after, self.rungs))


def resource_of(train: Mapping[str, Any]) -> tuple[str, int]:
    """("steps", max_steps) when the config trains by steps, else ("epochs", epochs): the unit and the maximum."""
    if train.get("max_steps"):
        return "steps", int(train["max_steps"])
    return "epochs", int(train["epochs"])


def ladder(minimum: int, eta: int, maximum: int) -> list[int]:
    """min, min·η, min·η², … below `maximum`, then `maximum` itself."""
    rungs = []
    rung = minimum
    while rung < maximum:
        rungs.append(rung)
        rung *= eta
    return [*rungs, maximum]


def bracket_ladders(schedule: Mapping[str, Any], maximum: int) -> list[tuple[int, ...]]:
    """Each bracket's rungs: one for halving; for Hyperband the ladder from each of its rungs, foot first,
    as many as `brackets` asks (all by default)."""
    full = ladder(schedule["min"], schedule["eta"], maximum)
    if schedule["type"] == "halving":
        return [tuple(full)]
    count = min(schedule.get("brackets") or len(full), len(full))
    return [tuple(full[start:]) for start in range(count)]


def round_rungs(schedule: Mapping[str, Any], maximum: int, number: int) -> tuple[int, ...]:
    """The rungs of tpe's round `number` (from 1): halving's ladder, or Hyperband's brackets in turn, as BOHB
    takes them."""
    ladders = bracket_ladders(schedule, maximum)
    return ladders[(number - 1) % len(ladders)]


def bracket_weights(ladders: Sequence[Sequence[int]], eta: int) -> list[int]:
    """Hyperband's bracket sizes, ⌈(s_max + 1) / (s + 1) · η^s⌉ for a bracket of s halvings: each bracket
    spends about the same resource."""
    most = max(len(rungs) for rungs in ladders) - 1
    return [math.ceil((most + 1) / len(rungs) * eta ** (len(rungs) - 1)) for rungs in ladders]


def assign(point_keys: Mapping[int, str], schedule: Mapping[str, Any], maximum: int) -> list[Bracket]:
    """The brackets with their points: all in one for halving; by a hash of each point's config for
    Hyperband, in proportion to the bracket sizes."""
    ladders = bracket_ladders(schedule, maximum)
    members: list[list[int]] = [[] for _ in ladders]
    weights = bracket_weights(ladders, schedule["eta"])
    total = sum(weights)
    for point, key in sorted(point_keys.items()):
        if len(ladders) == 1:
            members[0].append(point)
            continue
        draw = int(hashlib.sha256(f"bracket {key}".encode()).hexdigest()[:12], 16) / 16**12 * total
        index = 0
        while draw >= weights[index] and index < len(weights) - 1:
            draw -= weights[index]
            index += 1
        members[index].append(point)
    return [Bracket(index, rungs, tuple(points)) for index, (rungs, points) in enumerate(zip(ladders, members))]


def promote(values: Mapping[int, float | None], eta: int, goal: str) -> list[int]:
    """The points that go on from a rung: the top ⌊n/η⌋ (at least one) by value, ties broken by point number.

    A point without a value (one of its trials failed) ranks last and never goes on."""
    ranked = sorted(
        (point for point, value in values.items() if value is not None),
        key=lambda point: (-values[point] if goal == "max" else values[point], point),
    )
    return sorted(ranked[: max(1, len(values) // eta)])


def plan_lines(brackets: Sequence[Bracket], schedule: Mapping[str, Any], unit: str, seeds: int) -> list[str]:
    """The rung plan as text (the dry run, and the start of a sweep): each bracket's rungs with the points at
    each if every trial finishes, and the resource against the full grid's."""
    eta = schedule["eta"]
    name = "successive halving" if schedule["type"] == "halving" else f"Hyperband, {len(brackets)} brackets"
    points = sum(len(bracket.points) for bracket in brackets)
    lines = [
        f"{name}, η={eta}: {points} points × {seeds} seeds, a point goes on from a rung if it is in the top 1/{eta}"
    ]
    for bracket in brackets:
        if len(brackets) > 1:
            lines.append(f"bracket {bracket.index}: {len(bracket.points)} points from {bracket.rungs[0]} {unit}")
        for index, (rung, count) in enumerate(zip(bracket.rungs, bracket.planned(eta)), start=1):
            lines.append(f"  rung {index}: {rung} {unit}, {count} points")
    used = sum(bracket.planned_resource(eta) for bracket in brackets) * seeds
    full = points * seeds * brackets[0].rungs[-1]
    share = f" ({100 * used / full:.1f} %)" if full else ""
    lines.append(f"{used:,} {unit} in all if every trial finishes, against {full:,} for the full grid{share}")
    return lines
