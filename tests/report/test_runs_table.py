"""`nnrun runs`' table in process: which folders it reads and how, sorting, filters, --last, the labels of
runs of one name (those of `nnrun plot`), and lines that fit 80 columns. Most folders here are written by
hand (a summary.json and a config.yaml), and one real sweep and two real runs check the formats are nnrun's."""

from __future__ import annotations

import copy
import io
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

import nnrun
from nnrun.errors import RunError
from nnrun.io import csv_text
from nnrun.report.compare import labels
from nnrun.report.runs_table import (
    FIELDS,
    SORT_KEYS,
    duration,
    footer,
    list_folders,
    local_time,
    select,
    table,
    unshared,
)
from nnrun.results import SUMMARY_COLUMNS, TRIAL_COLUMNS, Run, load_run
from tests.helpers import small_config, write_config

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


def stamp(day: int, hour: int = 10, minute: int = 0, second: int = 0) -> str:
    return f"2026-12-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


def fake_run(
    folder: Path,
    *,
    name: str = "small",
    status: str = "completed",
    started: str = stamp(1),
    updated: str | None = None,
    epoch: int = 3,
    val: float | None = 0.9,
    test: float | None = 0.88,
    config: dict[str, Any] | None = None,
) -> Path:
    """A run folder of the two files `nnrun runs` reads: config.yaml and summary.json."""
    folder.mkdir(parents=True)
    write_config(folder / "config.yaml", {**(config or small_config()), "name": name})
    best = {"epoch": epoch, "val_acc": val, "test_acc": test, "val_loss": 0.3}
    summary = {"name": name, "status": status, "epoch": epoch, "best": best, "last": best, "started_at": started,
               "updated_at": updated or started}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def fake_sweep(folder: Path, statuses: list[str], name: str = "small", lock: bool = False) -> Path:
    """A sweep folder over optimizer.lr as nnrun sweep writes it, a trial per status; the second point is best."""
    rates = [0.001, 0.01]
    base = {**small_config(), "name": name}
    spec = {"method": "grid", "parameters": {"optimizer.lr": rates}, "seeds": [0], "metric": {"name": "val_acc"}}
    folder.mkdir(parents=True)
    write_config(folder / "sweep.yaml", {"source": "c.yaml", "overrides": [], "spec": spec, "base": base})
    rows = []
    for index, status in enumerate(statuses):
        trial = f"t{index}"
        rows.append({"trial": trial, "point": index % 2 + 1, "seed": 0, "optimizer.lr": rates[index % 2],
                     "status": status, "run_dir": f"trials/{trial}"})  # fmt: skip
        if status != "pending":
            fake_run(folder / "trials" / trial, name=name, status=status, started=stamp(2, 10, index),
                     updated=stamp(2, 10, index, 30))  # fmt: skip
    columns = TRIAL_COLUMNS[:3] + ["optimizer.lr"] + TRIAL_COLUMNS[3:]
    (folder / "trials.csv").write_text(csv_text(columns, rows))
    points = [
        {"point": 1, "optimizer.lr": 0.001, "seeds": 1, "val_acc_mean": 0.8, "test_acc_mean": 0.79, "best": 0},
        {"point": 2, "optimizer.lr": 0.01, "seeds": 1, "val_acc_mean": 0.95, "test_acc_mean": 0.94,
         "epoch_mean": 2.5, "best": 1},
    ]  # fmt: skip
    (folder / "summary.csv").write_text(csv_text(SUMMARY_COLUMNS[:1] + ["optimizer.lr"] + SUMMARY_COLUMNS[1:], points))
    if lock:
        (folder / "sweep.lock").write_text("host 1")
    return folder


def listed(root: Path) -> tuple[list, list[str]]:
    warnings: list[str] = []
    return list_folders(root, warnings.append), warnings


def rendered(rows: list, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO(), soft_wrap=True)
    console.print(Text("\n").join(table(rows, width, NOW)))
    return console.export_text().splitlines()


# --- real folders -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two real runs of one name that differ in the learning rate, and a real sweep of two trials."""
    root = tmp_path_factory.mktemp("results")
    for lr in (0.003, 0.01):
        config = small_config(optimizer={"type": "adam", "lr": lr}, train={"epochs": 1, "batch_size": 64})
        nnrun.train(config, out=root / "small" / f"lr{lr}", plot=False)
    config = small_config(name="study", train={"epochs": 1, "batch_size": 64})
    config["sweep"] = {"parameters": {"model.hidden.units": [8, 16]}, "seeds": [0]}
    nnrun.sweep(config, out=root / "study" / "sweep-1", workers=1, plot=False)
    return root


