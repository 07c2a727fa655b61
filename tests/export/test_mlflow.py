"""`nnrun export --to mlflow` into a SQLite store, read back with MlflowClient: a run's params, metric histories,
status, tags and artifacts; a sweep as a parent run with its trials; exporting again, a grown sweep, a run exported
while it runs and again once it is finished or trained on."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import pytest
import yaml

import nnrun
from nnrun.export.folders import seconds
from nnrun.export.mlflow import export_mlflow
from nnrun.io import read_csv
from tests.export.conftest import DIVERGES, GOOD, study
from tests.helpers import small_config

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")
from mlflow.entities import ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def runs(client: MlflowClient, experiment: str, view=ViewType.ACTIVE_ONLY) -> list:
    found = client.get_experiment_by_name(experiment)
    return list(client.search_runs([found.experiment_id], run_view_type=view)) if found else []


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(metric.step, metric.value) for metric in client.get_metric_history(run_id, key)]


def csv_history(folder: Path, key: str) -> list[tuple[int, float]]:
    return [(row["step"], float(row[key])) for row in read_csv(folder / "metrics.csv") if row[key] is not None]


def same(ours: list[tuple[int, float]], theirs: list[tuple[int, float]]) -> bool:
    """Equal histories, NaN equal to NaN (a diverged run's last loss)."""
    return len(ours) == len(theirs) and all(
        a[0] == b[0] and (a[1] == b[1] or (math.isnan(a[1]) and math.isnan(b[1]))) for a, b in zip(ours, theirs)
    )


def assert_histories_equal_metrics_csv(client: MlflowClient, run, folder: Path) -> None:
    rows = read_csv(folder / "metrics.csv") if (folder / "metrics.csv").is_file() else []  # none: diverged at once
    assert bool(rows) == bool(client.get_metric_history(run.info.run_id, "epoch"))
    for key in rows[0] if rows else []:
        if key != "step":
            assert same(history(client, run.info.run_id, key), csv_history(folder, key)), (folder, key)


def leaf(config: dict, path: str):
    node = config
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def leaves(node) -> int:
    if isinstance(node, dict) and node:
        return sum(leaves(item) for item in node.values())
    if isinstance(node, list) and any(isinstance(item, (dict, list)) for item in node):
        return sum(leaves(item) for item in node)
    return 1


def ms(stamp: str) -> int:
    return int(seconds(stamp) * 1000)


def test_a_run_carries_its_config_metrics_summary_status_tags_and_artifacts(results, store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact folder is ./mlruns: nothing may land here but the store
    folder = results / "small" / "run"
    done = export_mlflow([folder], uri=store)
    assert done.counts == {"created": 1} and "mlflow ui --backend-store-uri sqlite:///" in done.how_to_open
    client = MlflowClient(store)
    [run] = runs(client, "small")
    config = yaml.safe_load((folder / "config.yaml").read_text())
    summary = json.loads((folder / "summary.json").read_text())

    params = run.data.params  # every leaf of the resolved config, by its --set key path, as --set reads it
    assert params["optimizer.lr"] == "0.003" and params["model.layers.0.units"] == "32"
    assert params["model.input_shape"] == "[64]" and params["optimizer.eps"] == "1.0e-08"
    assert len(params) == leaves(config)
    for key, text in params.items():
        assert yaml.safe_load(text) == leaf(config, key), key

    assert_histories_equal_metrics_csv(client, run, folder)
    assert len(history(client, run.info.run_id, "val_acc")) == 3
    for label in ("best", "last"):
        for key in ("val_acc", "val_loss", "test_acc", "epoch"):
            assert run.data.metrics[f"{label}_{key}"] == summary[label][key]

    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert (run.info.start_time, run.info.end_time) == (ms(summary["started_at"]), ms(summary["updated_at"]))
    tags = run.data.tags
    assert tags["nnrun.id"] == f"small/run@{summary['started_at']}" and tags["nnrun.kind"] == "run"
    assert tags["nnrun.version"] == summary["versions"]["nnrun"] and tags["nnrun.status"] == "completed"
    assert tags["nnrun.cpu"].startswith(summary["machine"]["cpu"])
    assert tags["nnrun.config_hash"] == hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    expected = f"nnrun train {folder.resolve() / 'config.yaml'} --set train.threads={summary['threads']}"
    assert tags["nnrun.command"] == expected
    assert tags["mlflow.note.content"] == (folder / "summary.md").read_text()

    assert {"config.yaml", "model.npz", "curves.png"} <= {item.path for item in client.list_artifacts(run.info.run_id)}
    copy = Path(client.download_artifacts(run.info.run_id, "model.npz", str(tmp_path / "store")))
    assert copy.read_bytes() == (folder / "model.npz").read_bytes()
    assert run.info.artifact_uri.startswith((tmp_path / "store" / "mlartifacts").as_uri())
    assert os.listdir(tmp_path) == ["store"]

    again = export_mlflow([folder], uri=store)
    assert again.counts == {"unchanged": 1} and len(runs(client, "small")) == 1


def test_a_sweep_is_a_parent_run_with_its_trials_as_children(results, store):
    done = export_mlflow([results], uri=store, experiment="study")  # the run and the sweep, into one experiment
    assert done.counts == {"created": 5} and done.what == "1 run and 1 sweep (3 trials)"
    client = MlflowClient(store)
    found = runs(client, "study")
    [parent] = [run for run in found if run.data.tags["nnrun.kind"] == "sweep"]
    children = [run for run in found if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(found) == 5 and len(children) == 3

    sweep = nnrun.load_sweep(results / "tiny" / "sweep")
    best = sweep.best
    assert best["optimizer.lr"] == GOOD[0]
    assert parent.data.params["optimizer.lr"] == "0.01" and parent.data.params["sweep.method"] == "grid"
    for key in ("val_acc_mean", "test_acc_mean", "val_loss_mean", "seeds"):
        assert parent.data.metrics[key] == best[key]
    assert parent.data.metrics["trials"] == 3 and parent.data.metrics["failed_trials"] == 1
    assert parent.data.tags["nnrun.best_point"] == str(best["point"]) and parent.info.status == "FINISHED"
    assert {"summary.csv", "summary.md", "trials.csv", "sweep.yaml"} <= {
        item.path for item in client.list_artifacts(parent.info.run_id)
    }

    rows = {row["trial"]: row for row in sweep.trials}
    assert {child.data.tags["nnrun.trial"] for child in children} == set(rows)
    for child in children:
        row = rows[child.data.tags["nnrun.trial"]]
        assert yaml.safe_load(child.data.params["optimizer.lr"]) == row["optimizer.lr"]
        assert child.info.status == ("FAILED" if row["optimizer.lr"] == DIVERGES else "FINISHED")
        assert child.data.tags["nnrun.command"] == row["command"]
        assert child.data.tags["nnrun.id"] == f"{parent.data.tags['nnrun.id']}/{row['trial']}"
        assert_histories_equal_metrics_csv(client, child, sweep.path / row["run_dir"])
        if row["status"] == "completed":  # the diverged trial has neither weights nor curves
            assert {"model.npz", "curves.png"} <= {item.path for item in client.list_artifacts(child.info.run_id)}

    again = export_mlflow([results], uri=store, experiment="study")
    assert again.counts == {"unchanged": 5}
    assert sorted(run.info.run_id for run in runs(client, "study")) == sorted(run.info.run_id for run in found)


def test_a_grown_sweep_adds_its_new_trial_and_keeps_the_others(store, tmp_path):
    folder = tmp_path / "tiny" / "sweep"  # a sweep of its own: its trials' commands name its folder's config.yaml
    nnrun.sweep(study(*GOOD, DIVERGES), out=folder, workers=1, plot=False)
    export_mlflow([folder], uri=store)
    client = MlflowClient(store)
    before = {run.data.tags["nnrun.id"]: run for run in runs(client, "tiny")}

    grown = nnrun.sweep(study(*GOOD, DIVERGES, 0.001), out=folder, workers=1, plot=False)  # one point more
    done = export_mlflow([folder], uri=store)
    # the new trial created; the failed one, which the sweep ran again, replaced; the parent updated
    assert done.counts == {"created": 1, "replaced": 1, "updated": 1, "unchanged": 2}, done.notes
    after = {run.data.tags["nnrun.id"]: run for run in runs(client, "tiny")}
    parent = next(run for run in after.values() if run.data.tags["nnrun.kind"] == "sweep")
    children = [run for run in after.values() if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(after) == 5 and len(children) == 4 and len(before) == 4
    assert parent.info.run_id == next(r.info.run_id for r in before.values() if r.data.tags["nnrun.kind"] == "sweep")
    assert parent.data.metrics["trials"] == 4
    added = set(after) - set(before)
    assert [after[key].data.params["optimizer.lr"] for key in added] == ["0.001"]
    for row in grown.trials:
        key = f"{parent.data.tags['nnrun.id']}/{row['trial']}"
        if row["optimizer.lr"] in GOOD:
            assert after[key].info.run_id == before[key].info.run_id
        elif row["optimizer.lr"] == DIVERGES:  # run again: a new MLflow run, the old one in MLflow's trash
            assert after[key].info.run_id != before[key].info.run_id
            deleted = [run.info.run_id for run in runs(client, "tiny", ViewType.DELETED_ONLY)]
            assert deleted == [before[key].info.run_id]
    assert any("run again" in note for note in done.notes)


def test_a_running_run_is_updated_by_a_later_export_and_replaced_when_trained_on(store, tmp_path):
    folder = tmp_path / "results" / "small" / "paused"
    nnrun.train(small_config(), out=folder, until=2, plot=False)  # paused after 2 of its 3 epochs
    export_mlflow([folder], uri=store)
    client = MlflowClient(store)
    [run] = runs(client, "small")
    assert run.info.status == "RUNNING" and run.info.end_time is None
    assert len(history(client, run.info.run_id, "val_acc")) == 2

    nnrun.resume(folder, plot=False)
    done = export_mlflow([folder], uri=store)
    [finished] = runs(client, "small")
    assert done.counts == {"updated": 1} and finished.info.run_id == run.info.run_id
    assert finished.info.status == "FINISHED" and finished.info.end_time is not None
    assert_histories_equal_metrics_csv(client, finished, folder)  # the third row added, the first two not again

    nnrun.resume(folder, budget=4, plot=False)  # trained on to 4 epochs: its train.epochs param changes
    done = export_mlflow([folder], uri=store)
    [extended] = runs(client, "small")
    assert done.counts == {"replaced": 1} and "train.epochs 3 -> 4" in done.notes[0]
    assert extended.info.run_id != run.info.run_id and extended.data.params["train.epochs"] == "4"
    assert extended.data.tags["nnrun.extended"] == "train.epochs 3 -> 4 at step 111"
    assert_histories_equal_metrics_csv(client, extended, folder)
    assert [old.info.run_id for old in runs(client, "small", ViewType.DELETED_ONLY)] == [run.info.run_id]
