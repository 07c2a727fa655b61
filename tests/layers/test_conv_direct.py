"""Conv2D's direct stride-1 path: its numba kernels (nnrun/kernels/direct.py) against short NumPy references,
when the layer takes it, and the layer against the unfolded path, numerical gradients, chunked batches, thread
counts and PyTorch."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from nnrun.checks.gradcheck import TOLERANCE, check_layer
from nnrun.kernels import direct
from nnrun.layers import conv_direct
from nnrun.layers.conv import Conv2D
from tests.helpers import assert_close
from tests.helpers.layers import build_context

# --- the kernels against NumPy references ------------------------------------------------------------------


def to_planes_reference(x, top, left, width, plane, planes):
    n, channels, height, cols = x.shape
    index = (
        np.arange(channels)[:, None, None] * plane
        + (top + np.arange(height))[:, None] * width
        + left
        + np.arange(cols)
    )  # fmt: skip
    out = planes.copy()
    out[:, index.reshape(-1)] = x.reshape(n, -1)
    return out


def windows(planes, offsets, width, out_h, out_w):
    """(N, R, OH, OW) float64: windows[n, r, oh, ow] = planes[n, offsets[r] + oh*width + ow]."""
    positions = (np.arange(out_h)[:, None] * width + np.arange(out_w)).reshape(-1)
    picked = planes.astype(np.float64)[:, offsets.astype(np.int64)[:, None] + positions]
    return picked.reshape(planes.shape[0], len(offsets), out_h, out_w)


# (top, left, width, plane) for x: (2, 3, 4, 5): a bordered layout, and one without a border
TO_PLANES_CASES = [(1, 2, 8, 6 * 8 + 5), (0, 0, 5, 20)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", TO_PLANES_CASES, ids=["bordered", "unbordered"])
def test_to_planes_writes_only_the_image(geometry, dtype):
    top, left, width, plane = geometry
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(dtype)
    planes = np.full((2, 3 * plane), 7.0, dtype)  # a sentinel: every other position must keep it
    expected = to_planes_reference(x, top, left, width, plane, planes)
    direct.to_planes(x, top, left, width, plane, planes)
    np.testing.assert_array_equal(planes, expected)
    assert np.count_nonzero(planes != 7.0) == x.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channels_last_round_trip(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 3, 7)).astype(dtype)
    padded = np.full((2, 3, 14, 16), 7.0, dtype)  # 14 columns for 7, 16 channels for 5: the rest untouched
    direct.to_channels_last(x, padded)
    np.testing.assert_array_equal(padded[:, :, :7, :5], x.transpose(0, 2, 3, 1))
    assert np.count_nonzero(padded != 7.0) <= x.size and np.all(padded[:, :, 7:] == 7.0)
    bias = rng.standard_normal(16).astype(dtype)
    back = np.full(x.shape, np.nan, dtype)
    direct.from_channels_last(padded, bias, back)
    np.testing.assert_array_equal(back, x + bias[:5, None, None])


# Every correlation kernel, whichever this machine's layers use: (kernel, output pixels per block, lanes)
FORWARD_KERNELS = {
    "14x16": (direct.correlate, direct.PIXELS, direct.LANES),
    "7x32": (direct.correlate_wide, 7, 2 * direct.LANES),
    "5x16": (direct.correlate_narrow, direct.NARROW_PIXELS, direct.LANES),
}
# (kernel, taps per block, lanes) of every weight-gradient kernel
WEIGHT_KERNELS = {
    "14x16": (direct.correlate_weights, direct.TAPS, direct.LANES),
    "7x32": (direct.correlate_weights_wide, direct.WIDE_TAPS, 2 * direct.LANES),
    "6x16": (direct.correlate_weights_narrow, direct.NARROW_TAPS, direct.LANES),
}

# (examples, taps, vectors of filters, output rows, blocks of output columns)
CORRELATE_CASES = [(1, 1, 1, 1, 1), (3, 27, 2, 2, 2), (2, 50, 1, 3, 4)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", CORRELATE_CASES, ids=["1-tap", "27-taps-2-vectors", "50-taps-4-blocks"])
@pytest.mark.parametrize("name", FORWARD_KERNELS)
def test_correlate_matches_reference(shape, dtype, name):
    kernel, pixels, lanes = FORWARD_KERNELS[name]
    n, taps, vectors, out_h, blocks = shape
    filters, out_w = vectors * lanes, blocks * pixels
    width = out_w + 3
    reach = (out_h - 1) * width + out_w  # floats one tap reads
    rng = np.random.default_rng(3)
    planes = rng.standard_normal((n, 300 + reach)).astype(dtype)
    weight_t = rng.standard_normal((taps, filters)).astype(dtype)
    offsets = rng.integers(0, planes.shape[1] - reach + 1, taps).astype(np.int64)
    offsets[0] = planes.shape[1] - reach  # the last read is the plane's last float
    out = np.full((n, out_h, out_w, filters), np.nan, dtype)
    kernel(planes, weight_t, offsets, width, out)
    expected = np.einsum("nrhw,rf->nhwf", windows(planes, offsets, width, out_h, out_w), weight_t.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-13
    assert_close(out, expected, tol, "out")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2, 7])
@pytest.mark.parametrize(
    "shape", [(1, 1, 1, 1, 3), (3, 3, 2, 2, 5), (11, 1, 1, 3, 4)], ids=["one-block", "3-blocks", "11-examples"]
)
@pytest.mark.parametrize("name", WEIGHT_KERNELS)
def test_correlate_weights_matches_reference(shape, threads, dtype, name):
    # shape: (examples, blocks of taps, vectors of filters, output rows, output columns). 11 examples: more
    # than one group of EXAMPLES; 7 "threads" split 1-3 tap blocks unevenly (some get none)
    kernel, block, lanes = WEIGHT_KERNELS[name]
    n, blocks, vectors, out_h, out_w = shape
    taps, filters = blocks * block, vectors * lanes
    width = out_w + 2
    reach = (out_h - 1) * width + out_w
    rng = np.random.default_rng(4)
    planes = rng.standard_normal((n, 200 + reach)).astype(dtype)
    grads = rng.standard_normal((n, out_h, out_w, filters)).astype(dtype)
    offsets = rng.integers(0, planes.shape[1] - reach + 1, taps).astype(np.uint64)
    offsets[-1] = planes.shape[1] - reach
    start = rng.standard_normal((taps, filters)).astype(dtype)
    out = start.copy()
    kernel(planes, grads, offsets, width, out, threads)  # adds to what out holds
    products = np.einsum("nrhw,nhwf->rf", windows(planes, offsets, width, out_h, out_w), grads.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-13
    assert_close(out, start + products, tol, "out")


@pytest.mark.parametrize("lanes", [16, 32, 48, 64])
def test_machine_kernels_fit_their_blocks(lanes):
    # the layer pads rows to ROW_PIXELS and tap lists to the weight kernel's block: the kernels it picks for
    # this machine must divide them, and take `lanes` channels
    forward = direct.forward_kernel(lanes)
    ((pixels, forward_lanes),) = [(p, k_lanes) for k, p, k_lanes in FORWARD_KERNELS.values() if k is forward]
    assert direct.ROW_PIXELS % pixels == 0 and lanes % forward_lanes == 0
    weights, taps = direct.weight_kernel(lanes)
    ((block, weight_lanes),) = [(b, k_lanes) for k, b, k_lanes in WEIGHT_KERNELS.values() if k is weights]
    assert taps == block and lanes % weight_lanes == 0
    assert (forward is direct.correlate_narrow) is not direct.WIDE_VECTORS


@pytest.mark.parametrize(
    "features, expected",
    [("+avx2,+fma,+avx512f,+avx512bw", True), ("+avx2,+fma,-avx512f", False), ("+neon", False)],
)
def test_wide_vectors_follow_the_features_numba_compiles_for(features, expected, monkeypatch):
    # NUMBA_CPU_FEATURES (numba.config.CPU_FEATURES) overrides the host's features in numba's code
    # generation, and so in the choice of register blocks
    monkeypatch.setattr(numba.config, "CPU_FEATURES", features)
    assert direct._has_avx512() is expected


# --- which path a layer takes ----------------------------------------------------------------------------------

# (input_shape, kernel, stride, padding, direct)
PATH_CASES = [
    ((2, 7, 6), 3, 1, "valid", True),
    ((2, 7, 6), 3, 1, "same", True),
    ((2, 7, 6), 4, 1, "same", True),  # even kernel: pads (1, 2)
    ((1, 28, 28), 10, 1, "same", True),  # pads (4, 5)
    ((1, 3, 3), 5, 1, "same", True),  # kernel larger than the input: pads (2, 2)
    ((2, 7, 6), 3, 1, 1, True),
    ((2, 7, 6), 3, 1, 2, True),  # padding kernel - 1
    ((2, 7, 6), [3, 2], 1, [2, 1], True),
    ((2, 7, 6), 3, 2, "same", False),
    ((2, 7, 6), 3, [1, 2], "valid", False),
    ((2, 7, 6), 3, 1, 3, False),  # padding as large as the kernel
    ((2, 7, 6), [3, 2], 1, [0, 2], False),  # width padding as large as the kernel's width
    ((2, 7, 6), 1, 1, 1, False),
]


@pytest.mark.parametrize("case", PATH_CASES, ids=[f"k{c[1]}-s{c[2]}-{c[3]}" for c in PATH_CASES])
def test_path_choice(case):
    input_shape, kernel, stride, padding, expected = case
    layer = Conv2D(3, kernel, stride=stride, padding=padding)
    layer.build(input_shape, build_context())
    assert (layer.engine is layer.direct) is expected


# --- the layer on its direct path -----------------------------------------------------------------------------

# (input_shape, filters, kernel, padding, use_bias), all stride 1 and so on the direct path
DIRECT_CASES = [
    ((1, 12, 12), 4, 10, "same", True),  # one channel, even kernel nearly as large as the image
    ((4, 7, 7), 3, 3, "same", True),
    ((3, 8, 9), 5, 3, 1, True),
    ((6, 9, 7), 6, [3, 2], [2, 1], True),
    ((5, 10, 8), 8, 3, "valid", True),
    ((2, 3, 4), 4, 5, "same", True),  # kernel larger than the input
    ((3, 6, 6), 5, 4, "same", False),
    ((2, 14, 14), 9, 5, "same", True),
    ((3, 7, 9), 20, 3, "same", True),  # 32 lanes of filters: the 7 x 32 kernels on AVX-512
]


def case_id(case) -> str:
    return f"{case[0][0]}to{case[1]}-k{case[2]}-{case[3]}{'' if case[4] else '-nobias'}"


DIRECT_IDS = [case_id(c) for c in DIRECT_CASES]


def build_layer(case, dtype=np.float64) -> Conv2D:
    input_shape, filters, kernel, padding, use_bias = case
    layer = Conv2D(filters, kernel, padding=padding, use_bias=use_bias, weight_init="he_normal")
    layer.build(input_shape, build_context(dtype))
    assert layer.engine is layer.direct
    if use_bias:  # a zero bias would not test the bias path of forward
        layer.params["bias"][...] = np.random.default_rng(4).standard_normal(filters)
    return layer


def forward_backward(layer: Conv2D, x: np.ndarray, dy: np.ndarray):
    """y, dx and a copy of the grads from a training forward and a backward."""
    y = layer.forward(x, train=True)
    dx = layer.backward(dy)
    return y, dx, {key: grad.copy() for key, grad in layer.grads.items()}


def random_batch(layer: Conv2D, n: int, seed: int, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *layer.input_shape)).astype(dtype)
    dy = rng.standard_normal((n, *layer.output_shape)).astype(dtype)
    return x, dy


@pytest.fixture(params=[True, False], ids=["avx512-blocks", "avx2-blocks"])
def machine_blocks(request, monkeypatch):
    """Run the layer with either machine's kernels, whatever this machine is (slower, never wrong)."""
    wide = request.param
    monkeypatch.setattr(direct, "WIDE_VECTORS", wide)
    monkeypatch.setattr(direct, "ROW_PIXELS", direct.PIXELS if wide else direct.NARROW_PIXELS)
    return wide


