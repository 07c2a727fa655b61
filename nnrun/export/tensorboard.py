"""`nnrun export --to tensorboard`: event files TensorBoard reads, written with tensorboardX, one folder per run.

  <logdir>/<name>/<run folder>/                lr, epoch, reg_loss against the step; config.yaml and summary.md as
                                               text; the run's figures (curves.png, ...) as images
  <logdir>/<name>/<run folder>/train|val|test/ loss and acc: TensorBoard draws one metric's splits in one chart
  <logdir>/<name>/<sweep folder>/summary/      the sweep's summary.md and figures
  <logdir>/<name>/<sweep folder>/<trial id>/   a run's layout, and the trial's HParams session: its point's
                                               parameters against its best/* and last/* values; a point's seeds form
                                               one session group, which the dashboard shows as their mean
  <logdir>/events.out.tfevents.*.nnrun-hparams-* the HParams experiment: the parameters and metrics of every sweep
                                               in the logdir, rebuilt by each export

Scalars are 32-bit floats, as TensorBoard keeps every scalar. Each run's folder is written beside and renamed into
place, and rewritten only when its run folder changed (.nnrun-export.json).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from nnrun.export.folders import (
    Exported,
    RunItem,
    SweepItem,
    end_time,
    figures,
    fingerprint,
    number,
    plural,
    read_folders,
    require,
    row_times,
    seconds,
    value_text,
)
from nnrun.io import atomic_write_text
from nnrun.results import SPLIT_METRICS

DEFAULT_LOGDIR = "tensorboard"
SPLITS = ("train", "val", "test")
MARKER = ".nnrun-export.json"  # in each folder written: the run folder's fingerprint; a sweep's hparams
EXPERIMENT_SUFFIX = ".nnrun-hparams"
SESSION_STATUS = {
    "completed": "STATUS_SUCCESS", "early_stopped": "STATUS_SUCCESS", "stopped": "STATUS_SUCCESS",
    "failed": "STATUS_FAILURE", "interrupted": "STATUS_FAILURE",
}  # fmt: skip
DISCRETE = 10  # a numeric parameter with at most this many values is filtered by value, else by range


def export_tensorboard(paths: list[str | Path], logdir: str | Path | None = None) -> Exported:
    """Write the run and sweep folders in `paths` as TensorBoard event files under `logdir` (else tensorboard/
    here). Every folder is read and checked first."""
    folders = read_folders(paths)
    require("tensorboardX", "tensorboard")
    logdir = Path(logdir or DEFAULT_LOGDIR)
    viewer = f"tensorboard --logdir {logdir}"
    done = Exported(folders.count(), f"{logdir}/", how_to_open=viewer if importlib.util.find_spec("tensorboard")
                    else f"pip install tensorboard, then: {viewer}")  # fmt: skip
    done.notes += [f"skipped {path}: it has not started (no summary.json)" for path in folders.not_started]
    for item in folders.runs:
        write_folder(logdir / item.name / item.path.name, fingerprint(item), done, partial(write_run, item=item))
    for sweep in folders.sweeps:
        kinds = hparam_kinds(sweep)
        base = logdir / sweep.name / sweep.path.name
        record = {
            "hparams": {name: [kind, values] for name, (kind, values) in kinds.items()},
            "metrics": metrics(sweep),
        }
        write_folder(base / "summary", fingerprint(sweep), done, partial(write_sweep, sweep=sweep), record)
        # a trial's session depends on the kinds of its sweep's parameters and the width of its point numbers
        shape = [{name: kind for name, (kind, _) in kinds.items()}, len(str(sweep.points))]
        for trial in sweep.trials:
            write_folder(base / str(trial.trial["trial"]), fingerprint(trial, *shape), done,
                         partial(write_run, item=trial, sweep=sweep, kinds=kinds))  # fmt: skip
        if sweep.waiting:
            done.notes.append(f"{sweep.label}: {plural(sweep.waiting, 'trial')} not started or stale, left out")
    write_experiment(logdir)
    return done


def write_folder(folder: Path, state: str, done: Exported, write: Callable[[Path], None], record=None) -> None:
    """write(a new folder beside `folder`), then rename it into place; nothing when `folder` holds `state`."""
    if written(folder).get("fingerprint") == state:
        done.counts["unchanged"] += 1
        return
    fresh, old = (folder.parent / f".{folder.name}.{part}-{os.getpid()}" for part in ("new", "old"))
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    existed = folder.exists()
    try:
        write(fresh)
        atomic_write_text(fresh / MARKER, json.dumps({"fingerprint": state, **(record or {})}))
        if existed:
            folder.rename(old)
        fresh.rename(folder)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    done.counts["updated" if existed else "created"] += 1


def written(folder: Path) -> dict[str, Any]:
    """What a folder under the logdir was written from (its marker); {} for none, or one that cannot be read."""
    try:
        record = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


class Writers:
    """A FileWriter for the run's folder and one for each split's, made when first written to."""

    def __init__(self, folder: Path):
        self.folder, self.open = folder, {}

    def __call__(self, split: str = ""):
        from tensorboardX import FileWriter  # the extra, imported when an export runs

        if split not in self.open:
            self.open[split] = FileWriter(str(self.folder / split) if split else str(self.folder))
        return self.open[split]

    def close(self) -> None:
        for writer in self.open.values():
            writer.close()


def write_run(folder: Path, item: RunItem, sweep: SweepItem | None = None, kinds: dict | None = None) -> None:
    run = item.run
    times = row_times(run)
    start = seconds(run.summary.get("started_at")) or 0.0
    last_step = run.history[-1]["step"] if run.history else int(run.summary.get("step") or 0)
    end = end_time(item) or (times[-1] if times else start)
    writers = Writers(folder)
    try:
        for row, time in zip(run.history, times):
            for key, value in row.items():
                if key == "step" or not number(value):
                    continue
                split, _, metric = key.partition("_")
                if split in SPLITS and metric:
                    writers(split).add_summary(scalar(metric, value), row["step"], time)
                else:
                    writers().add_summary(scalar(key, value), row["step"], time)
        config = (run.path / "config.yaml").read_text()
        writers().add_summary(text("config", f"```yaml\n{config}```"), 0, start)
        if (run.path / "summary.md").is_file():
            writers().add_summary(text("summary", (run.path / "summary.md").read_text()), last_step, end)
        for path in figures(run.path):
            writers().add_summary(image(path.stem, path), last_step, end)
        if sweep is not None:
            write_session(writers(), item, sweep, kinds or {}, last_step, start, end)
    finally:
        writers.close()


def write_sweep(folder: Path, sweep: SweepItem) -> None:
    writers = Writers(folder)
    ends = [seconds(trial.run.summary.get("updated_at")) for trial in sweep.trials]
    end = max((stamp for stamp in ends if stamp), default=0.0)
    try:
        if (sweep.path / "summary.md").is_file():
            writers().add_summary(text("summary", (sweep.path / "summary.md").read_text()), len(sweep.trials), end)
        writers().add_summary(text("sweep", f"```yaml\n{(sweep.path / 'sweep.yaml').read_text()}```"), 0, end)
        for path in figures(sweep.path):
            writers().add_summary(image(path.stem, path), len(sweep.trials), end)
    finally:
        writers.close()


# --- HParams --------------------------------------------------------------------------------------


def hparam_kinds(sweep: SweepItem) -> dict[str, tuple[str, list[Any]]]:
    """Each parameter as the sweep names it (linked paths apart): its kind (number, bool or string, which a
    mixture of kinds becomes) and its values over the trials, in order."""
    found: dict[str, list[Any]] = {}
    for trial in sweep.trials:
        for name, value in trial_point(sweep, trial).items():
            if value not in found.setdefault(name, []):
                found[name].append(value)
    kinds = {}
    for name, values in found.items():
        if all(number(value) for value in values):
            kinds[name] = ("number", values)
        elif all(isinstance(value, bool) for value in values):
            kinds[name] = ("bool", values)
        else:
            kinds[name] = ("string", [value_text(value) for value in values])
    return kinds


def trial_point(sweep: SweepItem, trial: RunItem) -> dict[str, Any]:
    values = {}
    for key in sweep.sweep.parameters:
        paths = [part.strip() for part in key.split(",")]
        value = (trial.trial or {}).get(key)
        values.update(zip(paths, value if len(paths) > 1 and isinstance(value, list) else [value]))
    return values


def metrics(sweep: SweepItem) -> list[str]:
    """The HParams metrics of a sweep: each split metric and the epoch, at the evaluation the sweep ranks by."""
    at = (sweep.sweep.spec.get("metric") or {}).get("at", "best")
    return [f"{at}/{metric}" for metric in (*SPLIT_METRICS, "epoch")]


def write_session(writer, item: RunItem, sweep: SweepItem, kinds: dict, step: int, start: float, end: float) -> None:
    """The trial's HParams session: its start (parameters, group), its best/* and last/* values, its end."""
    from tensorboardX.proto.api_pb2 import Status  # the extra, imported when an export runs
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionEndInfo, SessionStartInfo

    point = f"{item.trial.get('point') or 0:0{len(str(sweep.points))}d}"  # padded: the dashboard sorts names as text
    begin = SessionStartInfo(group_name=f"point {point} of {sweep.label}", start_time_secs=start)
    for name, value in trial_point(sweep, item).items():
        kind = kinds.get(name, ("string",))[0]
        if kind == "number":
            begin.hparams[name].number_value = float(value)
        elif kind == "bool":
            begin.hparams[name].bool_value = bool(value)
        else:
            begin.hparams[name].string_value = value_text(value)
    writer.add_summary(hparams_summary("_hparams_/session_start_info", HParamsPluginData(session_start_info=begin)),
                       step, start)  # fmt: skip
    for label in ("best", "last"):
        row = item.run.summary.get(label) or {}
        for key in (*SPLIT_METRICS, "epoch"):
            if number(row.get(key)):
                writer.add_summary(scalar(f"{label}/{key}", row[key]), step, end)
    if item.status in SESSION_STATUS:
        finish = SessionEndInfo(status=Status.Value(SESSION_STATUS[item.status]), end_time_secs=end)
        writer.add_summary(hparams_summary("_hparams_/session_end_info", HParamsPluginData(session_end_info=finish)),
                           step, end)  # fmt: skip


