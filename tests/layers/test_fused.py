"""Sequential's fused blocks (nnrun/layers/fused.py: conv2d -> relu -> maxpool2d, dense -> relu) give the
separate layers' results bit for bit: outputs, parameter gradients and input gradients, in train and eval mode."""

from __future__ import annotations

import numpy as np
import pytest

from nnrun.layers import conv_direct
from nnrun.layers.fused import BLOCKS, ConvPool, DenseReLU
from nnrun.losses import SoftmaxCrossEntropy
from nnrun.model import Sequential

RELU = {"type": "relu"}
POOL = {"type": "maxpool2d", "size": 2}


def conv(filters, kernel=3, **kwargs):
    return {"type": "conv2d", "filters": filters, "kernel": kernel, "padding": "same", **kwargs}


HEAD = [{"type": "flatten"}, {"type": "dense", "units": 4}]
NETWORKS = {
    "conv-relu-pool": ([1, 8, 8], [conv(6), RELU, POOL, *HEAD]),
    "conv-pool, no relu": ([2, 6, 7], [conv(5, 2), POOL, *HEAD]),
    "overlapping 3x3 stride 2": ([3, 9, 9], [conv(4), RELU, {"type": "maxpool2d", "size": 3, "stride": 2}, *HEAD]),
    "two blocks, 20 filters": ([1, 12, 12], [conv(20, 5), RELU, POOL, conv(6, 3), RELU, POOL, *HEAD]),
    "block after a dense-free conv": ([5, 8, 8], [conv(6), RELU, conv(7), RELU, POOL, *HEAD]),
    "dense-relu": ([12], [{"type": "dense", "units": 9}, RELU, {"type": "dense", "units": 4}]),
    "dense-relu twice, no bias": (
        [7],
        [{"type": "dense", "units": 6, "use_bias": False}, RELU, {"type": "dense", "units": 5}, RELU, *HEAD[1:]],
    ),
    "conv block, then dense-relu": (
        [1, 8, 8],
        [conv(6), RELU, POOL, {"type": "flatten"}, {"type": "dense", "units": 7}, RELU, *HEAD[1:]],
    ),
}


def model_pair(name, dtype):
    input_shape, layers = NETWORKS[name]
    config = {"input_shape": input_shape, "layers": layers}
    fused = Sequential.from_config(config, dtype=dtype, seed=3)
    separate = Sequential.from_config(config, dtype=dtype, seed=3)
    separate.set_fusion(False)
    for layer in fused.layers:  # a bias pushes some windows below 0 everywhere: relu and argmax corner cases
        if "bias" in layer.params:
            layer.params["bias"][...] = np.linspace(-0.5, 0.3, layer.params["bias"].size)
    for mine, theirs in zip(fused.params(), separate.params()):
        theirs.value[...] = mine.value
    return fused, separate


def run(model, x, labels, input_grad):
    logits = model.forward(x, train=True)
    _, dlogits = SoftmaxCrossEntropy().value_and_grad(logits, labels)
    dx = model.backward(dlogits, input_grad=input_grad)
    return logits, dx, [p.grad.copy() for p in model.params()]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("input_grad", [False, True], ids=["no-dx", "dx"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_fused_equals_separate_layers(name, input_grad, dtype):
    fused, separate = model_pair(name, dtype)
    assert any(isinstance(step, BLOCKS) for _, step in fused._steps)
    assert not any(isinstance(step, BLOCKS) for _, step in separate._steps)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, *fused.input_shape)).astype(dtype)
    labels = rng.integers(0, 4, 5)
    mine, theirs = run(fused, x, labels, input_grad), run(separate, x, labels, input_grad)
    np.testing.assert_array_equal(mine[0], theirs[0])
    if input_grad:
        np.testing.assert_array_equal(mine[1], theirs[1])
    else:
        assert mine[1] is None and theirs[1] is None
    for a, b, param in zip(mine[2], theirs[2], fused.params()):
        np.testing.assert_array_equal(a, b, err_msg=param.key)
    np.testing.assert_array_equal(fused.forward(x[:3], train=False), separate.forward(x[:3], train=False))


def test_fused_in_chunks_equals_one_pass(monkeypatch):
    fused, separate = model_pair("two blocks, 20 filters", "float64")
    x = np.random.default_rng(1).standard_normal((4, *fused.input_shape))
    labels = np.arange(4)
    expected = run(separate, x, labels, True)
    monkeypatch.setattr(conv_direct, "DIRECT_ELEMENTS", 1)  # one example at a time
    got = run(fused, x, labels, True)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    for a, b in zip(got[2], expected[2]):  # one example per chunk groups the weight gradient's sums otherwise
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_nan_input_gives_the_same_outputs():
    fused, separate = model_pair("conv-relu-pool", "float32")
    x = np.random.default_rng(2).standard_normal((2, *fused.input_shape)).astype(np.float32)
    x[0, 0, 3, 3] = np.nan
    np.testing.assert_array_equal(fused.forward(x, train=False), separate.forward(x, train=False))


@pytest.mark.parametrize(
    "layers, fused",
    [
        ([conv(4), RELU, POOL], [0]),
        ([conv(4), POOL], [0]),
        ([conv(4), {"type": "leaky_relu"}, POOL], []),  # only relu folds into the pool
        ([conv(4), RELU, {"type": "avgpool2d", "size": 2}], []),
        ([conv(4, stride=2), RELU, POOL], []),  # strided: the im2col path, not the direct one
        ([conv(4), {"type": "dropout", "rate": 0.5}, POOL], []),
        ([conv(4), RELU, conv(4), RELU, POOL], [2]),
    ],
)
def test_which_runs_are_fused(layers, fused):
    model = Sequential.from_config({"input_shape": [2, 8, 8], "layers": [*layers, *HEAD]})
    assert [start for start, step in model._steps if isinstance(step, ConvPool)] == fused
    covered = [layer for _, step in model._steps for layer in (step.layers if isinstance(step, ConvPool) else [step])]
    assert covered == model.layers  # every layer runs once, in order


