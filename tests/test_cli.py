"""The CLI end to end, in subprocesses: exit codes, messages, and what is (not) written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import yaml

from tests.helpers import ROOT, small_config, write_config


def test_help_lists_every_verb(cli):
    result = cli("--help")
    assert result.returncode == 0
    for verb in ("train", "sweep", "plot", "check", "gradcheck", "eval", "layers"):
        assert verb in result.stdout


def test_typo_exits_2_with_file_line_and_suggestion(cli, tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "name: bad\ndata: {dataset: digits}\nmodel:\n  input_shape: [64]\n  layers:\n"
        "    - {type: dense, unts: 10}\nloss: softmax_cross_entropy\noptimizer: {type: adam, lr: 0.001}\n"
    )
    result = cli("train", "bad.yaml")
    assert result.returncode == 2
    assert "bad.yaml:6" in result.stderr
    assert "did you mean 'units'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()


def test_unknown_layer_type_lists_registered_names(cli, tmp_path):
    config = small_config()
    config["model"]["layers"][1] = {"type": "rellu"}
    write_config(tmp_path / "c.yaml", config)
    result = cli("check", "c.yaml")
    assert result.returncode == 2
    assert "did you mean 'relu'" in result.stderr
    assert "conv2d" in result.stderr and "maxpool2d" in result.stderr


def test_train_writes_the_run_folder_and_eval_agrees(cli, tmp_path):
    write_config(tmp_path / "c.yaml", small_config())
    result = cli("train", "c.yaml", "--set", "train.epochs=2", "--out", "run")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epoch"] == 2
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["epochs"] == 2
    result = cli("eval", "run", "--split", "test", "--save-logits", "logits.npz")
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "logits.npz") as saved:
        accuracy = float(np.mean(saved["logits"].argmax(axis=1) == saved["labels"]))
    assert abs(accuracy - summary["last"]["test_acc"]) < 1e-12
    assert f"accuracy {100 * accuracy:.2f} %" in result.stdout


def test_quiet_prints_nothing(cli, tmp_path):
    write_config(tmp_path / "c.yaml", small_config())
    result = cli("train", "c.yaml", "--quiet", "--set", "train.epochs=1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_progress_shows_evaluations_and_final_table(cli, tmp_path):
    write_config(tmp_path / "c.yaml", small_config())
    result = cli("train", "c.yaml", "--set", "train.epochs=2")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "val" in output and "best" in output and "last" in output


def test_divergence_exits_3(cli, tmp_path):
    config = small_config(loss="mse", optimizer={"type": "sgd", "lr": 1e30}, train={"max_steps": 40, "eval_every": 1})
    write_config(tmp_path / "c.yaml", config)
    result = cli("train", "c.yaml", "--out", "run")
    assert result.returncode == 3
    assert "non-finite" in result.stderr or "became" in result.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"


def test_check_prints_the_network_summary(cli):
    result = cli("check", ROOT / "configs" / "cnn.yaml")
    assert result.returncode == 0, result.stderr
    assert "[32, 28, 28]" in result.stdout  # conv 32@5x5 same keeps 28x28
    assert "3,2" in result.stdout  # the 6272x512 dense layer: 3.2M parameters
    assert "total" in result.stdout


def test_check_reports_a_shape_mismatch_with_both_shapes(cli, tmp_path):
    config = small_config(
        model={
            "input_shape": [1, 8, 8],
            "layers": [{"type": "conv2d", "filters": 4, "kernel": 3}, {"type": "dense", "units": 10, "name": "head"}],
        }
    )
    write_config(tmp_path / "c.yaml", config)
    result = cli("check", "c.yaml")
    assert result.returncode == 2
    assert "model.layers[1] head (dense): expects a flat input (features,)" in result.stderr
    assert "gets input of shape (4, 6, 6)" in result.stderr


def test_gradcheck_passes_on_the_moons_config(cli):
    result = cli("gradcheck", ROOT / "configs" / "moons.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pass" in result.stdout and "FAIL" not in result.stdout


def test_layers_lists_every_registry(cli):
    result = cli("layers")
    assert result.returncode == 0
    for name in ("conv2d", "batchnorm", "softmax_cross_entropy", "hinge", "adam", "adadelta", "cosine",
                 "truncated_normal", "digits", "moons"):  # fmt: skip
        assert name in result.stdout
    titles = [line.strip() for line in result.stdout.splitlines() if line.strip().isalpha()]
    assert titles == ["layers", "losses", "optimizers", "schedules", "initializers", "datasets"]


def test_missing_dataset_offline_lists_every_place_and_writes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("NNRUN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = cli("train", ROOT / "configs" / "cnn.yaml", "--offline")
    assert result.returncode == 2
    assert "mnist" in result.stderr and "Traceback" not in result.stderr
    assert str(tmp_path / "data" / "mnist") in result.stderr and str(tmp_path / "cache") in result.stderr
    assert not (tmp_path / "results").exists()


def test_sigkill_then_resume_gives_the_uninterrupted_metrics(cli, tmp_path):
    # dropout, shuffling and augmentation all draw from seeded streams the checkpoint must restore
    config = small_config(
        data={"dataset": "digits", "augment": {"crop_padding": 1, "flip": True}},
        model={"input_shape": [1, 8, 8], "layers": [{"type": "flatten"}, {"type": "dense", "units": 64},
                                                    {"type": "relu"}, {"type": "dropout", "rate": 0.2},
                                                    {"type": "dense", "units": 10}]},
        optimizer={"type": "adam", "lr": 0.001, "schedule": {"type": "cosine"}},
        train={"epochs": 60, "batch_size": 8},
    )  # fmt: skip
    write_config(tmp_path / "c.yaml", config)
    assert cli("train", "c.yaml", "--quiet", "--out", "whole").returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "nnrun", "train", "c.yaml", "--quiet", "--out", "killed"],
                               cwd=tmp_path)  # fmt: skip
    metrics = tmp_path / "killed" / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 3:  # header + epochs 1 and 2
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    summary = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert summary["status"] == "running", "the run finished before it could be killed"
    result = cli("train", "--resume", "killed", "--quiet")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "killed" / "metrics.csv").read_bytes() == (tmp_path / "whole" / "metrics.csv").read_bytes()
    assert json.loads((tmp_path / "killed" / "summary.json").read_text())["status"] == "completed"


def test_train_on_a_config_with_a_sweep_says_the_section_is_ignored(cli, tmp_path):
    config = small_config(train={"epochs": 1, "batch_size": 64})
    config["sweep"] = {"parameters": {"optimizer.lr": [0.01, 0.02]}}
    write_config(tmp_path / "study.yaml", config)
    result = cli("train", "study.yaml", "--out", "run")
    assert result.returncode == 0, result.stderr
    assert "sweep: section is ignored" in result.stderr
    assert "nnrun sweep CONFIG" in result.stderr
    assert "sweep" not in yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())


def test_sweep_on_a_config_without_a_sweep_section_exits_2(cli, tmp_path):
    write_config(tmp_path / "plain.yaml", small_config())
    result = cli("sweep", "plain.yaml")
    assert result.returncode == 2
    assert "plain.yaml: the config has no sweep: section" in result.stderr
    assert not (tmp_path / "results").exists()
