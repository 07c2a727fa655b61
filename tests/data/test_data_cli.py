"""`nnrun data list | download | info`, in process (typer's CliRunner) with the data folders in tmp dirs,
plus a few runs in subprocesses (`python -m nnrun`) for the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from nnrun.cli import app
from nnrun.data import locate
from nnrun.data.base import Loader
from nnrun.data.dataset import Dataset, Split
from nnrun.registry import DATASETS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FakeFiles(Loader):
    """Fake dataset kept in fake.npy, for the CLI tests."""

    shape = (3,)
    classes = 2

    def __init__(self, *, path: str | None = None, test: float = 0.25, **common: Any):
        self.path = path
        self.test = test
        super().__init__(**common)

    def locate(self) -> Path | None:
        return locate.find(self.type_name, lambda place: (place / "fake.npy").is_file(), self.path)

    def fetch(self) -> Path:
        found = self.locate()
        if found is None:
            raise locate.not_found(self.type_name, self.path, "fake.npy", "there is nothing to download")
        return found

    def load_raw(self, seed: int) -> Dataset:
        x = np.load(self.fetch() / "fake.npy")
        return Dataset(self.type_name, {"train": Split(x, np.arange(len(x)) % 2)}, (3,), 2, ["no", "yes"])


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Empty data folders: $NNRUN_DATA, the cache and the system folders all in tmp_path; a fake dataset."""
    monkeypatch.setenv("NNRUN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NNRUN_OFFLINE", raising=False)  # restored afterwards, though --offline sets it
    monkeypatch.setattr(locate, "SYSTEM_DIRS", (tmp_path / "system",))
    monkeypatch.setitem(DATASETS._classes, "fake_files", FakeFiles)
    FakeFiles.type_name = "fake_files"
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def table_rows(text: str) -> dict[str, list[str]]:
    """First cell -> cells, for the rows of a rich table."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) > 1 and cells[0]:
            rows[cells[0]] = cells
    return rows


# --- data list ---------------------------------------------------------------------------------------


def test_list_shows_every_dataset_and_where_its_files_are(env):
    result = run("data", "list")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert set(DATASETS.names()) <= set(rows)
    for name in ("digits", "moons", "circles", "spirals", "xor"):
        assert rows[name][-1] == "built in", rows[name]
    for name in ("npz", "csv", "image_folder"):
        if name in rows:
            assert rows[name][-1] == "needs data.path"
    for name in ("mnist", "fashion_mnist", "cifar10", "notmnist", "fake_files"):
        assert rows[name][-1] == "not present", rows[name]
    assert rows["digits"][1:3] == ["[1, 8, 8]", "10"]
    assert rows["fake_files"][3] == "Fake dataset kept in fake.npy, for the CLI tests."
    assert not (env / "cache").exists()  # nothing downloaded, nothing created


def test_list_finds_files_in_nnrun_data_and_the_system_folders(env):
    (env / "data" / "fake_files").mkdir(parents=True)
    np.save(env / "data" / "fake_files" / "fake.npy", np.zeros((4, 3)))
    assert table_rows(run("data", "list").stdout)["fake_files"][-1] == str(env / "data" / "fake_files")
    (env / "data" / "fake_files" / "fake.npy").unlink()
    (env / "system" / "fake-files").mkdir(parents=True)  # Debian's spelling, with '-'
    np.save(env / "system" / "fake-files" / "fake.npy", np.zeros((4, 3)))
    assert table_rows(run("data", "list").stdout)["fake_files"][-1] == str(env / "system" / "fake-files")


# --- data download -----------------------------------------------------------------------------------


def test_download_without_files_offline_exits_2_listing_every_place(env):
    result = run("data", "download", "fake_files", "--offline")
    assert result.exit_code == 2
    assert os.environ["NNRUN_OFFLINE"] == "1"  # --offline is passed on to the loaders
    message = result.stderr
    assert "dataset 'fake_files' not found" in message
    for place in (env / "data" / "fake_files", env / "cache" / "nnrun" / "fake_files", env / "system" / "fake_files"):
        assert str(place) in message
    assert "Traceback" not in message


def test_download_prints_where_the_files_are(env):
    (env / "elsewhere").mkdir()
    np.save(env / "elsewhere" / "fake.npy", np.zeros((4, 3)))
    result = run("data", "download", "fake_files", "--path", str(env / "elsewhere"))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"fake_files: {env / 'elsewhere'}"


def test_download_of_a_built_in_dataset_or_a_file_format(env):
    result = run("data", "download", "digits")
    assert result.exit_code == 0 and "built in" in result.stdout
    if "npz" in DATASETS:
        result = run("data", "download", "npz")
        assert result.exit_code == 2 and "--path" in result.stderr
    result = run("data", "download", "digitz")
    assert result.exit_code == 2 and "did you mean 'digits'" in result.stderr


def test_download_of_mnist_offline_in_a_subprocess(tmp_path):
    if DATASETS.get("mnist").fetch is Loader.fetch:
        pytest.skip("mnist cannot be fetched in this version")
    env = {**os.environ, "COLUMNS": "250", "NNRUN_DATA": str(tmp_path / "d"), "XDG_CACHE_HOME": str(tmp_path / "c")}
    env.pop("NNRUN_OFFLINE", None)
    result = subprocess.run(
        [sys.executable, "-m", "nnrun", "data", "download", "mnist", "--offline"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert str(tmp_path / "d" / "mnist") in result.stderr and str(tmp_path / "c" / "nnrun" / "mnist") in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "c" / "nnrun" / "mnist").exists()


# --- data info --------------------------------------------------------------------------------------------


def test_info_on_digits_counts_per_class_and_split(env):
    result = run("data", "info", "digits", "--set", "classes=[3,8]", "--set", "n_train=100", "-s", "data.val=30")
    assert result.exit_code == 0, result.output
    out = result.stdout
    rows = table_rows(out)
    # header: class, name, train, val, test
    assert rows["0"][1] == "3" and rows["1"][1] == "8"
    assert int(rows["0"][2]) + int(rows["1"][2]) == 100
    assert int(rows["0"][3]) + int(rows["1"][3]) == 30
    assert rows["train"][1] == "uint8 [100, 1, 8, 8]"
    assert rows["train"][3] == "0..16"  # stored values
    assert rows["train"][4] == "0..1"  # batched values, scaled by 1/16
    assert "classes: kept 3 (3), 8 (8) as 0..1" in out and "n_train: 100 of the" in out


def test_info_standardize_reports_the_batched_range(env):
    result = run("data", "info", "digits", "--set", "normalize=standardize")
    assert result.exit_code == 0, result.output
    mean, std = table_rows(result.stdout)["train"][5].split(" / ")
    assert abs(float(mean)) < 1e-3 and abs(float(std) - 1) < 0.05


def test_info_grid_writes_a_png_of_sample_images(env):
    result = run("data", "info", "digits", "--grid", "digits.png")
    assert result.exit_code == 0, result.output
    assert "100 images saved to digits.png" in result.stdout
    data = (env / "digits.png").read_bytes()
    assert data.startswith(PNG_MAGIC)
    import matplotlib.image

    image = matplotlib.image.imread(env / "digits.png")
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert not list(env.glob(".digits.png.*"))  # the atomic write left no temporary file


def test_info_grid_of_2d_points_is_a_scatter_plot(env):
    result = run("data", "info", "moons", "--set", "n=200", "--grid", "moons.png")
    assert result.exit_code == 0, result.output
    assert "scatter plot of 200 points" in result.stdout
    assert (env / "moons.png").read_bytes().startswith(PNG_MAGIC)


def test_info_grid_of_other_features_is_an_error(env):
    (env / "data" / "fake_files").mkdir(parents=True)
    np.save(env / "data" / "fake_files" / "fake.npy", np.random.default_rng(0).normal(size=(40, 3)))
    result = run("data", "info", "fake_files", "--grid", "x.png")
    assert result.exit_code == 2
    assert "--grid draws images (C, H, W) or 2-D points" in result.stderr
    assert not (env / "x.png").exists()
    result = run("data", "info", "fake_files")
    assert result.exit_code == 0 and table_rows(result.stdout)["1"][1] == "yes"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["digits", "--set", "clases=[1]"], "did you mean 'classes'"),
        (["digits", "--set", "classes=[1,10]"], "class 10 does not exist"),
        (["digits", "--set", "n_train=5000"], "n_train=5000 but the train split has only 1168 examples"),
        (["digits", "--set", "val"], "key.path=value"),
        (["fake_files"], "dataset 'fake_files' not found"),
    ],
)
def test_info_errors_exit_2_with_one_message(env, args, message):
    result = run("data", "info", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.stderr


# --- the real entry point -----------------------------------------------------------------------------------


def test_help_in_a_subprocess_lists_the_data_verbs(cli):
    result = cli("data", "--help")
    assert result.returncode == 0, result.stderr
    for verb in ("list", "download", "info"):
        assert verb in result.stdout
    assert "data" in cli("--help").stdout


def test_info_in_a_subprocess(cli, tmp_path):
    result = cli("data", "info", "spirals", "--set", "arms=4", "--set", "classes=[2,0]", "--grid", "s.png")
    assert result.returncode == 0, result.stderr
    assert table_rows(result.stdout)["0"][1] == "2" and (tmp_path / "s.png").is_file()