def test_real_runs_and_sweeps_are_read_and_trials_counted_in_their_sweep(results):
    rows, warnings = listed(results)
    assert warnings == []
    assert sorted((row.kind, row.name) for row in rows) == [("run", "small"), ("run", "small"), ("sweep", "study")]
    sweep = next(row for row in rows if row.kind == "sweep")
    assert sweep.trials == 2 and sweep.failed == 0 and sweep.status == "completed"
    assert sweep.best is not None and list(sweep.best) == ["model.hidden.units"] and sweep.metric == "val_acc"
    assert sweep.started_at is not None and sweep.wall_seconds is not None
    for row in rows:
        if row.kind == "run":
            summary = load_run(row.path).summary
            assert (row.val_acc, row.test_acc) == (summary["best"]["val_acc"], summary["best"]["test_acc"])
            assert (row.status, row.epochs, row.started_at) == ("completed", 1, summary["started_at"])


def test_runs_of_one_name_are_labelled_as_nnrun_plot_labels_them(results):
    rows = select(listed(results)[0])
    runs = sorted((row for row in rows if row.kind == "run"), key=lambda row: row.path)
    assert [row.label for row in runs] == labels([load_run(row.path) for row in runs])
    assert [row.label for row in runs] == ["optimizer.lr=0.003", "optimizer.lr=0.01"]
    assert [row.differs for row in runs] == [{"optimizer.lr": 0.003}, {"optimizer.lr": 0.01}]
    assert next(row for row in rows if row.kind == "sweep").label == ""  # the only sweep of its name


# --- reading --------------------------------------------------------------------------------------


def test_a_sweep_counts_its_trials_and_failures_and_shows_its_best_point(tmp_path):
    fake_sweep(tmp_path / "small" / "sweep-1", ["completed", "completed", "failed", "completed"])
    (row,), _ = listed(tmp_path)
    assert (row.kind, row.status, row.trials, row.failed) == ("sweep", "completed", 4, 1)
    assert row.best == {"optimizer.lr": 0.01} and (row.val_acc, row.test_acc, row.epochs) == (0.95, 0.94, 2.5)
    assert row.started_at == stamp(2, 10, 0)  # its first trial's start, to its last trial's summary
    assert row.wall_seconds == 3 * 60 + 30
    text = "\n".join(rendered([row]))
    assert "sweep of 4 trials, 1 failed; best by val_acc: optimizer.lr=0.01" in text


@pytest.mark.parametrize(
    "statuses, lock, status",
    [
        (["completed", "stopped", "early_stopped"], False, "completed"),
        (["completed", "pending"], False, "interrupted"),
        (["completed", "paused"], False, "interrupted"),
        (["failed", "failed"], False, "failed"),
        (["completed", "pending"], True, "running"),
    ],
)
def test_a_sweep_status_says_whether_trials_are_left(tmp_path, statuses, lock, status):
    fake_sweep(tmp_path / "sweep", statuses, lock=lock)
    assert listed(tmp_path)[0][0].status == status


def test_folders_that_cannot_be_read_are_skipped_with_a_warning(tmp_path):
    fake_run(tmp_path / "small" / "good")
    fake_run(tmp_path / "small" / "broken").joinpath("summary.json").write_text("{not json")
    fake_run(tmp_path / "small" / "no-summary").joinpath("summary.json").unlink()
    fake_run(tmp_path / "small" / "list").joinpath("config.yaml").write_text("- a list\n")
    fake_run(tmp_path / "small" / "bad-yaml").joinpath("config.yaml").write_text("a: [1, 2\n")
    (tmp_path / "other" / "sweep-1").mkdir(parents=True)
    (tmp_path / "other" / "sweep-1" / "sweep.yaml").write_text("source: c.yaml\n")  # no spec
    rows, warnings = listed(tmp_path)
    assert [row.path.name for row in rows] == ["good"]
    assert len(warnings) == 5 and all("\n" not in warning for warning in warnings)
    by_folder = {warning.split(":")[0].removeprefix("skipped "): warning for warning in warnings}
    assert "not valid JSON" in by_folder[str(tmp_path / "small" / "broken")]
    assert "no summary.json" in by_folder[str(tmp_path / "small" / "no-summary")]
    assert "no mapping" in by_folder[str(tmp_path / "small" / "list")]
    assert "not valid YAML" in by_folder[str(tmp_path / "small" / "bad-yaml")]
    assert "'spec'" in by_folder[str(tmp_path / "other" / "sweep-1")]


