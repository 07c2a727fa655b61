"""`nnrun runs` on the command line: in process (typer's CliRunner) for what it prints and its exit codes, and
in subprocesses for the real entry point at 80 columns and for what it imports (no numba, no matplotlib)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nnrun.cli import app
from tests.report.test_runs_table import fake_run, fake_sweep, stamp


@pytest.fixture
def results(tmp_path, monkeypatch) -> Path:
    """results/ in the working folder: three runs of two names, a sweep, and a folder that cannot be read."""
    monkeypatch.chdir(tmp_path)
    fake_run(Path("results/small/20261201-100000-aaaaaa"), started=stamp(1), val=0.91, updated=stamp(1, 10, 5))
    fake_run(Path("results/small/20261202-100000-bbbbbb"), started=stamp(2, 9), val=0.97, status="failed")
    fake_run(Path("results/moons/20261203-100000-cccccc"), name="moons", started=stamp(3), val=0.88)
    fake_sweep(Path("results/small/sweep-1234abcd"), ["completed", "failed"])
    fake_run(Path("results/small/20261204-100000-dddddd")).joinpath("summary.json").write_text("{")
    return Path("results")


def invoke(*args: str):
    return CliRunner().invoke(app, ["runs", *args], env={"COLUMNS": "80"})


def paths(result) -> list[str]:
    return [Path(row["path"]).name for row in json.loads(result.stdout)]


def test_the_table_of_results_with_a_warning_for_what_cannot_be_read(results):
    result = invoke()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "started", "status"]
    assert "results/small/20261201-100000-aaaaaa" in result.stdout and "results/small/sweep-1234abcd" in result.stdout
    assert "sweep of 2 trials, 1 failed" in result.stdout
    assert "20261204-100000-dddddd: summary.json is not valid JSON" in result.stderr
    assert lines[-1] == "3 runs and 1 sweep"
    assert all(len(line) <= 80 for line in lines)


def test_json_sort_filter_and_last(results):
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [Path(row["path"]).name for row in rows] == [
        "20261203-100000-cccccc", "sweep-1234abcd", "20261202-100000-bbbbbb", "20261201-100000-aaaaaa",
    ]  # fmt: skip
    assert rows[2]["val_acc"] == 0.97 and rows[2]["status"] == "failed" and rows[3]["wall_seconds"] == 300
    assert paths(invoke("--json", "--sort", "val_acc")) == [
        "20261202-100000-bbbbbb", "sweep-1234abcd", "20261201-100000-aaaaaa", "20261203-100000-cccccc",
    ]  # fmt: skip
    assert paths(invoke("--json", "--filter", "status=completed", "--filter", "kind=run")) == [
        "20261203-100000-cccccc", "20261201-100000-aaaaaa",
    ]  # fmt: skip
    assert paths(invoke("--json", "--last", "2", "--sort", "name")) == ["20261203-100000-cccccc", "sweep-1234abcd"]
    assert paths(invoke("--json", "--filter", "name=nobody")) == []
    shown = invoke("--filter", "name=nobody")
    assert shown.exit_code == 0 and shown.stdout.strip() == "0 of 3 runs and 1 sweep shown"


def test_a_path_of_its_own(results):
    result = invoke("results/moons", "--json")
    assert result.exit_code == 0 and paths(result) == ["20261203-100000-cccccc"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere"], "nowhere does not exist"),
        (["empty"], "no runs or sweeps under empty"),
        (["--sort", "accuracy"], "--sort accuracy is not one of started, name"),
        (["--filter", "state=failed"], "did you mean 'status'"),
        (["--last", "0"], "--last"),
    ],
)
def test_mistakes_exit_2_with_one_message(results, args, message):
    Path("empty").mkdir()
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "80"}


def test_the_real_command_at_80_columns_imports_neither_numba_nor_matplotlib(results):
    code = (
        "import sys\nfrom nnrun.cli import main\nsys.argv = ['nnrun', 'runs']\n"
        "try:\n    main()\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numba', 'matplotlib', 'sklearn', 'scipy'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env())
    assert result.returncode == 0, result.stderr
    *table, modules = result.stdout.splitlines()
    assert modules == "[]"
    assert len(table) > 5 and all(len(line) <= 80 for line in table)


def test_nnrun_help_lists_runs_and_loads_nothing_that_runs_needs():
    """`nnrun --help` stays quick: importing the CLI leaves the table's modules (and numpy, yaml) unloaded."""
    result = subprocess.run([sys.executable, "-m", "nnrun", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and " runs " in result.stdout
    code = "import sys, nnrun.cli\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'yaml')\n"
    code += "             or m.startswith(('nnrun.report', 'nnrun.results'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
