"""`nnrun export`'s bad input, in process (typer's CliRunner): a folder that is not a run, an unreachable tracking
server, an extra not installed. Each exits 2 with one message and no traceback, and writes nothing."""

from __future__ import annotations

import shutil
import sys
import time

import pytest
from typer.testing import CliRunner

from nnrun.cli import app
from tests.helpers import closed_port


def export(*args) -> object:
    return CliRunner().invoke(app, ["export", *map(str, args)], env={"COLUMNS": "200"})


def refused(result, said: str) -> None:
    assert result.exit_code == 2, result.output
    assert said in result.output and "Traceback" not in result.output, result.output


@pytest.fixture
def targets(tmp_path) -> dict[str, list]:
    """Each tracker's options, pointing into folders that do not exist yet."""
    return {
        "mlflow": ["--uri", f"sqlite:///{tmp_path / 'store' / 'mlruns.db'}"],
        "tensorboard": ["--logdir", tmp_path / "tb"],
    }


def test_a_folder_that_is_not_a_run_stops_the_export_before_anything_is_written(results, tmp_path, targets):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("plot the curves\n")
    broken = tmp_path / "broken" / "run"
    shutil.copytree(results / "small" / "run", broken)
    (broken / "summary.json").write_text('{"status": "compl')  # cut off
    for tracker, options in targets.items():
        refused(export(results, tmp_path / "notes", "--to", tracker, *options), "notes holds no run folder")
        refused(export(results, tmp_path / "broken", "--to", tracker, *options), f"cannot read {broken}")
        refused(export(tmp_path / "missing", "--to", tracker, *options), "missing does not exist")
    assert not (tmp_path / "store").exists() and not (tmp_path / "tb").exists()


def test_options_of_the_other_tracker_are_refused(results, targets):
    refused(export(results, "--to", "mlflow", *targets["tensorboard"]), "--logdir is for --to tensorboard")
    refused(export(results, "--to", "tensorboard", *targets["mlflow"]), "--uri and --experiment are for --to mlflow")


def test_an_unreachable_tracking_server_fails_within_seconds(results):
    pytest.importorskip("mlflow")
    start = time.monotonic()
    result = export(results, "--to", "mlflow", "--uri", f"http://127.0.0.1:{closed_port()}")
    refused(result, "cannot reach the MLflow tracking store http://127.0.0.1:")
    assert "Connection refused" in result.output and "mlflow server --host 127.0.0.1" in result.output
    assert time.monotonic() - start < 10  # MLflow's own retries would take minutes


@pytest.mark.parametrize(
    ("tracker", "module"), [("mlflow", "mlflow"), ("mlflow", "sqlalchemy"), ("tensorboard", "tensorboardX")]
)
def test_an_extra_not_installed_is_named_with_its_pip_command(results, tmp_path, targets, monkeypatch, tracker, module):
    monkeypatch.setitem(sys.modules, module, None)  # importing it fails, as where it is not installed
    refused(export(results, "--to", tracker, *targets[tracker]), f"pip install 'nnrun[{tracker}]'")
    assert not (tmp_path / "store").exists() and not (tmp_path / "tb").exists()
