"""train.diagnostics: per-layer statistics in diagnostics.csv, right against NumPy, harmless to the run's
bits, resumable, drawn and reported; and they show report 002's vanishing gradients of deep sigmoid nets."""

from __future__ import annotations

import numpy as np
import pytest

import nnrun
from nnrun.data import batches, load_dataset
from nnrun.io import read_csv
from nnrun.report.document import write_report
from nnrun.runs.diagnostics import PROBE
from tests.faults.test_writes import fail_on
from tests.helpers import small_config
from tests.report.test_figures import looks_drawn

DIAGNOSED = small_config(train={"epochs": 3, "batch_size": 64, "diagnostics": True})


def rows_of(run) -> list[dict]:
    return read_csv(run.path / "diagnostics.csv", text=["layer"])


def deep(activation: str, depth: int = 8) -> dict:
    layers = [layer for _ in range(depth) for layer in ({"type": "dense", "units": 32}, {"type": activation})]
    return small_config(
        model={"input_shape": [64], "layers": [*layers, {"type": "dense", "units": 10}]},
        optimizer={"type": "sgd", "lr": 0.1},
        train={"epochs": 2, "batch_size": 64, "diagnostics": True},
    )


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory):
    return nnrun.train(DIAGNOSED, out=tmp_path_factory.mktemp("d") / "run")


def test_the_run_is_the_same_bits_with_diagnostics(diagnosed, tmp_path):
    plain = nnrun.train({**DIAGNOSED, "train": {**DIAGNOSED["train"], "diagnostics": False}}, out=tmp_path / "p")
    assert (plain.path / "metrics.csv").read_bytes() == (diagnosed.path / "metrics.csv").read_bytes()
    assert not (plain.path / "diagnostics.csv").exists()


def test_the_numbers_are_the_layers_own(diagnosed):
    rows = rows_of(diagnosed)
    assert [row["layer"] for row in rows[:3]] == ["0", "1", "2"] and len(rows) == 3 * 3  # 3 layers, 3 evaluations
    last = {row["layer"]: row for row in rows if row["step"] == rows[-1]["step"]}
    model = diagnosed.model()  # no early stopping: the final weights are the last evaluation's
    split = load_dataset(diagnosed.config["data"], diagnosed.config["seed"]).splits["train"]
    x = next(batches(split, len(split.y), np.float32))[0][:PROBE].reshape(PROBE, -1).astype(np.float64)
    weight, bias = (model.layers[0].params[key].astype(np.float64) for key in ("weight", "bias"))
    hidden = x @ weight + bias
    assert last["0"]["act_mean"] == pytest.approx(hidden.mean(), rel=1e-5)
    assert last["0"]["act_std"] == pytest.approx(hidden.std(), rel=1e-5)
    relu = np.maximum(hidden, 0)
    assert last["1"]["dead_frac"] == pytest.approx(np.mean(np.all(relu <= 0, axis=0)))
    assert last["0"]["weight_norm"] == pytest.approx(np.linalg.norm(weight), rel=1e-6)
    assert last["0"]["grad_norm"] > 0 and 0 < last["0"]["update_ratio"] < 1
    assert last["1"]["grad_norm"] is None and last["0"]["dead_frac"] is None


def test_deep_sigmoid_nets_show_vanishing_gradients_and_relu_nets_do_not(tmp_path):
    norms = {}
    for activation in ("sigmoid", "relu"):
        rows = rows_of(nnrun.train(deep(activation), out=tmp_path / activation, plot=False))
        last = [row for row in rows if row["step"] == rows[-1]["step"] and row["grad_norm"] is not None]
        norms[activation] = last[0]["grad_norm"] / last[-1]["grad_norm"]  # the first layer's over the last's
    assert norms["sigmoid"] < 1e-3  # report 002: orders of magnitude smaller near the input
    assert 0.1 < norms["relu"] < 10


def test_a_dense_stack_reports_each_block(tmp_path):
    config = small_config(
        model={
            "input_shape": [64],
            "layers": [{"type": "dense_stack", "units": [16, 16], "name": "hidden"}, {"type": "dense", "units": 10}],
        },  # fmt: skip
        train={"epochs": 1, "batch_size": 64, "diagnostics": True},
    )
    rows = rows_of(nnrun.train(config, out=tmp_path / "run", plot=False))
    assert [(row["layer"], row["name"]) for row in rows] == [
        ("0.0", "dense"), ("0.1", "relu"), ("0.2", "dense"), ("0.3", "relu"), ("1", "dense")
    ]  # fmt: skip


def test_a_resumed_run_writes_the_same_diagnostics(monkeypatch, tmp_path, diagnosed):
    fail_on(monkeypatch, "checkpoint.npz", 2)
    with pytest.raises(nnrun.errors.WriteError):
        nnrun.train(DIAGNOSED, out=tmp_path / "run", plot=False)
    monkeypatch.undo()
    resumed = nnrun.resume(tmp_path / "run", plot=False)
    assert (resumed.path / "diagnostics.csv").read_bytes() == (diagnosed.path / "diagnostics.csv").read_bytes()


def test_they_are_drawn_at_the_end_and_in_the_report(diagnosed, tmp_path, cli):
    looks_drawn(diagnosed.path / "training_diagnostics.png", min_width=1000, min_height=600)
    result = cli("plot", diagnosed.path, "--out", "figs")
    assert result.returncode == 0 and (tmp_path / "figs" / "training_diagnostics.png").is_file()
    written = write_report(diagnosed.path)
    assert diagnosed.path / "training_diagnostics.png" in written.figures
    assert "per-layer activation spread" in written.report.read_text()
