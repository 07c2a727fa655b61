"""The benchmark harness runs end to end on a tiny size and reports a well-formed table and JSON (no speed asserted)."""

from __future__ import annotations

import io
import json
import math
import sys

import numpy as np
import pytest

from nnrun import bench
from nnrun.bench.models import IMAGE_SHAPE, SYNTHETIC
from nnrun.bench.table import footnotes, rows
from nnrun.bench.timing import first_batch


@pytest.fixture(scope="module")
def tiny():
    """The largest model, 2 timed batches, one repetition, synthetic images, torch and jax when importable."""
    return bench.run(["cnn7"], reps=1, batches=2, warmup=1, synthetic=True, startup=False, peak_size=256, triad_mb=8)


def test_results_are_complete_and_json_ready(tiny):
    results = json.loads(json.dumps(tiny))
    assert results["extrapolated"] is True and results["batches"] == 2 and results["data"] == SYNTHETIC
    assert results["sgemm_peak_gflops"] > 0 and results["bandwidth_gbs"] > 0 and results["triad_mb"] == 8
    assert [row["model"] for row in results["models"]] == ["cnn7"]
    for row in results["models"]:
        assert row["steps_per_epoch"] == math.ceil(60000 / row["batch_size"])
        assert row["train_flops_per_epoch"] == 3 * row["forward_flops_per_example"] * 60000
        line = row["roofline"]
        assert line["seconds_per_epoch"] == pytest.approx(row["steps_per_epoch"] * line["seconds_per_step"])
        assert line["seconds_per_step"] == pytest.approx(sum(op["seconds"] for op in line["ops"]))
        for fw in results["frameworks"]:
            cell = row[fw]
            assert len(cell["reps"]) == 1 and cell["seconds_per_epoch"] > 0
            assert cell["gflops"] > 0 and cell["rss_mb"] > 50
            share = line["seconds_per_epoch"] / cell["seconds_per_epoch"]
            assert cell["roofline_percent"] == pytest.approx(100 * share)
        assert set(row["ratios"]) == set(results["frameworks"][1:])
        for fw, ratio in row["ratios"].items():
            assert ratio == pytest.approx(row["nnrun"]["seconds_per_epoch"] / row[fw]["seconds_per_epoch"])
        if "torch" in results["frameworks"]:
            assert row["ratio"] == row["ratios"]["torch"]
        if "jax" in results["frameworks"]:
            assert row["jax"]["compile_seconds"] > 0 and row["jax"]["versions"]["nproc"] == str(results["threads"])


def test_table_and_markdown_list_every_model(tiny):
    from rich.console import Console

    out = io.StringIO()
    bench.report(tiny, Console(file=out, width=200))
    text = out.getvalue()
    assert "cnn7 (batch 50)" in text and "nnrun/torch" in text
    assert "extrapolated" in text and "cnn7 roofline" in text and "memory bandwidth" in text
    lines = bench.markdown(tiny).splitlines()
    assert lines[0].startswith("| model |") and lines[1].startswith("|---|")
    assert f"| % of roofline, {' / '.join(tiny['frameworks'])} |" in lines[0] and "| roofline s/epoch |" in lines[0]
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


def test_jax_models_match_nnrun_parameter_counts():
    jax = pytest.importorskip("jax")
    pytest.importorskip("optax")
    from nnrun.bench import jax_models
    from nnrun.model import Sequential

    for name, model in bench.MODELS.items():
        network = jax_models.build(model["layers"], model["input_shape"], IMAGE_SHAPE)
        ours = Sequential.from_config({"input_shape": model["input_shape"], "layers": model["layers"]})
        shapes = jax.eval_shape(network.init, jax.random.PRNGKey(0))  # no weights drawn
        assert jax_models.num_params(shapes) == ours.num_params(), name


@pytest.mark.parametrize("name", ["mlp", "cnn7"])
def test_jax_train_step_lowers_the_loss(name):
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    from nnrun.bench import jax_models

    model = bench.MODELS[name]
    network = jax_models.build(model["layers"], model["input_shape"], IMAGE_SHAPE)
    params = network.init(jax.random.PRNGKey(0))
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)
    step = jax_models.train_step(network, optimizer)
    rng = np.random.default_rng(0)
    x = rng.random((8, *IMAGE_SHAPE), dtype=np.float32)
    y = rng.integers(0, 10, 8).astype(np.int32)
    losses = []
    for i in range(5):
        params, opt_state, loss = step(params, opt_state, x, y, np.array([0, i], np.uint32))
        losses.append(float(loss))
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(lambda leaf: leaf.dtype == np.float32, params))