@pytest.mark.parametrize("case", DIRECT_CASES, ids=DIRECT_IDS)
def test_direct_matches_unfolded(case, machine_blocks):
    layer = build_layer(case)
    assert (layer.direct.correlate is direct.correlate_narrow) is not machine_blocks
    assert layer.direct.fwd.out_cols % direct.ROW_PIXELS == 0 and layer.direct.fwd.pixels == direct.ROW_PIXELS
    x, dy = random_batch(layer, 3, 5)
    y, dx, grads = forward_backward(layer, x, dy)
    assert "planes" in layer.direct.scratch and "cols" not in layer.im2col.scratch
    # the same layer and weights on the im2col path, which needs only what build always sets up
    layer.engine = layer.im2col
    y_unfolded, dx_unfolded, grads_unfolded = forward_backward(layer, x, dy)
    assert "cols" in layer.im2col.scratch
    assert_close(y, y_unfolded, 1e-12, "y")
    assert_close(dx, dx_unfolded, 1e-12, "dx")
    assert grads.keys() == grads_unfolded.keys() == layer.params.keys()
    for key, grad in grads.items():
        assert_close(grad, grads_unfolded[key], 1e-12, key)


# smaller than DIRECT_CASES: central differences on a larger image lose more to round-off (6x9x7 -> 6 filters
# of [3, 2]: 1.9e-6 on either path)
GRADIENT_CASES = [
    ((6, 5, 5), 3, 3, "same", True),  # 5 or more channels: the direct input gradient
    ((5, 4, 6), 5, [3, 2], [2, 1], False),
    ((4, 5, 5), 3, 3, "same", True),
    ((3, 5, 6), 5, [3, 2], [2, 1], True),
    ((1, 6, 6), 2, 6, "same", True),
    ((2, 3, 4), 4, 5, "same", True),
    ((3, 6, 6), 5, 4, "same", False),
]


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[case_id(c) for c in GRADIENT_CASES])
def test_direct_gradients(case):
    layer = build_layer(case)
    x = np.random.default_rng(6).standard_normal((2, *case[0]))
    results = check_layer(layer, x)
    assert {r.param for r in results} == {"input", *layer.params}
    for result in results:
        assert result.max_rel_error <= TOLERANCE, result


