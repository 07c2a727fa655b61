"""The roofline's counts on small models against FLOPs and bytes worked out by hand, its sum, and the triad kernel."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.bench.bandwidth import triad, triad_bandwidth
from nnrun.bench.models import MODELS
from nnrun.bench.roofline import Op, roofline, step_ops
from nnrun.model import Sequential

F = 4  # bytes in a float32


def ops_of(input_shape, layers, batch_size):
    model = Sequential.from_config({"input_shape": input_shape, "layers": layers})
    return {op.name: (op.flops, op.bytes) for op in step_ops(model, batch_size)}


def test_dense_4_to_3_on_a_batch_of_2():
    ops = ops_of([4], [{"type": "dense", "units": 3}], batch_size=2)
    # forward: 2 examples x (4 x 3 multiply-adds x 2 + 3 bias adds); reads x (2x4), W (4x3), b (3), writes y (2x3)
    # weight grad: dW = x.T @ dy, db = dy summed: the same FLOPs; reads x and dy, writes dW and db
    # no input gradient: the layer's input is the data
    assert ops == {
        "dense 4->3 forward": (2 * (2 * 4 * 3 + 3), F * (8 + 12 + 3 + 6)),
        "softmax cross-entropy": (0, F * (6 + 6)),
        "dense 4->3 weight grad": (2 * (2 * 4 * 3 + 3), F * (8 + 6 + 12 + 3)),
        "adam": (0, 7 * F * 15),  # 15 parameters, 7 float32 streams each
    }


def test_a_tiny_cnn_on_a_batch_of_2():
    layers = [
        {"type": "conv2d", "filters": 2, "kernel": 3, "padding": "same"},  # 1x4x4 -> 2x4x4
        {"type": "relu"},
        {"type": "maxpool2d", "size": 2},  # -> 2x2x2
        {"type": "flatten"},  # -> 8, free
        {"type": "dense", "units": 3},
    ]
    ops = ops_of([1, 4, 4], layers, batch_size=2)
    x, y = 2 * 16, 2 * 32  # values into and out of the conv for the batch
    conv_flops = 2 * (2 * 1 * 9 * 2 * 16 + 2 * 16)  # 9 multiply-adds per output, 32 outputs, plus the bias
    assert list(ops) == [
        "conv2d 1->2 3x3 forward", "relu 2x4x4 forward", "maxpool2d 2x4x4 forward", "dense 8->3 forward",
        "softmax cross-entropy", "dense 8->3 weight grad", "dense 8->3 input grad", "maxpool2d 2x4x4 backward",
        "relu 2x4x4 backward", "conv2d 1->2 3x3 weight grad", "adam",
    ]  # fmt: skip
    assert ops["conv2d 1->2 3x3 forward"] == (conv_flops, F * (x + 18 + 2 + y))
    assert ops["conv2d 1->2 3x3 weight grad"] == (conv_flops, F * (x + y + 18 + 2))
    assert ops["relu 2x4x4 forward"] == (0, F * (y + y))
    assert ops["relu 2x4x4 backward"] == (0, F * (y + y + y))  # reads x and dy, writes dx
    assert ops["maxpool2d 2x4x4 forward"] == (0, F * (y + 16))
    assert ops["maxpool2d 2x4x4 backward"] == (0, F * (16 + y + y))  # reads dy and x (the winners), writes dx
    assert ops["dense 8->3 forward"] == (2 * (2 * 8 * 3 + 3), F * (16 + 24 + 3 + 6))
    assert ops["dense 8->3 weight grad"] == (2 * (2 * 8 * 3 + 3), F * (16 + 6 + 24 + 3))
    assert ops["dense 8->3 input grad"] == (2 * 2 * 8 * 3, F * (6 + 24 + 16))  # no bias; reads dy and W, writes dx
    assert ops["softmax cross-entropy"] == (0, F * (6 + 6))
    assert ops["adam"] == (0, 7 * F * (18 + 2 + 24 + 3))


def test_the_roofline_sums_each_ops_larger_time():
    ops = [Op("gemm", flops=100, bytes=10), Op("copy", flops=10, bytes=100), Op("relu", flops=0, bytes=50)]
    line = roofline(ops, peak_gflops=10e-9, bandwidth_gbs=10e-9)  # 10 FLOP/s and 10 bytes/s
    # the ops one at a time: 10 + 10 + 5 s; the totals alone (110 FLOPs, 160 bytes) would give 16 s
    assert line["seconds_per_step"] == pytest.approx(25)
    assert line["compute_bound_seconds"] == pytest.approx(10)
    assert line["memory_bound_seconds"] == pytest.approx(15)
    assert [op["bound"] for op in line["ops"]] == ["compute", "memory", "memory"]
    assert line["flops_per_step"] == 110 and line["bytes_per_step"] == 160


@pytest.mark.parametrize("name", MODELS)
def test_the_benchmark_models_have_a_roofline(name):
    spec = MODELS[name]
    model = Sequential.from_config({"input_shape": spec["input_shape"], "layers": spec["layers"]})
    line = roofline(step_ops(model, spec["batch_size"]), peak_gflops=100, bandwidth_gbs=10)
    assert line["ops"][-1] == {
        "op": "adam", "flops": 0, "bytes": 7 * F * model.num_params(), "seconds": 7 * F * model.num_params() / 10e9,
        "bound": "memory",
    }  # fmt: skip
    # every dense and conv2d: a forward and a weight gradient, and an input gradient but for the first
    products = [row["op"] for row in line["ops"] if row["op"].startswith(("dense", "conv2d"))]
    layers = sum(layer["type"] in ("dense", "conv2d") for layer in spec["layers"])
    assert len(products) == 3 * layers - 1


def test_a_layer_without_a_model_is_named():
    model = Sequential.from_config({"input_shape": [4], "layers": [{"type": "dense_stack", "units": [3, 2]}]})
    with pytest.raises(ValueError, match="dense_stack"):
        step_ops(model, 2)


def test_triad_matches_numpy():
    rng = np.random.default_rng(0)
    b, c = rng.standard_normal((2, 1001), dtype=np.float32)
    a = np.empty_like(b)
    triad(a, b, c, np.float32(3.0))
    np.testing.assert_allclose(a, b + np.float32(3.0) * c, rtol=1e-6)
    assert a.dtype == np.float32


def test_triad_bandwidth_runs_at_a_small_size():
    assert triad_bandwidth(threads=1, megabytes=1, repeats=2) > 0
