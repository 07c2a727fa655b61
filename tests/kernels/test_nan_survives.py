"""A NaN or an infinity gets through nnrun's compiled kernels to the loss, so that a diverged run stops (exit 3).

fastmath's `nnan` flag lets LLVM assume no NaN and fold away the comparisons that carry one (fastmath=True
includes it); a select such as `v if v > 0 else 0` drops a NaN without any flag. Both are checked here: the
flags the kernels are compiled with, and NaN and inf fed through the losses and the forward passes.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from numba.core.dispatcher import Dispatcher

import nnrun.kernels
from nnrun import losses
from nnrun.kernels import loss as loss_kernels
from nnrun.kernels.optim import sum_squares
from nnrun.model import Sequential
from tests.helpers import ROOT, small_config

# numpy's "invalid value" warnings are what these tests provoke
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
DTYPES = [np.float32, np.float64]
NAN_FLAGS = {"nnan", "fast"}  # LLVM's `fast` is every flag, nnan included


def kernels() -> dict[str, Dispatcher]:
    """Every numba dispatcher in nnrun/kernels, by module.name."""
    found = {}
    for info in pkgutil.iter_modules(nnrun.kernels.__path__):
        module = importlib.import_module(f"nnrun.kernels.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Dispatcher):
                found[f"{info.name}.{name}"] = value
    return found


def fastmath_flags(kernel) -> set[str]:
    flags = kernel.targetoptions.get("fastmath", False)
    if flags is True:
        return {"fast"}
    return set(flags or ())


def test_no_kernel_is_compiled_with_a_flag_that_assumes_no_nan():
    found = kernels()
    assert len(found) > 40, sorted(found)
    assert any(fastmath_flags(k) for k in found.values())  # direct.py's {"contract"}: the check sees flags
    offenders = {name: fastmath_flags(k) & NAN_FLAGS for name, k in found.items() if fastmath_flags(k) & NAN_FLAGS}
    assert not offenders


# --- NaN and inf through the losses -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_softmax_cross_entropy_kernel_gives_nan(dtype, bad):
    logits = np.zeros((3, 4), dtype)
    logits[1, 2] = bad
    dlogits = np.empty_like(logits)
    assert np.isnan(loss_kernels.softmax_cross_entropy(logits, np.array([0, 1, 2]), dlogits))
    assert np.isnan(dlogits[1]).any() and np.isfinite(dlogits[[0, 2]]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_kernel_gives_inf_for_a_label_at_minus_inf(dtype):
    logits = np.zeros((2, 3), dtype)
    logits[0, 1] = -np.inf
    assert loss_kernels.softmax_cross_entropy(logits, np.array([1, 0]), np.empty_like(logits)) == np.inf


@pytest.mark.parametrize("name", losses.LOSSES.names())
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_every_loss_is_not_finite_for_a_bad_logit(name, bad):
    # an infinite score for the right answer may rightly cost nothing (hinge), so it goes to a wrong one
    loss = losses.LOSSES.build(name)
    units = loss.output_units(3)
    logits = np.linspace(-1, 1, 4 * units).reshape(4, units).astype(np.float32)
    y = np.array([0, 1, 0, 1])
    if units == 1:
        logits[2, 0], y[2] = bad, 0 if bad > 0 else 1  # one logit: > 0 says class 1
    else:
        logits[2, 1 if bad > 0 else 0] = bad  # row 2's label is 0
    value, _ = loss.value_and_grad(logits, y)
    assert not np.isfinite(value), (name, bad, value)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_penalty_kernel_gives_nan(dtype):
    w = np.ones(300_000, dtype)
    w[123_456] = np.nan
    assert np.isnan(sum_squares(w))


# --- NaN and inf through the forward passes ------------------------------------------------------------
def conv(**kwargs):
    return {"type": "conv2d", "filters": 16, "kernel": 3, "padding": "same", **kwargs}


RELU = {"type": "relu"}
POOL = {"type": "maxpool2d", "size": 2}
HEAD = [{"type": "flatten"}, {"type": "dense", "units": 4}]
NETWORKS = {
    "dense": ([12], [{"type": "dense", "units": 4}]),
    "dense-relu-dense": ([12], [{"type": "dense", "units": 9}, RELU, {"type": "dense", "units": 4}]),
    "dense-relu, no bias": ([12], [{"type": "dense", "units": 9, "use_bias": False}, RELU]),
    "conv (direct)": ([1, 8, 8], [conv()]),
    "conv, stride 2 (im2col)": ([1, 8, 8], [conv(stride=2)]),
    "conv-relu-pool-dense": ([1, 8, 8], [conv(), RELU, POOL, *HEAD]),
    "conv-pool 3x3 stride 2": ([1, 9, 9], [conv(), RELU, {"type": "maxpool2d", "size": 3, "stride": 2}, *HEAD]),
    "conv-relu-avgpool": ([1, 8, 8], [conv(), RELU, {"type": "avgpool2d", "size": 2}, *HEAD]),
    "conv-batchnorm-relu": ([1, 8, 8], [conv(), {"type": "batchnorm"}, RELU, *HEAD]),
    "dense-activations-softmax": (
        [12],
        [
            {"type": "dense", "units": 9},
            {"type": "leaky_relu"},
            {"type": "dense", "units": 9},
            {"type": "sigmoid"},
            {"type": "dense", "units": 9},
            {"type": "tanh"},
            {"type": "dense", "units": 4},
            {"type": "softmax"},
        ],
    ),  # fmt: skip
}


def build(network: str, dtype, fused: bool) -> Sequential:
    input_shape, layers = NETWORKS[network]
    model = Sequential.from_config({"input_shape": input_shape, "layers": layers}, dtype=dtype, seed=0)
    model.set_fusion(fused)  # Sequential's fused blocks (nnrun/layers/fused.py), or each layer on its own
    return model


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "layers"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("network", NETWORKS)
def test_a_nan_input_gives_a_nan_output(network, dtype, fused):
    model = build(network, dtype, fused)
    x = np.random.default_rng(1).standard_normal((3, *model.input_shape)).astype(dtype)
    x[1].flat[x[1].size // 2 + 3] = np.nan  # an inner pixel, seen by a window of every conv
    out = model.forward(x, train=False)
    assert np.isnan(out[1]).any(), out[1]
    assert np.isfinite(out[[0, 2]]).all()  # batchnorm in eval mode: running statistics, no mixing


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("network", ["dense-relu-dense", "conv (direct)", "conv, stride 2 (im2col)"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf], ids=["inf", "-inf"])
def test_an_infinite_input_gives_a_non_finite_output(network, dtype, bad):
    model = build(network, dtype, fused=True)
    x = np.random.default_rng(1).standard_normal((2, *model.input_shape)).astype(dtype)
    x[1].flat[x[1].size // 2 + 3] = bad
    out = model.forward(x, train=False)
    assert not np.isfinite(out[1]).all(), out[1]
    assert np.isfinite(out[0]).all()


# numba shows no IR for a kernel loaded from its cache, hence a fresh process with an empty cache folder
IR_PROBE = """
import json, re
import numpy as np
from nnrun.kernels import loss
from tests.kernels.test_nan_survives import build, kernels
for network in ("conv-relu-pool-dense", "dense-relu-dense"):
    model = build(network, np.float32, fused=True)
    logits = model.forward(np.zeros((2, *model.input_shape), np.float32), train=False)
    loss.softmax_cross_entropy(logits, np.array([0, 1]), np.empty_like(logits))
flagged = {}
for name, kernel in kernels().items():
    for ir in kernel.inspect_llvm().values():
        flagged[name] = [line.strip() for line in ir.splitlines() if re.search(r"\\b(nnan|fast)\\b", line)][:3]
print(json.dumps(flagged))
"""


def test_the_compiled_kernels_carry_no_flag_that_assumes_no_nan(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", IR_PROBE], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    flagged = json.loads(done.stdout)
    expected = {"activations.bias_relu_rows", "loss.softmax_cross_entropy", "pool._maxpool_channels_last_2x2"}
    assert expected <= set(flagged) and any(name.startswith("direct.correlate") for name in flagged), flagged
    assert not {name: lines for name, lines in flagged.items() if lines}


# --- a run that diverges ---------------------------------------------------------------------------
def test_training_with_an_absurd_learning_rate_exits_3_naming_the_step_and_epoch(cli, tmp_path):
    config = small_config(optimizer={"type": "sgd", "lr": 1e30}, train={"epochs": 2, "batch_size": 32})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = cli("train", "c.yaml", "--out", "run", "--quiet", "--no-plot")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"the training loss became (nan|inf) at step \d+ \(epoch 1\)", result.stderr), result.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"