@pytest.mark.parametrize("case", [DIRECT_CASES[2], DIRECT_CASES[3]], ids=[DIRECT_IDS[2], DIRECT_IDS[3]])
def test_one_example_per_chunk_matches_one_pass(case, monkeypatch):
    layer = build_layer(case)
    x, dy = random_batch(layer, 5, 7)
    y_eval = layer.forward(x, train=False)
    y, dx, grads = forward_backward(layer, x, dy)
    monkeypatch.setattr(conv_direct, "DIRECT_ELEMENTS", 1)
    assert layer.direct.chunk(5, 1) == 1
    assert_close(layer.forward(x, train=False), y_eval, 1e-13, "y (eval)")
    y_chunked, dx_chunked, grads_chunked = forward_backward(layer, x, dy)
    assert_close(y_chunked, y, 1e-13, "y")
    assert_close(dx_chunked, dx, 1e-13, "dx")
    for key, grad in grads.items():
        assert_close(grads_chunked[key], grad, 1e-13, key)


@pytest.mark.parametrize(
    "threads, cap, expected",
    [(2, 9, 10), (1, 9, 9), (2, 12, 10), (2, 60, 50), (2, 1, 1), (2, 2, 2), (3, 9, 9)],
)
def test_direct_chunks_are_even_and_fill_the_threads(threads, cap, expected, monkeypatch):
    # a batch of 50 with room for `cap` examples a chunk: equal chunks near the cap, a multiple of the
    # thread count once larger than it
    layer = build_layer(DIRECT_CASES[2])
    monkeypatch.setattr(conv_direct, "DIRECT_ELEMENTS", cap)
    monkeypatch.setattr(conv_direct.numba, "get_num_threads", lambda: threads)
    assert layer.direct.chunk(50, 1) == expected