def test_a_missing_framework_is_reported_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` now fails, as where it is not installed
    results = bench.run(["mlp"], frameworks=["nnrun", "jax"], reps=1, batches=1, warmup=0, synthetic=True,
                        startup=False, peak_size=64, triad_mb=1)  # fmt: skip
    assert results["frameworks"] == ["nnrun"] and "jax" not in results["models"][0]
    assert "nnrun[bench]" in results["not_installed"]["jax"]
    header, body = rows(results)
    assert header == ["model", "nnrun s/epoch", "jax s/epoch", "roofline s/epoch", "nnrun/jax",
                      "nnrun GFLOP/s (% peak)", "jax GFLOP/s (% peak)", "% of roofline, nnrun / jax", "nnrun RSS MB",
                      "jax RSS MB"]  # fmt: skip
    assert body[0][2] == "not installed" and body[0][4] == "–" and body[0][7].endswith(" / –")
    assert body[0][3] != "–"
    assert any("jax: not installed" in line for line in footnotes(results))
    from rich.console import Console

    out = io.StringIO()
    bench.report(results, Console(file=out, width=200))
    assert "not installed" in out.getvalue() and "pip install 'nnrun[bench]'" in out.getvalue()


def test_cli_times_nnrun_beside_jax(cli, tmp_path):
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    result = cli("bench", "--models", "mlp", "--batches", "3", "--reps", "1", "--warmup", "1", "--frameworks",
                 "nnrun,jax", "--synthetic", "--no-startup", "--peak-size", "256", "--triad-mb", "8", "--json",
                 "out.json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "out.json").read_text())
    assert results["frameworks"] == ["nnrun", "jax"] and results["not_installed"] == {}
    row = results["models"][0]
    assert row["jax"]["seconds_per_epoch"] > 0 and row["ratios"]["jax"] > 0 and row["ratio"] is None
    assert results["versions"]["jax"]["xla_pool_threads"] in (None, results["threads"])
    assert "jax s/epoch" in result.stdout and "nnrun/jax" in result.stdout and "torch" not in result.stdout


def test_cli_writes_json(cli, tmp_path):
    result = cli("bench", "--models", "mlp", "--batches", "2", "--reps", "1", "--warmup", "0", "--no-torch",
                 "--synthetic", "--no-startup", "--peak-size", "256", "--triad-mb", "8", "--json", "out.json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "out.json").read_text())
    assert results["frameworks"] == ["nnrun"] and results["models"][0]["model"] == "mlp"
    assert results["triad_mb"] == 8 and results["models"][0]["nnrun"]["roofline_percent"] > 0
    assert "mlp (batch 100)" in result.stdout
    assert results["command"].startswith("nnrun bench --models mlp")


def test_cli_rejects_an_unknown_model(cli):
    result = cli("bench", "--models", "mlp,resnet", "--no-torch")
    assert result.returncode == 2
    assert "resnet" in result.stderr and "cnn7" in result.stderr


def test_cli_rejects_an_unknown_framework_and_one_without_nnrun(cli):
    result = cli("bench", "--models", "mlp", "--frameworks", "nnrun,mxnet")
    assert result.returncode == 2 and "mxnet" in result.stderr and "jax" in result.stderr
    result = cli("bench", "--models", "mlp", "--frameworks", "torch,jax")
    assert result.returncode == 2 and "no nnrun" in result.stderr


@pytest.mark.slow
def test_first_batch_cold_warm_and_primed():
    timing = first_batch("mlp", threads=1, synthetic=True, warm_repeats=1)
    assert timing["cold_seconds"] > timing["cold_jit_seconds"] > 0
    assert 0 < timing["warm_seconds"] < timing["cold_seconds"]
    assert timing["compile_seconds"] > 0
    assert 0 < timing["primed_jit_seconds"] < timing["cold_jit_seconds"]  # nnrun compile left nothing to compile
