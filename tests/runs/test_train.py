"""End-to-end training: accuracy on the shipped configs, determinism, early stopping, divergence, API."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nnrun
from nnrun.errors import ConfigError, TrainingDiverged
from nnrun.io import read_csv
from nnrun.results import METRIC_COLUMNS
from nnrun.runs.progress import Silent
from tests.helpers import ROOT, small_config


def test_quickstart_reaches_95_percent_on_digits(tmp_path):
    run = nnrun.train(ROOT / "configs" / "quickstart.yaml", out=tmp_path / "run")
    assert run.status == "completed"
    assert run.summary["last"]["test_acc"] >= 0.95
    for name in ("config.yaml", "metrics.csv", "timing.csv", "summary.json", "summary.md", "model.npz",
                 "checkpoint.npz", "curves.png", "train.log"):  # fmt: skip
        assert (run.path / name).is_file(), name


def test_moons_reaches_95_percent(tmp_path):
    run = nnrun.train(ROOT / "configs" / "moons.yaml", out=tmp_path / "run")
    assert run.summary["last"]["test_acc"] >= 0.95


def test_cnn_on_digits_trains(tmp_path):
    run = nnrun.train(ROOT / "configs" / "digits_cnn.yaml", out=tmp_path / "run")
    history = run.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert run.summary["last"]["test_acc"] >= 0.9


def test_same_seed_gives_byte_identical_metrics(tmp_path):
    config = small_config(
        model={
            "input_shape": [64],
            "layers": [
                {"type": "dense", "units": 32},
                {"type": "relu"},
                {"type": "dropout", "rate": 0.2},
                {"type": "dense", "units": 10},
            ],
        }
    )
    first = nnrun.train(config, out=tmp_path / "a")
    second = nnrun.train(config, out=tmp_path / "b")
    other = nnrun.train(config, ["seed=1"], out=tmp_path / "c")
    assert (first.path / "metrics.csv").read_bytes() == (second.path / "metrics.csv").read_bytes()
    assert (first.path / "metrics.csv").read_bytes() != (other.path / "metrics.csv").read_bytes()


def test_metrics_csv_has_one_row_per_evaluation(tmp_path):
    run = nnrun.train(small_config(train={"max_steps": 50, "eval_every": 10, "batch_size": 16}), out=tmp_path / "r")
    rows = read_csv(run.path / "metrics.csv")
    assert [row["step"] for row in rows] == [10, 20, 30, 40, 50]
    header = (run.path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == METRIC_COLUMNS
    assert all(row["val_acc"] is not None and row["test_acc"] is not None for row in rows)
    assert len(read_csv(run.path / "timing.csv")) == 5


def test_step_schedule_is_logged_per_evaluation(tmp_path):
    config = small_config(optimizer={"type": "sgd", "lr": 0.1, "schedule": {"type": "step", "every": 1, "gamma": 0.5}})
    run = nnrun.train(config, out=tmp_path / "r")
    assert [row["lr"] for row in run.history] == pytest.approx([0.1, 0.05, 0.025])


def test_early_stopping_restores_best_weights(tmp_path):
    config = small_config(
        optimizer={"type": "sgd", "lr": 1.5},  # a rate this high makes val_loss bounce, so patience runs out
        train={"epochs": 40, "batch_size": 32,
               "early_stopping": {"monitor": "val_loss", "patience": 2, "restore_best": True}},
    )  # fmt: skip
    run = nnrun.train(config, out=tmp_path / "r")
    assert run.status == "early_stopped"
    assert len(run.history) < 40
    best = min(run.history, key=lambda row: row["val_loss"])
    assert run.summary["best"]["step"] == best["step"]
    result = nnrun.evaluate_run(run.path, "val")
    assert result["loss"] == pytest.approx(best["val_loss"], rel=1e-5)


def test_divergence_marks_the_run_failed_and_keeps_metrics(tmp_path):
    config = small_config(loss="mse", optimizer={"type": "sgd", "lr": 1e30},
                          train={"max_steps": 40, "eval_every": 1, "batch_size": 32})  # fmt: skip
    with pytest.raises(TrainingDiverged):
        nnrun.train(config, out=tmp_path / "r")
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["step"] >= 1
    assert "error" in summary
    assert (tmp_path / "r" / "metrics.csv").is_file()


def test_invalid_config_creates_nothing(tmp_path):
    with pytest.raises(ConfigError):
        nnrun.train(small_config(train={"epocs": 3}), results_root=tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_input_shape_mismatch_is_reported_before_anything_is_written(tmp_path):
    config = small_config(model={"input_shape": [10], "layers": [{"type": "dense", "units": 10}]})
    with pytest.raises(ConfigError, match="input_shape"):
        nnrun.train(config, results_root=tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_load_run_reads_back_history_and_model(tmp_path):
    run = nnrun.train(small_config(), out=tmp_path / "r")
    again = nnrun.load_run(run.path)
    assert again.history == run.history
    assert again.summary["status"] == "completed"
    model = again.model()
    x = np.zeros((2, 64), np.float32)
    assert model.forward(x).shape == (2, 10)


def test_model_npz_layout(tmp_path):
    run = nnrun.train(small_config(), out=tmp_path / "r")
    with np.load(run.path / "model.npz", allow_pickle=False) as data:
        keys = set(data.files)
        assert data["00.hidden.weight"].shape == (64, 32)  # dense weights are (in, out)
        assert data["02.dense.bias"].shape == (10,)
    assert keys == {"00.hidden.weight", "00.hidden.bias", "02.dense.weight", "02.dense.bias", "__config__"}


def test_a_failed_set_up_removes_only_the_folders_it_made(tmp_path):
    bad = small_config(model={"input_shape": [10], "layers": [{"type": "dense", "units": 10}]})
    with pytest.raises(ConfigError):
        nnrun.train(bad, out=tmp_path / "new" / "run")
    assert not (tmp_path / "new").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(ConfigError):
        nnrun.train(bad, out=mine)
    assert mine.is_dir()  # the user's empty folder stays


class Recorder(Silent):
    """Records the events a run reports, in order (batches counted, not listed)."""

    def __init__(self):
        self.events = []

    def start(self, run):
        self.events.append(("start", run.name, run.train_examples, run.step))

    def compiled(self, seconds):
        self.events.append(("compiled", seconds >= 0))

    def epoch_start(self, epoch, batches):
        self.events.append(("epoch_start", epoch, batches))

    def batch(self, loss, acc, samples):
        if self.events[-1][0] != "batch":
            self.events.append(("batch", 0))
        self.events[-1] = ("batch", self.events[-1][1] + samples)

    def epoch_end(self):
        self.events.append(("epoch_end",))

    def evaluation(self, row):
        self.events.append(("evaluation", row["epoch"]))

    def finish(self, summary):
        self.events.append(("finish", summary["status"]))


def test_the_reporter_hears_every_event_in_order(tmp_path):
    recorder = Recorder()
    nnrun.train(small_config(train={"epochs": 2, "batch_size": 500}), out=tmp_path / "r", reporter=recorder)
    train_examples = recorder.events[0][2]
    assert recorder.events == [
        ("start", "small", train_examples, 0),
        ("compiled", True),
        ("epoch_start", 0, -(-train_examples // 500)),
        ("batch", train_examples),
        ("evaluation", 1),
        ("epoch_end",),
        ("epoch_start", 1, -(-train_examples // 500)),
        ("batch", train_examples),
        ("evaluation", 2),
        ("epoch_end",),
        ("finish", "completed"),
    ]