@pytest.mark.parametrize("other_batch", [4, 6], ids=["same-size", "other-size"])
def test_eval_forward_between_forward_and_backward(other_batch):
    # backward must use the training batch's planes, even after an evaluation forward of another batch
    layer = build_layer(DIRECT_CASES[2])
    x, dy = random_batch(layer, 4, 8)
    other, _ = random_batch(layer, other_batch, 9)
    _, dx, grads = forward_backward(layer, x, dy)
    layer.forward(x, train=True)
    y_other = layer.forward(other, train=False)
    np.testing.assert_array_equal(layer.backward(dy), dx)
    for key, grad in grads.items():
        np.testing.assert_array_equal(layer.grads[key], grad, err_msg=key)
    # and the evaluation forward was itself right
    assert_close(y_other, layer.forward(other, train=True), 1e-13, "y (eval)")


@pytest.mark.parametrize("before", ["eval-forward-only", "unfolded-training-forward"])
def test_backward_without_a_training_forward_raises(before):
    layer = build_layer(DIRECT_CASES[1])
    x, dy = random_batch(layer, 2, 10)
    if before == "eval-forward-only":
        layer.forward(x, train=False)
    else:  # self.x is this batch, but the direct path's planes are not
        layer.engine = layer.im2col
        layer.forward(x, train=True)
        layer.engine = layer.direct
    with pytest.raises(RuntimeError, match="backward without a forward"):
        layer.backward(dy)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has only one thread")