def write_experiment(logdir: Path) -> None:
    """The HParams experiment at the logdir's top, from the records of every sweep written under it: without
    one, TensorBoard would make every scalar a metric column and pick one sweep's parameters."""
    from tensorboardX import FileWriter  # the extra, imported when an export runs
    from tensorboardX.proto.api_pb2 import DataType, Experiment, HParamInfo, MetricInfo, MetricName
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    hparams: dict[str, tuple[str, list]] = {}
    names: list[str] = []
    for marker in sorted(logdir.glob(f"**/{MARKER}")):
        record = written(marker.parent)
        for name, (kind, values) in (record.get("hparams") or {}).items():
            known_kind, known = hparams.get(name, (kind, []))
            if known_kind != kind:  # two sweeps give it values of different kinds: compared as text
                kind, known, values = (
                    "string",
                    [value_text(value) for value in known],
                    [value_text(value) for value in values],
                )
            hparams[name] = (kind, known + [value for value in values if value not in known])
        names += [name for name in record.get("metrics") or [] if name not in names]
    experiment = Experiment(metric_infos=[MetricInfo(name=MetricName(tag=name)) for name in names])
    types = {"number": "DATA_TYPE_FLOAT64", "bool": "DATA_TYPE_BOOL", "string": "DATA_TYPE_STRING"}
    for name, (kind, values) in hparams.items():
        info = HParamInfo(name=name, type=DataType.Value(types[kind]))
        if kind == "number" and len(values) > DISCRETE:
            info.domain_interval.min_value, info.domain_interval.max_value = min(values), max(values)
        else:
            info.domain_discrete.extend(sorted(values) if kind != "bool" else values)
        experiment.hparam_infos.append(info)
    suffix = f"{EXPERIMENT_SUFFIX}-{hashlib.sha256(experiment.SerializeToString()).hexdigest()[:12]}"
    before = list(logdir.glob(f"events.out.tfevents.*{EXPERIMENT_SUFFIX}-*"))
    if [path.name.endswith(suffix) for path in before] == [True]:
        return  # the same experiment: TensorBoard keeps what it has read
    for path in before:
        path.unlink()
    if not hparams:
        return
    writer = FileWriter(str(logdir), filename_suffix=suffix)
    try:
        writer.add_summary(hparams_summary("_hparams_/experiment", HParamsPluginData(experiment=experiment)), 0)
    finally:
        writer.close()


