"""The benchmark harness runs end to end on a tiny size and reports a well-formed table and JSON (no speed asserted)."""

from __future__ import annotations

import io
import json
import math

import pytest

from nnrun import bench
from nnrun.bench.models import IMAGE_SHAPE, SYNTHETIC
from nnrun.bench.timing import first_batch


@pytest.fixture(scope="module")
def tiny():
    """The largest model, 2 timed batches, one repetition, synthetic images, torch when importable."""
    return bench.run(["cnn7"], reps=1, batches=2, warmup=1, synthetic=True, startup=False, peak_size=256)


def test_results_are_complete_and_json_ready(tiny):
    results = json.loads(json.dumps(tiny))
    assert results["extrapolated"] is True and results["batches"] == 2 and results["data"] == SYNTHETIC
    assert results["sgemm_peak_gflops"] > 0
    assert [row["model"] for row in results["models"]] == ["cnn7"]
    for row in results["models"]:
        assert row["steps_per_epoch"] == math.ceil(60000 / row["batch_size"])
        assert row["train_flops_per_epoch"] == 3 * row["forward_flops_per_example"] * 60000
        for fw in results["frameworks"]:
            cell = row[fw]
            assert len(cell["reps"]) == 1 and cell["seconds_per_epoch"] > 0
            assert cell["gflops"] > 0 and cell["rss_mb"] > 50
        if "torch" in results["frameworks"]:
            assert row["ratio"] == pytest.approx(row["nnrun"]["seconds_per_epoch"] / row["torch"]["seconds_per_epoch"])


def test_table_and_markdown_list_every_model(tiny):
    from rich.console import Console

    out = io.StringIO()
    bench.report(tiny, Console(file=out, width=200))
    text = out.getvalue()
    assert "cnn7 (batch 50)" in text and "nnrun/torch" in text
    assert "extrapolated" in text
    lines = bench.markdown(tiny).splitlines()
    assert lines[0].startswith("| model |") and lines[1].startswith("|---|")
    assert sum(line.startswith("| cnn7") for line in lines) == 1


@pytest.mark.torch
def test_torch_models_match_nnrun_parameter_counts():
    pytest.importorskip("torch")
    from nnrun.bench import torch_models
    from nnrun.model import Sequential

    for name, model in bench.MODELS.items():
        network = torch_models.build(model["layers"], model["input_shape"], IMAGE_SHAPE)
        ours = Sequential.from_config({"input_shape": model["input_shape"], "layers": model["layers"]})
        assert sum(p.numel() for p in network.parameters()) == ours.num_params(), name


def test_cli_writes_json(cli, tmp_path):
    result = cli("bench", "--models", "mlp", "--batches", "2", "--reps", "1", "--warmup", "0", "--no-torch",
                 "--synthetic", "--no-startup", "--peak-size", "256", "--json", "out.json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "out.json").read_text())
    assert results["frameworks"] == ["nnrun"] and results["models"][0]["model"] == "mlp"
    assert "mlp (batch 100)" in result.stdout
    assert results["command"].startswith("nnrun bench --models mlp")


def test_cli_rejects_an_unknown_model(cli):
    result = cli("bench", "--models", "mlp,resnet", "--no-torch")
    assert result.returncode == 2
    assert "resnet" in result.stderr and "cnn7" in result.stderr


@pytest.mark.slow
def test_first_batch_cold_and_warm():
    timing = first_batch("mlp", threads=1, synthetic=True, warm_repeats=1)
    assert timing["cold_seconds"] > timing["cold_jit_seconds"] > 0
    assert 0 < timing["warm_seconds"] < timing["cold_seconds"]
