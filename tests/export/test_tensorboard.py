"""`nnrun export --to tensorboard`, read back as TensorBoard's server reads it (its event multiplexer, data provider
and HParams plugin): scalars equal to metrics.csv (as 32-bit floats, as TensorBoard keeps them), the config and
figures, a sweep's HParams, exporting again."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import nnrun
from nnrun.export.tensorboard import export_tensorboard
from nnrun.io import read_csv
from tests.export.conftest import DIVERGES, GOOD

pytest.importorskip("tensorboardX")
pytest.importorskip("tensorboard")
from tensorboard import context  # noqa: E402
from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider  # noqa: E402
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer  # noqa: E402
from tensorboard.plugins import base_plugin  # noqa: E402
from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment, list_session_groups  # noqa: E402

ALL = 10**6  # read every point: no downsampling


class Board:
    """A logdir as TensorBoard's server reads it."""

    def __init__(self, logdir: Path):
        self.multiplexer = EventMultiplexer()
        self.multiplexer.AddRunsFromDirectory(str(logdir))
        self.multiplexer.Reload()
        self.provider = MultiplexerDataProvider(self.multiplexer, str(logdir))
        self.context = context.RequestContext()
        self.logdir = logdir

    def scalars(self) -> dict:
        return self.provider.read_scalars(self.context, experiment_id="", plugin_name="scalars", downsample=ALL)

    def blobs(self, plugin: str) -> dict:
        return self.provider.read_blob_sequences(self.context, experiment_id="", plugin_name=plugin, downsample=ALL)

    def texts(self) -> dict:
        found = self.provider.read_tensors(self.context, experiment_id="", plugin_name="text", downsample=ALL)
        return {run: {tag: data[-1].numpy.item().decode() for tag, data in tags.items()} for run, tags in found.items()}

    def hparams(self):
        """The HParams dashboard's experiment and its session groups, as its plugin serves them."""
        plugin = backend_context.Context(
            base_plugin.TBContext(data_provider=self.provider, multiplexer=self.multiplexer, logdir=str(self.logdir))
        )
        experiment = get_experiment.Handler(self.context, plugin, "", api_pb2.GetExperimentRequest()).run()
        statuses = [api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE, api_pb2.STATUS_RUNNING, api_pb2.STATUS_UNKNOWN]
        request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=100, allowed_statuses=statuses)
        return experiment, list_session_groups.Handler(self.context, plugin, "", request).run().session_groups