@pytest.mark.parametrize("case", [DIRECT_CASES[3], DIRECT_CASES[7]], ids=[DIRECT_IDS[3], DIRECT_IDS[7]])
def test_results_do_not_depend_on_thread_count(case):
    layer = build_layer(case, np.float32)
    x, dy = random_batch(layer, 4, 11, np.float32)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        y1, dx1, grads1 = forward_backward(layer, x, dy)
        numba.set_num_threads(2)
        y2, dx2, grads2 = forward_backward(layer, x, dy)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(dx1, dx2)
    for key, grad in grads1.items():
        np.testing.assert_array_equal(grad, grads2[key], err_msg=key)


# the benchmark's direct layers at a small batch, then smaller shapes with odd channel counts and paddings
TORCH_CASES = [
    ((1, 28, 28), 32, 10, "same", True),
    ((32, 14, 14), 16, 5, "same", True),
    DIRECT_CASES[1],
    DIRECT_CASES[3],
    DIRECT_CASES[5],
    DIRECT_CASES[6],
]


@pytest.mark.torch
@pytest.mark.parametrize("case", TORCH_CASES, ids=[case_id(c) for c in TORCH_CASES])
def test_direct_matches_torch(case):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    layer = build_layer(case, np.float32)
    x, dy = random_batch(layer, 2, 12, np.float32)
    y, dx, grads = forward_backward(layer, x, dy)

    top, bottom, left, right = layer._pads
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.params["weight"], requires_grad=True)
    tb = torch.tensor(layer.params["bias"], requires_grad=True) if layer.use_bias else None
    ty = functional.conv2d(functional.pad(tx, (left, right, top, bottom)), tw, tb)
    ty.backward(torch.tensor(dy))
    assert y.dtype == dx.dtype == np.float32
    assert_close(y, ty.detach().numpy(), 1e-5, "y")
    assert_close(dx, tx.grad.numpy(), 1e-5, "dx")
    assert_close(grads["weight"], tw.grad.numpy(), 1e-5, "dweight")
    if layer.use_bias:
        assert_close(grads["bias"], tb.grad.numpy(), 1e-5, "dbias")


@pytest.mark.parametrize("channels", [1, 4, 5, 16])
def test_input_gradient_path_by_channel_count(channels, monkeypatch):
    # up to 4 input channels fill too few of the direct kernel's 16 lanes: col2im gives dx
    layer = build_layer(((channels, 6, 6), 3, 3, "same", True))
    assert layer.engine is layer.direct
    x, dy = random_batch(layer, 2, 12)
    layer.forward(x, train=True)
    col2im = layer.im2col.input_grad
    calls = []
    monkeypatch.setattr(layer.im2col, "input_grad", lambda d, w: calls.append(1) or col2im(d, w))
    dx = layer.backward(dy)
    assert dx.shape == x.shape
    assert calls == ([1] if channels <= 4 else [])
