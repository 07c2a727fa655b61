"""`nnrun check` against the data (issue 26): what `train` would refuse, check refuses; data it cannot find is a
warning; the table fits 80 columns. In process, with typer's CliRunner."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from nnrun.cli import app
from nnrun.errors import ShapeError
from nnrun.losses import SoftmaxCrossEntropy
from nnrun.model import Sequential, check_fits
from tests.helpers import ROOT, small_config, write_config


def nnrun(*args, columns: int = 200):
    return CliRunner().invoke(app, [str(arg) for arg in args], env={"COLUMNS": str(columns)})


def cancer_config(tmp_path, label="diagnosis", input_shape=(30,), path=None):
    """The issue's user: 30 features and a `diagnosis` column of names in a CSV, an MLP on it."""
    rng = np.random.default_rng(0)
    rows = [",".join([*(f"{v:.3f}" for v in rng.normal(size=30)), ("benign", "malignant")[k % 2]]) for k in range(60)]
    (tmp_path / "cancer.csv").write_text(",".join([*(f"f{k}" for k in range(30)), "diagnosis"]) + "\n")
    with open(tmp_path / "cancer.csv", "a") as file:
        file.write("\n".join(rows) + "\n")
    config = small_config(
        data={"dataset": "csv", "path": str(path or tmp_path / "cancer.csv"), "label": label},
        model={
            "input_shape": list(input_shape),
            "layers": [{"type": "dense", "units": 8}, {"type": "relu"}, {"type": "dense", "units": 2}],
        },
    )
    return write_config(tmp_path / "cancer.yaml", config)


def test_a_label_column_that_does_not_exist_fails_check(tmp_path):
    result = nnrun("check", cancer_config(tmp_path, label="diagnosiss"))
    assert result.exit_code == 2, result.output
    assert "has no column 'diagnosiss'" in result.output and "config ok" not in result.output


def test_an_input_shape_that_does_not_fit_the_data_fails_check_with_one_suggestion(tmp_path):
    result = nnrun("check", cancer_config(tmp_path, input_shape=(29,)))
    assert result.exit_code == 2, result.output
    assert "the data has examples of shape (30,) but model.input_shape is [29]" in result.output
    assert "set model.input_shape to [30]" in result.output and "(or [30] for an MLP)" not in result.output


def test_a_last_layer_that_does_not_fit_the_classes_fails_check(tmp_path):
    config = small_config(data={"dataset": "digits", "classes": [1, 7]})
    result = nnrun("check", write_config(tmp_path / "c.yaml", config))
    assert result.exit_code == 2, result.output
    assert "softmax_cross_entropy on 2 classes needs (2,)" in result.output


def test_check_says_what_it_looked_at(tmp_path):
    result = nnrun("check", cancer_config(tmp_path))
    assert result.exit_code == 0, result.output
    assert re.search(r"data: .*cancer.csv: input \[30\], 2 classes \(benign, malignant\)", result.output)
    assert "config ok." in result.output and "not checked" not in result.output


def test_data_that_is_not_there_is_a_warning(tmp_path):
    result = nnrun("check", cancer_config(tmp_path, path=tmp_path / "elsewhere.csv"))
    assert result.exit_code == 0, result.output
    assert re.search(r"warning: data not checked: .*not found.*\n.*elsewhere.csv", result.output)
    assert "config ok; data not checked" in result.output


def test_a_catalog_dataset_is_checked_without_its_files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config = small_config(data={"dataset": "notmnist", "path": str(tmp_path / "none")})
    config["model"]["input_shape"] = [64]
    result = nnrun("check", write_config(tmp_path / "c.yaml", config))
    assert result.exit_code == 2 and "the data has examples of shape (1, 28, 28)" in result.output
    config["model"]["input_shape"] = [784]
    result = nnrun("check", write_config(tmp_path / "c.yaml", config))
    assert result.exit_code == 0, result.output
    assert "warning: notmnist's files were not found" in result.output
    assert "config ok. notmnist's files were not found" in result.output


def test_the_hint_gives_both_shapes_for_images():
    model = Sequential.from_config({"input_shape": [64], "layers": [{"type": "dense", "units": 10}]})
    with pytest.raises(ShapeError) as info:
        check_fits(model, SoftmaxCrossEntropy(), (1, 7, 7), 10)
    assert info.value.hint == "set model.input_shape to [1, 7, 7] (or [49] for an MLP)"
    with pytest.raises(ShapeError) as info:
        check_fits(model, SoftmaxCrossEntropy(), (49,), 10)
    assert info.value.hint == "set model.input_shape to [49]"


@pytest.mark.parametrize("name", ["cnn.yaml", "cifar10_cnn.yaml", "reports/002_vgg11.yaml", "quickstart.yaml"])
def test_the_table_fits_80_columns_without_breaking_a_word(name):
    result = nnrun("check", ROOT / "configs" / name, columns=80)
    assert result.exit_code == 0, result.output
    table = result.output[: result.output.index("└")]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "…" not in table
    words = set(re.findall(r"[^\s│┃|]+", table))
    for header in ("#", "layer", "output", "shape", "params", "FLOPs", "activations"):
        assert header in words, header
    for line in table.splitlines():
        rest = re.sub(r"\[[\d, ]*\]", "", line)  # whole output shapes
        assert "[" not in rest and "]" not in rest, line
        for number in re.findall(r"\d[\d,]*", rest):
            assert re.fullmatch(r"\d{1,3}(,\d{3})*|\d+", number), line  # no number cut in two
