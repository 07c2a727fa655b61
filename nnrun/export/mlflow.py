"""`nnrun export --to mlflow`: one MLflow run per nnrun run; a sweep is a parent run with its trials as children.

Exporting again brings the store up to date and adds nothing twice. A run is found by its `nnrun.id` tag; a run whose
folder has not changed since (the `nnrun.fingerprint` tag) is left alone; otherwise the metrics.csv rows past those
already logged are added (the `nnrun.rows` tag counts them) and its status, times, tags, summary metrics and
artifacts are brought up to date. MLflow keeps a param's value and a metric's history once logged, so a run whose
params or history no longer match its folder (a trial run again after it failed, a run trained on to more epochs, a
sweep whose best point moved) is replaced: a new MLflow run with the same nnrun id, the old one deleted (MLflow's
trash keeps it; `mlflow gc` empties it).

Uses mlflow-skinny's MlflowClient (`pip install 'nnrun[mlflow]'`); `mlflow ui` needs the full `mlflow` package.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnrun.errors import NnrunError
from nnrun.export.folders import (
    SWEEP_FILES,
    Exported,
    ExportError,
    RunItem,
    SweepItem,
    config_hash,
    config_params,
    end_time,
    figures,
    fingerprint,
    number,
    plural,
    point_params,
    read_folders,
    require,
    row_times,
    seconds,
    value_text,
)

DEFAULT_URI = "sqlite:///mlruns.db"
STATUS = {
    "completed": "FINISHED", "early_stopped": "FINISHED", "stopped": "FINISHED",
    "failed": "FAILED", "interrupted": "KILLED", "running": "RUNNING", "paused": "RUNNING",
}  # fmt: skip
SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")  # the stores MLflow keeps through SQLAlchemy
PROBE_SECONDS = 5  # an unreachable server is said within this, instead of after MLflow's minutes of retries
# the tags an export reads back: the run's nnrun id, the rows logged, the folder's state, the attempt, the parent
ID, ROWS, FINGERPRINT, ATTEMPT = "nnrun.id", "nnrun.rows", "nnrun.fingerprint", "nnrun.started_at"
PARENT = "mlflow.parentRunId"
# MLflow's limits: on one log_batch request, and on a param's and a tag's value
MAX_PARAMS, MAX_TAGS, MAX_ENTITIES = 100, 100, 1000
MAX_PARAM_VALUE, MAX_TAG_VALUE = 6000, 8000


@dataclass
class Wanted:
    """An MLflow run as its folder says it should be."""

    id: str
    name: str
    params: dict[str, str]
    tags: dict[str, str]
    rows: list[tuple[int, float, dict[str, float]]]  # (step, time, metrics) per metrics.csv row
    metrics: dict[str, float]  # summary values, logged at `step`
    step: int
    time: float
    status: str
    start: float
    end: float | None
    artifacts: list[Path]
    fingerprint: str

    def __post_init__(self):
        # cut to what MLflow takes (a long summary.md; a list of a thousand classes), the same way every export
        self.params = {key: clip(value, MAX_PARAM_VALUE) for key, value in self.params.items()}
        self.tags = {key: clip(value, MAX_TAG_VALUE) for key, value in self.tags.items()}


def export_mlflow(paths: list[str | Path], uri: str | None = None, experiment: str | None = None) -> Exported:
    """Export the run and sweep folders in `paths` to the MLflow store at `uri` (else MLFLOW_TRACKING_URI, else
    sqlite:///mlruns.db here), into `experiment` (else each config's name). Every folder is read and checked first."""
    folders = read_folders(paths)
    uri = tracking_uri(uri)
    require("mlflow", "mlflow")
    if scheme(uri) in SQL_SCHEMES:
        require("sqlalchemy", "mlflow")
        require("alembic", "mlflow")
    done = Exported(folders.count(), uri, how_to_open=how_to_open(uri))
    done.notes += [f"skipped {path}: it has not started (no summary.json)" for path in folders.not_started]
    with quiet_mlflow():
        store = Store(connect(uri), uri, experiment, done)
        try:
            for run in folders.runs:
                store.export_run(run)
            for sweep in folders.sweeps:
                store.export_sweep(sweep)
        except ExportError:
            raise
        except Exception as error:  # the store failed part-way (a server gone, a disk full): what was sent stays
            raise NnrunError(
                f"the MLflow store {uri} failed during the export: {first_line(error)}",
                hint="export again: runs already complete are left as they are, the rest are finished",
            ) from error
    return done


def tracking_uri(uri: str | None) -> str:
    """--uri, else MLFLOW_TRACKING_URI, else sqlite:///mlruns.db; a SQLite file's path made absolute, so that the
    URI printed at the end opens it from anywhere."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    if uri.startswith("sqlite:///"):
        uri = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def scheme(uri: str) -> str:
    return uri.partition(":")[0].partition("+")[0].lower() if "://" in uri else "file"


def connect(uri: str):
    """An MlflowClient for `uri`, after one request that must succeed within PROBE_SECONDS."""
    from mlflow.tracking import MlflowClient  # the extra, imported when an export runs

    try:
        with environment(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=str(PROBE_SECONDS)):
            if scheme(uri) == "sqlite":  # the file's folder, made once everything else is known to be fine
                Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
    except Exception as error:  # whatever the store's client raises: a refused connection, a bad URI, a locked file
        http = scheme(uri) in ("http", "https")
        raise ExportError(
            f"cannot reach the MLflow tracking store {uri}: {first_line(error)}",
            hint="start the server (mlflow server --host 127.0.0.1 --port 5000), or pass another --uri"
            if http
            else "check the URI (--uri, or MLFLOW_TRACKING_URI); without one, nnrun writes sqlite:///mlruns.db here",
        ) from error
    return client


@contextlib.contextmanager
def environment(**values: str):
    """Environment variables set for the duration, then put back as they were."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def first_line(error: Exception) -> str:
    """The reason in an error's text: the system's (`[Errno 111] Connection refused`) inside MLflow's HTTP error,
    else its first line, cut short."""
    text = str(error).strip()
    if isinstance(error, OSError):
        return text
    reason = re.search(r"\[Errno -?\d+\] [^\"'()]+", text)
    line = reason.group(0) if reason else text.splitlines()[0] if text else type(error).__name__
    return line if len(line) <= 300 else line[:300] + " ..."


def how_to_open(uri: str) -> str:
    """What to run to look at the store: its server's page, or `mlflow ui` on it, with the full mlflow package of
    the client's version where it is missing (an older MLflow refuses a store a newer one has migrated)."""
    if scheme(uri) in ("http", "https"):
        return f"{uri} in a browser"
    ui = f"mlflow ui --backend-store-uri {uri}"
    if importlib.util.find_spec("flask"):
        return ui
    from mlflow.version import VERSION  # the extra, imported when an export runs

    return f"pip install mlflow=={VERSION}, then: {ui}"


@contextlib.contextmanager
def quiet_mlflow():
    """MLflow's and Alembic's INFO lines (`Creating initial MLflow database tables...`) and the link MLflow prints
    for every run it ends on a server left out of the output."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with environment(MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT="true"):
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class Store:
    """One export's view of the store: the experiments it writes and, in each, its active runs by nnrun id."""

    def __init__(self, client, uri: str, experiment: str | None, done: Exported):
        self.client, self.uri, self.experiment, self.done = client, uri, experiment, done
        self.experiments: dict[str, str] = {}  # name -> id
        self.found: dict[str, dict[str, Any]] = {}  # experiment id -> nnrun id -> MLflow run
        self.exported: set[str] = set()  # nnrun ids written by this export: a copy of a folder is said, not sent

    def experiment_id(self, name: str) -> str:
        if name in self.experiments:
            return self.experiments[name]
        found = self.client.get_experiment_by_name(name)
        if found is None:
            experiment_id = self.client.create_experiment(name, artifact_location=self.artifact_location(name))
        elif found.lifecycle_stage != "active":
            raise ExportError(
                f"the MLflow experiment {name!r} is deleted",
                hint=f"restore it (mlflow experiments restore --experiment-id {found.experiment_id}), "
                "or pass another --experiment",
            )
        else:
            experiment_id = found.experiment_id
        self.experiments[name] = experiment_id
        self.found[experiment_id] = self.active_runs(experiment_id)
        return experiment_id

    def artifact_location(self, name: str) -> str | None:
        """A SQLite store's artifacts beside its file (MLflow's default is ./mlruns wherever the export runs);
        None lets any other store choose."""
        if scheme(self.uri) != "sqlite":
            return None
        folder = Path(self.uri.removeprefix("sqlite:///")).parent / "mlartifacts" / re.sub(r"[^\w.-]", "_", name)
        return folder.as_uri()

    def active_runs(self, experiment_id: str) -> dict[str, Any]:
        """The experiment's active runs by nnrun id, the oldest where two share one."""
        from mlflow.entities import ViewType  # the extra, imported when an export runs

        runs, token = {}, None
        while True:
            page = self.client.search_runs(
                [experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                order_by=["attributes.start_time ASC"], page_token=token,
            )  # fmt: skip
            for run in page:
                runs.setdefault(run.data.tags.get(ID), run)
            token = page.token
            if not token:
                return runs

    def export_run(self, item: RunItem, parent: str | None = None) -> None:
        self.sync(self.experiment_id(self.experiment or item.name), run_wanted(item), parent)

    def export_sweep(self, item: SweepItem) -> None:
        experiment_id = self.experiment_id(self.experiment or item.name)
        parent = self.sync(experiment_id, sweep_wanted(item))
        for trial in item.trials:
            self.sync(experiment_id, run_wanted(trial), parent)
        if item.waiting:
            self.done.notes.append(f"{item.label}: {plural(item.waiting, 'trial')} not started or stale, left out")

    def sync(self, experiment_id: str, wanted: Wanted, parent: str | None = None) -> str | None:
        """Create, update or replace the MLflow run of `wanted`; its run id."""
        if wanted.id in self.exported:
            self.done.notes.append(f"skipped {wanted.name}: the same run as one exported above ({wanted.id})")
            return None
        self.exported.add(wanted.id)
        if parent:
            wanted.tags[PARENT] = parent
        old = self.found[experiment_id].get(wanted.id)
        if old is not None and old.data.tags.get(FINGERPRINT) == wanted.fingerprint:
            if parent is None or old.data.tags.get(PARENT) == parent:
                self.done.counts["unchanged"] += 1
            else:  # its sweep's run was replaced
                self.client.set_tag(old.info.run_id, PARENT, parent)
                self.done.counts["updated"] += 1
            return old.info.run_id
        reason = replaced_because(old, wanted) if old is not None else None
        if old is None or reason:
            run = self.client.create_run(
                experiment_id, start_time=ms(wanted.start), tags={ID: wanted.id}, run_name=wanted.name
            )
            run_id, params, rows, latest = run.info.run_id, {}, 0, {}
        else:
            run_id, params, latest = old.info.run_id, old.data.params, old.data.metrics
            rows = int(old.data.tags.get(ROWS, 0))
        self.write(run_id, wanted, params, rows, latest)
        if reason:
            self.client.delete_run(old.info.run_id)
            self.done.notes.append(f"replaced {wanted.name}: {reason}")
        self.done.counts["created" if old is None else "replaced" if reason else "updated"] += 1
        return run_id

    def write(self, run_id: str, wanted: Wanted, params: dict, rows: int, latest: dict) -> None:
        """Log what the MLflow run lacks: new params, metrics.csv rows past `rows`, changed summary metrics; then
        tags, artifacts, status and, last, the fingerprint (so that a run cut off is exported again in full)."""
        from mlflow.entities import Metric, Param, RunTag  # the extra, imported when an export runs

        batch = self.client.log_batch
        new = [Param(key, value) for key, value in wanted.params.items() if key not in params]
        for start in range(0, len(new), MAX_PARAMS):
            batch(run_id, params=new[start : start + MAX_PARAMS])
        # whole rows per request, each with the count of rows logged so far
        columns = max((len(values) for _, _, values in wanted.rows), default=1)
        per_batch = max(1, (MAX_ENTITIES - 1) // max(1, columns))
        for start in range(rows, len(wanted.rows), per_batch):
            chunk = wanted.rows[start : start + per_batch]
            metrics = [
                Metric(key, value, ms(time), step) for step, time, values in chunk for key, value in values.items()
            ]
            batch(run_id, metrics=metrics, tags=[RunTag(ROWS, str(start + len(chunk)))])
        summary = [
            Metric(key, value, ms(wanted.time), wanted.step)
            for key, value in wanted.metrics.items()
            if not same(latest.get(key), value)
        ]
        for start in range(0, len(summary), MAX_ENTITIES):
            batch(run_id, metrics=summary[start : start + MAX_ENTITIES])
        tags = [RunTag(key, value) for key, value in wanted.tags.items()]
        for start in range(0, len(tags), MAX_TAGS):
            batch(run_id, tags=tags[start : start + MAX_TAGS])
        for path in wanted.artifacts:
            self.client.log_artifact(run_id, str(path))
        if wanted.status == "RUNNING":
            self.client.update_run(run_id, status="RUNNING")
        else:
            self.client.set_terminated(run_id, wanted.status, end_time=ms(wanted.end) if wanted.end else None)
        self.client.set_tag(run_id, FINGERPRINT, wanted.fingerprint)


def replaced_because(old, wanted: Wanted) -> str | None:
    """Why the MLflow run `old` cannot be brought to `wanted` in place; None when it can."""
    changed = [key for key, value in wanted.params.items() if old.data.params.get(key, value) != value]
    if changed:
        shown = ", ".join(f"{key} {old.data.params[key]} -> {wanted.params[key]}" for key in changed[:3])
        return f"its params changed ({shown}{', ...' if len(changed) > 3 else ''})"
    if old.data.tags.get(ATTEMPT, wanted.tags.get(ATTEMPT)) != wanted.tags.get(ATTEMPT):
        return "it was run again from the start"
    if int(old.data.tags.get(ROWS, 0)) > len(wanted.rows):
        return "its metrics.csv has fewer rows than were exported"
    return None


def run_wanted(item: RunItem) -> Wanted:
    run, summary = item.run, item.run.summary
    rows = [
        (row["step"], time, {key: float(value) for key, value in row.items() if key != "step" and number(value)})
        for row, time in zip(run.history, row_times(run))
    ]
    metrics = {
        f"{label}_{key}": float(value)
        for label in ("best", "last")
        for key, value in (summary.get(label) or {}).items()
        if key != "step" and number(value)
    }
    timings = summary.get("timings") or {}
    metrics.update(
        {key: float(timings[key]) for key in ("train_seconds", "samples_per_sec") if number(timings.get(key))}
    )
    tags = {
        **common_tags(item, "trial" if item.trial else "run", summary, run.config, run.path),
        ATTEMPT: str(summary.get("started_at")),
    }
    if item.trial:
        tags.update({"nnrun.trial": str(item.trial["trial"]), "nnrun.point": str(item.trial.get("point"))})
        tags["nnrun.seed"] = str(item.trial.get("seed"))
    if summary.get("extended"):
        tags["nnrun.extended"] = "; ".join(f"{e['key']} {e['from']} -> {e['to']} at step {e['step']}"
                                          for e in summary["extended"])  # fmt: skip
    if summary.get("git_commit"):
        tags["mlflow.source.git.commit"] = str(summary["git_commit"])
    if (run.path / "summary.md").is_file():
        tags["mlflow.note.content"] = (run.path / "summary.md").read_text()
    artifacts = [run.path / name for name in ("config.yaml", "model.npz") if (run.path / name).is_file()]
    artifacts += figures(run.path)
    return Wanted(
        item.id, item.label, config_params(run.config), tags, rows, metrics, int(summary.get("step") or 0),
        seconds(summary.get("updated_at")) or seconds(summary.get("started_at")), STATUS.get(item.status, "RUNNING"),
        seconds(summary.get("started_at")), end_time(item), artifacts,
        fingerprint(item, item.command, item.label),
    )  # fmt: skip


def common_tags(item: Any, kind: str, summary: dict[str, Any], config: dict[str, Any], path: Path) -> dict[str, str]:
    """The tags every exported run carries: its nnrun id, kind, status, version, CPU, config hash, command and
    folder. `summary` is the run's (a sweep's: its first trial's)."""
    return {
        ID: item.id,
        "nnrun.kind": kind,
        "nnrun.status": item.status,
        "nnrun.version": str((summary.get("versions") or {}).get("nnrun", "")),
        "nnrun.cpu": cpu(summary),
        "nnrun.config_hash": config_hash(config),
        "nnrun.command": item.command,
        "nnrun.path": str(path.resolve()),
    }


def sweep_wanted(item: SweepItem) -> Wanted:
    """The parent run: the best point as params and metrics (its seed means), the tables and figures as
    artifacts. Its metrics are logged at the number of trials exported, so a grown study's history shows."""
    sweep = item.sweep
    best = sweep.best or {}
    params = {key: value_text(value) for key, value in point_params(sweep, best).items()} if best else {}
    metric = sweep.spec.get("metric") or {}
    params["sweep.method"] = str(sweep.spec.get("method"))
    params["sweep.metric"] = f"{metric.get('name')} {metric.get('goal')} at {metric.get('at', 'best')}"
    skip = {"point", "best", *sweep.parameters}
    metrics = {key: float(value) for key, value in best.items() if key not in skip and number(value)}
    metrics["trials"] = len(item.trials)
    metrics["failed_trials"] = sum(trial.status == "failed" for trial in item.trials)
    starts = [seconds(trial.run.summary.get("started_at")) for trial in item.trials]
    ends = [seconds(trial.run.summary.get("updated_at")) for trial in item.trials]
    first = next((trial.run.summary for trial in item.trials), {})
    tags = common_tags(item, "sweep", first, sweep.base, sweep.path)
    if best:
        tags["nnrun.best_point"] = str(best.get("point"))
    if (sweep.path / "summary.md").is_file():
        tags["mlflow.note.content"] = (sweep.path / "summary.md").read_text()
    artifacts = [sweep.path / name for name in SWEEP_FILES if (sweep.path / name).is_file()] + figures(sweep.path)
    ended = max((end for end in ends if end), default=None)
    start = min((start for start in starts if start), default=None) or ended or 0.0
    status = {"running": "RUNNING", "failed": "FAILED", "completed": "FINISHED"}.get(item.status, "KILLED")
    return Wanted(
        item.id, item.label, params, tags, [], metrics, len(item.trials), ended or start, status, start,
        None if status == "RUNNING" else ended,
        artifacts, fingerprint(item, item.label),
    )  # fmt: skip


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 40] + " ... (cut short: the folder has it all)"


def cpu(summary: dict[str, Any]) -> str:
    """`AMD EPYC, 2 cores, AVX-512`, from summary.json's machine."""
    machine = summary.get("machine") or {}
    parts = [str(machine.get("cpu") or "unknown CPU")]
    if machine.get("cores"):
        parts.append(f"{machine['cores']} cores")
    if machine.get("avx512"):
        parts.append("AVX-512")
    return ", ".join(parts)


def same(logged: float | None, value: float) -> bool:
    return logged is not None and (logged == value or (math.isnan(logged) and math.isnan(value)))


def ms(seconds_: float | None) -> int | None:
    return None if seconds_ is None else int(round(seconds_ * 1000))