def expected_scalars(folder: Path, run: str) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(TensorBoard run, tag) -> [(step, value)] from metrics.csv: train_loss is `loss` in `<run>/train`."""
    rows = read_csv(folder / "metrics.csv") if (folder / "metrics.csv").is_file() else []
    found: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for row in rows:
        for key, value in row.items():
            split, _, metric = key.partition("_")
            where = (f"{run}/{split}", metric) if split in ("train", "val", "test") else (run, key)
            if key != "step" and value is not None:  # TensorBoard keeps every scalar as a 32-bit float
                found.setdefault(where, []).append((row["step"], float(np.float32(value))))
    return found


def same(ours: list[tuple[int, float]], theirs: list[tuple[int, float]]) -> bool:
    return len(ours) == len(theirs) and all(
        a[0] == b[0] and (a[1] == b[1] or (math.isnan(a[1]) and math.isnan(b[1]))) for a, b in zip(ours, theirs)
    )


def test_every_run_s_scalars_equal_its_metrics_csv_with_its_config_and_figures(results, tmp_path):
    done = export_tensorboard([results], tmp_path / "tb")
    assert done.counts == {"created": 5} and done.how_to_open.endswith(f"tensorboard --logdir {tmp_path / 'tb'}")
    board = Board(tmp_path / "tb")
    scalars = board.scalars()
    sweep = nnrun.load_sweep(results / "tiny" / "sweep")
    folders = {"small/run": results / "small" / "run"}
    folders.update({f"tiny/sweep/{row['trial']}": sweep.path / "trials" / row["trial"] for row in sweep.trials})
    for run, folder in folders.items():
        for (where, tag), points in expected_scalars(folder, run).items():
            assert same([(datum.step, datum.value) for datum in scalars[where][tag]], points), (where, tag)
    assert {"loss", "acc"} <= set(scalars["small/run/val"]) and {"lr", "epoch"} <= set(scalars["small/run"])

    texts = board.texts()
    assert texts["small/run"]["config"] == f"```yaml\n{(folders['small/run'] / 'config.yaml').read_text()}```"
    assert texts["small/run"]["summary"] == (folders["small/run"] / "summary.md").read_text()
    assert "summary" in texts["tiny/sweep/summary"]
    [curves] = board.blobs("images")["small/run"]["curves"]
    width, height, png = (board.provider.read_blob(board.context, blob_key=ref.blob_key) for ref in curves.values)
    assert png == (folders["small/run"] / "curves.png").read_bytes() and int(width) > 0 and int(height) > 0
    assert "val_acc_curves" in board.blobs("images")["tiny/sweep/summary"]


def test_a_sweep_s_hparams_give_a_row_per_point_with_its_summary_means(results, tmp_path):
    export_tensorboard([results], tmp_path / "tb")
    experiment, groups = Board(tmp_path / "tb").hparams()
    [lr] = experiment.hparam_infos
    assert lr.name == "optimizer.lr" and [value.number_value for value in lr.domain_discrete.values] == sorted(
        [*GOOD, DIVERGES]
    )
    assert [metric.name.tag for metric in experiment.metric_infos] == [
        "best/test_acc", "best/test_loss", "best/val_acc", "best/val_loss", "best/train_acc", "best/train_loss",
        "best/epoch",
    ]  # fmt: skip
    sweep = nnrun.load_sweep(results / "tiny" / "sweep")
    assert len(groups) == len(sweep.summary) == 3
    for point in sweep.summary:
        [group] = [group for group in groups if group.hparams["optimizer.lr"].number_value == point["optimizer.lr"]]
        values = {value.name.tag: value.value for value in group.metric_values}
        statuses = {session.status for session in group.sessions}
        if point["optimizer.lr"] == DIVERGES:
            assert statuses == {api_pb2.STATUS_FAILURE}
        else:
            assert statuses == {api_pb2.STATUS_SUCCESS}
            # the group's value is the mean of its seeds' 32-bit values: summary.csv's mean to float32 precision
            assert values["best/val_acc"] == pytest.approx(point["val_acc_mean"], rel=1e-6)
            assert values["best/test_loss"] == pytest.approx(point["test_loss_mean"], rel=1e-6)


def test_exporting_again_rewrites_only_the_run_that_changed(results, tmp_path):
    folder = tmp_path / "results" / "small" / "run"
    shutil.copytree(results / "small" / "run", folder)
    logdir = tmp_path / "tb"
    export_tensorboard([tmp_path / "results", results / "tiny"], logdir)
    files = {path: path.stat().st_mtime_ns for path in logdir.rglob("*") if path.is_file()}
    assert export_tensorboard([tmp_path / "results", results / "tiny"], logdir).counts == {"unchanged": 5}
    assert {path: path.stat().st_mtime_ns for path in logdir.rglob("*") if path.is_file()} == files

    (folder / "summary.md").write_text((folder / "summary.md").read_text() + "\nnoted\n")
    assert export_tensorboard([tmp_path / "results", results / "tiny"], logdir).counts == {"updated": 1, "unchanged": 4}
    changed = {path for path in logdir.rglob("*") if path.is_file() and files.get(path) != path.stat().st_mtime_ns}
    assert changed and all(path.is_relative_to(logdir / "small" / "run") for path in changed)
    assert not [path for path in logdir.rglob(".*") if path.name != ".nnrun-export.json"]  # no folder left half-way
    board = Board(logdir)
    assert len(board.scalars()["small/run/val"]["acc"]) == 3  # rewritten, not appended
    assert board.texts()["small/run"]["summary"].endswith("noted\n")