def test_an_exports_mlflow_folders_beside_the_runs_are_not_runs(tmp_path):
    fake_run(tmp_path / "small" / "good")
    copy = tmp_path / "mlartifacts" / "small" / "1a2b" / "artifacts"  # `nnrun export` run in results/
    copy.mkdir(parents=True)
    (copy / "config.yaml").write_text((tmp_path / "small" / "good" / "config.yaml").read_text())
    rows, warnings = listed(tmp_path)
    assert [row.path.name for row in rows] == ["good"] and warnings == []


def test_a_missing_folder_or_one_without_runs_is_an_error(tmp_path):
    with pytest.raises(RunError, match="does not exist") as error:
        listed(tmp_path / "nowhere")
    assert error.value.exit_code == 2
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(RunError, match="no runs or sweeps under"):
        listed(tmp_path / "empty")
    fake_run(tmp_path / "broken" / "run").joinpath("summary.json").write_text("[]")
    with pytest.raises(RunError, match="could be read"):
        listed(tmp_path / "broken")


def test_the_folder_may_be_a_run_or_a_sweep_itself_and_hidden_folders_are_passed_over(tmp_path):
    run = fake_run(tmp_path / "small" / "run")
    sweep = fake_sweep(tmp_path / "small" / "sweep", ["completed"])
    fake_run(tmp_path / ".trash" / "run")
    assert [row.path for row in listed(run)[0]] == [run]
    assert [row.path for row in listed(sweep)[0]] == [sweep]
    assert sorted(row.path for row in listed(tmp_path)[0]) == [run, sweep]


# --- choosing -------------------------------------------------------------------------------------