@pytest.mark.parametrize(
    "layers, fused",
    [
        ([{"type": "dense", "units": 5}, RELU, {"type": "dense", "units": 3}], [0]),
        ([{"type": "dense", "units": 5}, {"type": "leaky_relu"}, {"type": "dense", "units": 3}], []),
        ([{"type": "dense", "units": 5}, {"type": "dropout", "rate": 0.5}, RELU, {"type": "dense", "units": 3}], []),
        (
            [{"type": "dense", "units": 5}, RELU, {"type": "dense", "units": 4}, RELU, {"type": "dense", "units": 3}],
            [0, 2],
        ),
        ([RELU, {"type": "dense", "units": 3}, RELU], [1]),
    ],
)
def test_which_dense_runs_are_fused(layers, fused):
    model = Sequential.from_config({"input_shape": [6], "layers": layers})
    assert [start for start, step in model._steps if isinstance(step, DenseReLU)] == fused
    covered = [layer for _, step in model._steps for layer in (step.layers if isinstance(step, BLOCKS) else [step])]
    assert covered == model.layers


def test_dense_relu_gives_nan_where_the_layers_do():
    fused, separate = model_pair("dense-relu", "float32")
    x = np.random.default_rng(4).standard_normal((3, 12)).astype(np.float32)
    x[1, 5] = np.nan  # every unit of row 1 is NaN, before the relu and after it
    np.testing.assert_array_equal(fused.forward(x, train=False), separate.forward(x, train=False))


# --- the fused pool kernel against the NCHW pool of the relu'd sums -----------------------------------------


def pool_cases(test):
    """The channels-last pool kernels' cases: both dtypes, relu or not, three windows, even and odd planes."""
    for mark in (
        pytest.mark.parametrize("height, width", [(6, 8), (7, 9)], ids=["even", "odd"]),
        pytest.mark.parametrize("window", [(2, 2, 2, 2), (3, 3, 2, 2), (2, 2, 1, 1)], ids=["2x2", "3x3-s2", "2x2-s1"]),
        pytest.mark.parametrize("relu", [True, False], ids=["relu", "no-relu"]),
        pytest.mark.parametrize("dtype", [np.float32, np.float64]),
    ):
        test = mark(test)
    return test


@pool_cases
def test_maxpool_channels_last_matches_the_nchw_pool(window, relu, dtype, height, width):
    # sums with padded columns and lanes (W' > width, F' > F), NaNs, ties and negatives: the fused kernel
    # must give maxpool_forward's y and argmax of relu(sums + bias) in NCHW, bit for bit
    from nnrun.kernels import pool as kernels

    kh, kw, sh, sw = window
    filters, lanes = 5, 16
    rng = np.random.default_rng(5)
    sums = rng.integers(-3, 4, (3, height, width + 3, lanes)).astype(dtype)  # small integers: many ties
    sums[0, 1, 1, 0] = sums[1, 4, 5, 2] = sums[2, 0, 0, 4] = np.nan
    bias = rng.integers(-1, 2, lanes).astype(dtype)
    nchw = (sums[:, :, :width, :filters] + bias[:filters]).transpose(0, 3, 1, 2).copy()
    if relu:
        nchw = np.where(nchw <= 0, 0, nchw).astype(dtype)  # relu(NaN) = NaN, as nnrun's relu
    out_shape = (3, filters, (height - kh) // sh + 1, (width - kw) // sw + 1)
    expected, expected_argmax = np.empty(out_shape, dtype), np.empty(out_shape, np.int64)
    kernels.maxpool_forward(nchw, kh, kw, sh, sw, expected, expected_argmax)
    y, argmax = np.full(out_shape, 9, dtype), np.full(out_shape, -1, np.int64)
    kernels.maxpool_channels_last(sums, bias, relu, width, kh, kw, sh, sw, y, argmax)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(argmax, expected_argmax)
    assert relu or np.isnan(y).any()


@pool_cases
def test_unpool_channels_last_matches_a_numpy_reference(window, relu, dtype, height, width):
    # the pooled gradient summed into each window's winner, channels-last, 0 everywhere else (odd rows and
    # columns no window covers, padded lanes), with relu's mask on y; bit for bit, a -0.0 dy giving +0.0
    from nnrun.kernels import pool as kernels

    kh, kw, sh, sw = window
    filters, lanes, n = 5, 16, 3
    rng = np.random.default_rng(6)
    x = rng.integers(-3, 4, (n, filters, height, width)).astype(dtype)
    out_shape = (n, filters, (height - kh) // sh + 1, (width - kw) // sw + 1)
    y, argmax = np.empty(out_shape, dtype), np.empty(out_shape, np.int64)
    kernels.maxpool_forward(x, kh, kw, sh, sw, y, argmax)
    y[0, 1, 0, 0] = np.nan  # passes relu's mask
    dy = rng.standard_normal(out_shape).astype(dtype)
    dy[1, 2, 1, 1] = -0.0
    expected = np.zeros((n, height * width, lanes), dtype)
    for b, f, oh, ow in np.ndindex(*out_shape):
        if not (relu and y[b, f, oh, ow] <= 0):
            expected[b, argmax[b, f, oh, ow], f] += dy[b, f, oh, ow]
    grads = np.full((n, height, width, lanes), 7, dtype)
    kernels.unpool_channels_last(dy, argmax, y, relu, grads)
    np.testing.assert_array_equal(grads.reshape(expected.shape), expected)
    assert not np.signbit(grads[grads == 0]).any()