# --- summaries ------------------------------------------------------------------------------------


def scalar(tag: str, value: float):
    """A scalar as TensorBoard stores every scalar, a 32-bit float (its Rust data server, the default, reads no
    float64 tensor)."""
    from tensorboardX.proto.summary_pb2 import Summary  # the extra, imported when an export runs

    return Summary(value=[Summary.Value(tag=tag, simple_value=float(value))])


def text(tag: str, markdown: str):
    from tensorboardX.proto.plugin_text_pb2 import TextPluginData  # the extra, imported when an export runs
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

    plugin = SummaryMetadata.PluginData(plugin_name="text", content=TextPluginData(version=0).SerializeToString())
    shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)])
    tensor = TensorProto(dtype="DT_STRING", string_val=[markdown.encode()], tensor_shape=shape)
    return Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin), tensor=tensor)])


def image(tag: str, path: Path):
    """A PNG as it is: its size read from its header, its bytes left for the browser to decode."""
    from tensorboardX.proto.summary_pb2 import Summary  # the extra, imported when an export runs

    data = path.read_bytes()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    channels = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}.get(data[25], 4)  # the PNG colour type
    picture = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=data)
    return Summary(value=[Summary.Value(tag=tag, image=picture)])


def hparams_summary(tag: str, content):
    """A summary holding HParams plugin data, with the empty tensor TensorBoard's own hparams summaries carry."""
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata  # the extra, imported when an export runs
    from tensorboardX.proto.tensor_pb2 import TensorProto
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

    plugin = SummaryMetadata.PluginData(plugin_name="hparams", content=content.SerializeToString())
    empty = TensorProto(dtype="DT_FLOAT", tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=0)]))
    return Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin), tensor=empty)])
