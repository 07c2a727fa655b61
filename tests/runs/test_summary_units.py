"""A run's best/last table in one form wherever a person reads it: accuracies in % (as the log and a sweep's
tables print them) in summary.md and the table `nnrun train` ends with; summary.json keeps the fractions."""

from __future__ import annotations

import json

from rich.console import Console

import nnrun
from nnrun.results import metric_cell, metric_title, percent, summary_markdown
from nnrun.runs.progress import summary_table
from tests.helpers import small_config

SUMMARY = {
    "name": "cancer", "status": "completed", "monitor": "val_loss", "monitor_mode": "min",
    "best": {"epoch": 7, "train_loss": 0.0412, "train_acc": 0.99321, "val_loss": 0.0803, "val_acc": 0.98, "test_loss":
             0.1, "test_acc": 0.9649122807017544},
    "last": {"epoch": 10, "train_loss": 0.03, "train_acc": 1.0, "val_loss": 0.09, "val_acc": 0.97, "test_loss": None,
             "test_acc": None},
}  # fmt: skip


def test_the_formats_a_person_reads():
    assert metric_title("val_acc") == "val acc %" and metric_title("val_loss") == "val loss"
    assert metric_cell("val_acc", 0.99321) == "99.32" and metric_cell("val_acc", 1) == "100.00"
    assert metric_cell("val_loss", 0.08034) == "0.0803" and metric_cell("epoch", 7) == "7"
    assert metric_cell("test_acc", None) == "–" and percent(0.99321) == "99.32 %"


def test_summary_md_shows_accuracies_in_percent():
    text = summary_markdown(SUMMARY)
    assert "| | train loss | train acc % | val loss | val acc % | test loss | test acc % | epoch |" in text
    assert "| best | 0.0412 | 99.32 | 0.0803 | 98.00 | 0.1000 | 96.49 | 7 |" in text
    assert "| last | 0.0300 | 100.00 | 0.0900 | 97.00 | – | – | 10 |" in text


def test_the_table_train_ends_with_shows_accuracies_in_percent():
    console = Console(record=True, width=200)
    console.print(summary_table(SUMMARY))
    text = console.export_text()
    assert "train acc %" in text and "test acc %" in text
    best = next(line for line in text.splitlines() if "best" in line and "0.0412" in line)
    assert "99.32" in best and "96.49" in best and "0.9932" not in best


def test_a_run_folder_keeps_fractions_in_json_and_percent_in_markdown(tmp_path):
    run = nnrun.train(small_config(train={"epochs": 1, "batch_size": 64}), out=tmp_path / "run")
    best = json.loads((run.path / "summary.json").read_text())["best"]
    assert 0 < best["val_acc"] <= 1
    assert f"| {100 * best['train_acc']:.2f} |" in (run.path / "summary.md").read_text()


def test_the_epoch_lines_and_nnrun_eval_print_accuracies_in_percent(cli, tmp_path):
    from tests.helpers import write_config

    write_config(tmp_path / "c.yaml", small_config(train={"epochs": 1, "batch_size": 64}))
    trained = cli("train", "c.yaml", "--out", "run", "--no-plot")
    assert trained.returncode == 0, trained.stderr
    lines = (trained.stdout + trained.stderr).splitlines()
    header = next(line for line in lines if line.split()[:2] == ["epoch", "step"])
    assert header.split()[-2:] == ["acc", "%"]
    row = lines[lines.index(header) + 1].split()
    accuracy = json.loads((tmp_path / "run" / "summary.json").read_text())["last"]["test_acc"]
    assert row[-1] == f"{100 * accuracy:.2f}"
    evaluated = cli("eval", "run", "--split", "test")
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"accuracy {100 * accuracy:.2f} %" in evaluated.stdout
