"""configs/reports/reports.yaml read and checked: the reports, their experiments, the published numbers.

The manifest is data, not code: the budget this machine gives each experiment, the dataset that stands in
for one that is absent, what the report published, and the remarks written after looking at the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nnrun.errors import ConfigError

MANIFEST = Path("configs/reports/reports.yaml")
# the columns of trials.csv a published number can be compared with
METRIC_PREFIXES = ("best_", "last_")
RANDOM = "random"  # the stand-in that is noise of the report's data's shape: speed only, no accuracy


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StandIn(Strict):
    """What replaces an absent dataset: another dataset (or `random`) and the overrides it needs."""

    dataset: str | None = Field(None, description="the stand-in's name; null: the manifest's stand_ins entry")
    set: list[str] = Field(default_factory=list, description="--set overrides for the stand-in only")


class Figure(Strict):
    """A figure the page shows: a file the sweep drew, or one drawn from its best trial's run folder."""

    file: str | None = None
    trial: str | None = Field(None, description="`best`: the sweep's best trial (by its metric)")
    kind: str | None = Field(None, description="curves, or an inspection figure of `nnrun plot --kind`")
    layer: str | None = None


class Experiment(Strict):
    config: str
    set: list[str] = Field(default_factory=list, description="the local budget, as --set overrides")
    stand_in: StandIn = Field(default_factory=StandIn)
    published: list[dict[str, Any]] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=lambda: ["best_test_acc"])
    figures: list[Figure] = Field(default_factory=list)
    remarks: str = ""

    @property
    def name(self) -> str:
        return Path(self.config).stem

    @field_validator("figures", mode="before")
    @classmethod
    def _files(cls, value: Any) -> Any:
        return [{"file": item} if isinstance(item, str) else item for item in value or []]

    @field_validator("metrics")
    @classmethod
    def _metric_columns(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.startswith(METRIC_PREFIXES):
                raise ValueError(f"metric {name!r} is not a trials.csv column such as best_test_acc or last_val_loss")
        return value

    @field_validator("published")
    @classmethod
    def _published(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for entry in value:
            if not isinstance(entry.get("point"), dict):
                raise ValueError(f"{entry}: each published entry needs point: {{parameter: value}} ({{}} for none)")
            for name in entry:
                if name != "point" and not name.startswith(METRIC_PREFIXES):
                    raise ValueError(f"{name!r} is not a trials.csv column such as best_test_acc")
        return value


class Report(Strict):
    id: str
    title: str
    their_time: str = ""
    remarks: str = ""
    experiments: list[Experiment]


class Manifest(Strict):
    stand_ins: dict[str, StandIn] = Field(default_factory=dict)
    reports: list[Report]

    def select(self, ids: list[str]) -> list[Report]:
        """The reports named (all for none), in the manifest's order; an unknown id is an error."""
        known = [report.id for report in self.reports]
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ConfigError(f"no report {', '.join(unknown)}", where="REPORT", hint=f"reports: {', '.join(known)}")
        return [report for report in self.reports if not ids or report.id in ids]


def load_manifest(path: str | Path = MANIFEST) -> Manifest:
    """Read and check the manifest; every config it names must exist beside it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read the manifest: {error.strerror}", where=str(path)) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"not valid YAML: {error}", where=str(path)) from None
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = f"{path}: " + ".".join(str(part) for part in first["loc"])
        raise ConfigError(first["msg"], where=where, hint="see the comment at the top of the manifest") from None
    for report in manifest.reports:
        for experiment in report.experiments:
            if not (path.parent / experiment.config).is_file():
                raise ConfigError(
                    f"report {report.id} names {experiment.config}, which is not in {path.parent}", where=str(path)
                )
    return manifest


def expand(point: dict[str, Any]) -> dict[str, Any]:
    """A sweep point with its linked parameters ("a, b": [x, y]) split into one value per path (a: x, b: y),
    so that a published number names a point by any of its paths."""
    flat = {}
    for key, value in point.items():
        names = [name.strip() for name in key.split(",")]
        if len(names) > 1 and isinstance(value, list | tuple) and len(value) == len(names):
            flat.update(zip(names, value, strict=True))
        else:
            flat[key] = value
    return flat


def matches(published: dict[str, Any], point: dict[str, Any]) -> bool:
    """Whether a published entry's point ({path: value}) names this sweep point."""
    flat = expand(point)
    return all(key in flat and flat[key] == value for key, value in published.items())