@pytest.fixture
def five(tmp_path) -> list:
    """Five runs of three names, started on days 1 to 5, with their accuracies and wall times."""
    specs = [("a", "completed", 1, 0.80, 100), ("b", "failed", 2, None, 50), ("c", "completed", 3, 0.95, 20),
             ("a", "early_stopped", 4, 0.90, 400), ("b", "running", 5, 0.85, None)]  # fmt: skip
    for name, status, day, val, wall in specs:
        updated = None if wall is None else stamp(day, 10, wall // 60, wall % 60)
        fake_run(tmp_path / name / f"day{day}", name=name, status=status, started=stamp(day), updated=updated, val=val)
    return listed(tmp_path)[0]


def days(rows: list) -> list[str]:
    return [row.path.name for row in rows]


def test_newest_first_unless_sorted_by_a_key(five):
    assert days(select(five)) == ["day5", "day4", "day3", "day2", "day1"]
    assert days(select(five, sort="val_acc")) == ["day3", "day4", "day5", "day1", "day2"]  # no value: last
    assert days(select(five, sort="name")) == ["day4", "day1", "day5", "day2", "day3"]  # ties: newest first
    assert days(select(five, sort="wall")) == ["day4", "day1", "day2", "day3", "day5"]
    assert days(select(five, sort="status"))[:2] == ["day3", "day1"]
    assert set(SORT_KEYS) == {"started", "name", "status", "epochs", "val_acc", "test_acc", "wall"}
    with pytest.raises(RunError, match="did you mean 'val_acc'"):
        select(five, sort="val-acc")


def test_filters_match_every_key_and_either_value_of_a_key_given_twice(five):
    assert days(select(five, ["status=completed"])) == ["day3", "day1"]
    assert days(select(five, ["status=completed", "status=running"])) == ["day5", "day3", "day1"]
    assert days(select(five, ["status=completed", "name=a"])) == ["day1"]
    assert days(select(five, ["kind=run", "epochs=3"])) == days(select(five))
    assert select(five, ["name=nobody"]) == []
    with pytest.raises(RunError, match="did you mean 'status'"):
        select(five, ["stauts=completed"])
    with pytest.raises(RunError, match="expected KEY=VALUE"):
        select(five, ["completed"])


def test_last_keeps_the_newest_then_sorts_them(five):
    assert days(select(five, last=2)) == ["day5", "day4"]
    assert days(select(five, last=3, sort="val_acc")) == ["day3", "day4", "day5"]
    assert days(select(five, ["status=completed"], last=1)) == ["day3"]


def test_json_has_every_field_with_accuracies_as_fractions(five):
    rows = [row.as_json() for row in select(five)]
    assert list(rows[0]) == list(FIELDS)
    day3 = next(row for row in rows if row["path"].endswith("day3"))
    assert day3["val_acc"] == 0.95 and day3["test_acc"] == 0.88 and day3["started_at"] == stamp(3)
    assert day3["kind"] == "run" and day3["trials"] is None and day3["differs"] == {}
    json.dumps(rows)


# --- labels ----------------------------------------------------------------------------------------


def variants() -> list[dict]:
    """Configs that differ in a layer's units, in a learning rate's type (1 and 1.0 print apart), in a key
    one of them lacks, and not at all (the last is the first again)."""
    base = small_config()
    wide = copy.deepcopy(base)
    wide["model"]["layers"][0]["units"] = 64
    integer, real = copy.deepcopy(base), copy.deepcopy(base)
    integer["optimizer"]["lr"], real["optimizer"]["lr"] = 1, 1.0
    extra = copy.deepcopy(base)
    extra["train"]["patience"] = None
    longer = copy.deepcopy(base)
    longer["model"]["layers"].append({"type": "dense", "units": 10})
    return [base, wide, integer, real, extra, longer, copy.deepcopy(base)]


def test_what_every_config_holds_alike_is_cut_and_the_labels_stay_those_of_nnrun_plot():
    configs = variants()
    whole = labels([Run(Path(f"r{i}"), config) for i, config in enumerate(configs)])
    cut = unshared(configs)
    assert labels([Run(Path(f"r{i}"), config) for i, config in enumerate(cut)]) == whole
    assert "units=64" in whole[1] and "optimizer.lr=1.0" in whole[3]
    assert "data" not in cut[0] and "loss" not in cut[0]  # the same everywhere


def test_labels_go_to_runs_of_the_same_name_and_kind_only(tmp_path):
    configs = variants()
    for index, config in enumerate(configs):
        fake_run(tmp_path / "small" / f"run{index}", config=config, started=stamp(1, 10, index))
    fake_run(tmp_path / "alone" / "run", name="alone", config=configs[1])
    fake_sweep(tmp_path / "small" / "sweep", ["completed"])
    rows = select(listed(tmp_path)[0], sort="name")
    runs = [row for row in rows if row.kind == "run" and row.name == "small"]  # in the order they are shown
    config_of = {f"run{index}": config for index, config in enumerate(configs)}
    assert [row.label for row in runs] == labels([Run(row.path, config_of[row.path.name]) for row in runs])
    label_of = {row.path.name: row for row in runs}
    assert label_of["run1"].differs["model.layers[0].units"] == 64
    assert label_of["run0"].label == label_of["run6"].label  # the same config, the same label
    assert [row.label for row in rows if row.name == "alone" or row.kind == "sweep"] == ["", ""]


# --- the table --------------------------------------------------------------------------------------


def test_every_line_fits_80_columns_and_the_paths_are_whole(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = Path("results")
    long_name = "a_rather_long_experiment_name_for_a_table"
    fake_run(results / long_name / "20261201-100000-1a2b3c", name=long_name, status="early_stopped", epoch=120,
             updated=stamp(3, 12, 30))  # fmt: skip
    fake_run(results / "small" / "20261202-100000-4d5e6f", val=0.99321, config=small_config(seed=1))
    fake_run(results / "small" / "20261203-100000-7a8b9c", val=1.0)
    fake_sweep(results / "study" / "sweep-218da5ed", ["completed", "failed"], name="study")
    rows = select(listed(results)[0])
    lines = rendered(rows)
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    for row in rows:
        assert any(line.strip() == str(row.path) or line.strip().startswith(f"{row.path}  ") for line in lines)
    assert lines[0].split() == ["name", "started", "status", "epochs", "val", "acc", "%", "test", "acc", "%", "wall"]
    assert any(line.startswith("a_rather_lon…") and "early_stopped" in line for line in lines)
    assert any("99.32" in line for line in lines) and any("100.00" in line for line in lines)
    assert any("2d 02h" in line for line in lines)  # from day 1 10:00 to day 3 12:30
    assert any(line.strip() == "seed=1" or line.endswith("  seed=1") for line in lines)


def test_the_footer_counts_runs_and_sweeps_and_says_how_many_are_shown(five):
    assert footer(five, five) == "5 runs"
    assert footer(five, five[:2]) == "2 of 5 runs shown"


@pytest.fixture
def kolkata(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no summer time
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_start_times_are_local_and_compact(kolkata):
    assert local_time("2026-12-06T14:05:00Z", NOW) == "12-06 19:35"
    assert local_time("2026-12-31T20:00:00Z", NOW) == "2027-01-01"  # another year: the date alone
    assert local_time("2025-03-01T08:00:00Z", NOW) == "2025-03-01"
    assert local_time(None, NOW) == local_time("garbage", NOW) == "–"


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (None, 0.4, 45, 65, 3599.6, 7380, 3 * 86400 + 4 * 3600)] == [
        "–", "0s", "45s", "1m 05s", "1h 00m", "2h 03m", "3d 04h",
    ]  # fmt: skip
