"""The backward shortcuts: no input gradient for the data (Sequential.backward(input_grad=False)), and the
conv2d input gradient computed as a gathering convolution instead of col2im."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.gradcheck import TOLERANCE, check_layer
from nnrun.layers.base import BuildContext
from nnrun.layers.conv import Conv2D
from nnrun.layers.dense import Dense
from nnrun.losses import SoftmaxCrossEntropy
from nnrun.model import Sequential

CONV = {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"}
NETWORKS = {
    "dense first": ([6], [{"type": "dense", "units": 5}, {"type": "relu"}, {"type": "dense", "units": 3}]),
    "flatten first": ([2, 3, 3], [{"type": "flatten"}, {"type": "dense", "units": 3}]),
    "conv first": (
        [2, 6, 6],
        [CONV, {"type": "relu"}, {"type": "maxpool2d"}, {"type": "flatten"}, {"type": "dense", "units": 3}],
    ),  # fmt: skip
    "relu, then conv": ([2, 5, 5], [{"type": "relu"}, CONV, {"type": "flatten"}, {"type": "dense", "units": 3}]),
}


def context(dtype=np.float64) -> BuildContext:
    return BuildContext(dtype=dtype, init_rng=np.random.default_rng(0), noise_rng=np.random.default_rng(1))


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_no_input_grad_gives_the_same_param_grads(name):
    input_shape, layers = NETWORKS[name]
    model = Sequential.from_config({"input_shape": input_shape, "layers": layers}, dtype="float64")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, *input_shape))
    _, dlogits = SoftmaxCrossEntropy().value_and_grad(model.forward(x, train=True), rng.integers(0, 3, 4))
    params = model.params()

    dx = model.backward(dlogits.copy())
    expected = [p.grad.copy() for p in params]
    assert dx.shape == x.shape
    assert model.backward(dlogits.copy(), input_grad=False) is None
    for p, grad in zip(params, expected):
        np.testing.assert_array_equal(p.grad, grad, err_msg=p.key)
    # the first trained layer computes dx again when asked
    np.testing.assert_array_equal(model.backward(dlogits.copy()), dx)


def test_layers_before_the_first_trained_one_are_skipped():
    model = Sequential.from_config(
        {"input_shape": NETWORKS["flatten first"][0], "layers": NETWORKS["flatten first"][1]}
    )
    model.forward(np.ones((2, 2, 3, 3), np.float32), train=True)
    model.layers[0].backward = lambda dy: pytest.fail("flatten.backward ran")
    assert model.backward(np.ones((2, 3), np.float32), input_grad=False) is None


def test_model_without_params():
    model = Sequential.from_config({"input_shape": [3], "layers": [{"type": "relu"}]})
    model.forward(np.ones((2, 3), np.float32), train=True)
    assert model.backward(np.ones((2, 3), np.float32), input_grad=False) is None


@pytest.mark.parametrize("layer", [Dense(3), Conv2D(3, 2, padding="same")], ids=["dense", "conv2d"])
def test_layer_without_input_grad_returns_none(layer):
    shape = (5,) if isinstance(layer, Dense) else (2, 4, 4)
    layer.build(shape, context())
    x = np.random.default_rng(3).standard_normal((2, *shape))
    dy = np.random.default_rng(4).standard_normal((2, *layer.output_shape))
    layer.forward(x, train=True)
    layer.backward(dy)
    expected = {k: g.copy() for k, g in layer.grads.items()}
    layer.needs_input_grad = False
    assert layer.backward(dy) is None
    for key, grad in expected.items():
        np.testing.assert_array_equal(layer.grads[key], grad)


# (input_shape, filters, kernel, padding): F < C and stride 1, where dx is a gathering convolution
GATHER_CASES = [
    ((4, 6, 6), 2, 3, "same"),
    ((3, 7, 6), 2, 4, "same"),  # even kernel: one more zero after than before
    ((5, 6, 7), 3, [3, 2], "valid"),
    ((3, 5, 5), 1, 3, [2, 1]),  # padding as large as the kernel allows (kernel - 1)
    ((5, 7, 7), 3, 5, "same"),
]
GATHER_IDS = [f"{c[0][0]}to{c[1]}-k{c[2]}-{c[3]}" for c in GATHER_CASES]


def gather_layer(case, dtype=np.float64) -> Conv2D:
    input_shape, filters, kernel, padding = case
    layer = Conv2D(filters, kernel, padding=padding, weight_init="he_normal")
    layer.build(input_shape, context(dtype))
    layer.params["bias"][...] = np.random.default_rng(5).standard_normal(filters)
    return layer


@pytest.mark.parametrize("case", GATHER_CASES, ids=GATHER_IDS)
def test_gather_path_is_taken_and_matches_col2im(case, monkeypatch):
    layer = gather_layer(case)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, *case[0]))
    dy = rng.standard_normal((3, *layer.output_shape))
    layer.forward(x, train=True)
    expected = layer._input_grad_col2im(np.ascontiguousarray(dy).reshape(3, case[1], -1))
    monkeypatch.setattr(layer, "_input_grad_col2im", lambda dy: pytest.fail("col2im path taken"))
    np.testing.assert_allclose(layer.backward(dy), expected, rtol=1e-12, atol=1e-12)


def test_gather_path_is_not_taken_with_a_stride_or_more_filters(monkeypatch):
    for filters, stride in ((2, 2), (4, 1)):
        layer = Conv2D(filters, 3, stride=stride, padding="same")
        layer.build((3, 6, 6), context())
        monkeypatch.setattr(layer, "_input_grad_as_conv", lambda dy: pytest.fail("gather path taken"))
        layer.forward(np.ones((2, 3, 6, 6)), train=True)
        assert layer.backward(np.ones((2, *layer.output_shape))).shape == (2, 3, 6, 6)


@pytest.mark.parametrize("case", GATHER_CASES, ids=GATHER_IDS)
def test_gather_path_gradients(case):
    layer = gather_layer(case)
    x = np.random.default_rng(7).standard_normal((2, *case[0]))
    for result in check_layer(layer, x):
        assert result.max_rel_error <= TOLERANCE, result


@pytest.mark.parametrize("chunk", [1, 1 << 18])
def test_gather_path_in_chunks(chunk, monkeypatch):
    from nnrun.layers import conv as conv_module

    layer = gather_layer(GATHER_CASES[4])
    x = np.random.default_rng(8).standard_normal((5, *GATHER_CASES[4][0]))
    dy = np.random.default_rng(9).standard_normal((5, *layer.output_shape))
    layer.forward(x, train=True)
    expected = layer._input_grad_col2im(dy.reshape(5, layer.filters, -1))
    monkeypatch.setattr(conv_module, "CHUNK_ELEMENTS", chunk)  # 1: one example at a time
    np.testing.assert_allclose(layer.backward(dy), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("case", GATHER_CASES, ids=GATHER_IDS)
def test_gather_path_matches_torch(case):
    torch = pytest.importorskip("torch")
    layer = gather_layer(case, np.float32)
    top, bottom, left, right = layer._pads
    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, *case[0])).astype(np.float32)
    y = layer.forward(x, train=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    padded = torch.nn.functional.pad(tx, (left, right, top, bottom))
    ty = torch.nn.functional.conv2d(padded, torch.tensor(layer.params["weight"]), torch.tensor(layer.params["bias"]))
    ty.backward(torch.tensor(dy))
    theirs = tx.grad.numpy()
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, theirs, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(theirs).max())))
