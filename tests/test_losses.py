"""Losses: values against direct formulas, float64 gradient checks, stability at |z| = 1000, predict rules."""

import numpy as np
import pytest

from nnrun import losses
from nnrun.checks.gradcheck import TOLERANCE, check_loss
from nnrun.errors import ConfigError
from nnrun.params import Param
from nnrun.registry import LOSSES


def make_batch(seed, n, k, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, k)) * scale, rng.integers(0, max(k, 2), size=n).astype(np.int64)


# --- direct NumPy formulas, one example at a time ----------------------------------------------------
def reference_cross_entropy(z, y):
    return np.mean([np.log(np.sum(np.exp(row))) - row[label] for row, label in zip(z, y)])


def reference_logistic(z, y):
    p = 1 / (1 + np.exp(-z[:, 0]))
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))


def reference_multiclass_hinge(z, y, margin):
    total = 0.0
    for row, label in zip(z, y):
        total += sum(max(0.0, row[j] - row[label] + margin) for j in range(len(row)) if j != label)
    return total / len(z)


def reference_binary_hinge(z, y, margin):
    t = np.where(y == 1, 1.0, -1.0)
    return np.mean(np.maximum(0, margin - t * z[:, 0]))


def reference_mse(z, y):
    target = np.eye(z.shape[1])[y]
    return 0.5 * np.sum((z - target) ** 2) / z.shape[0]


def test_every_loss_is_covered():
    assert LOSSES.names() == ["hinge", "logistic", "mse", "softmax_cross_entropy"]


@pytest.mark.parametrize("seed", [0, 1])
def test_values_match_formulas(seed):
    z, y = make_batch(seed, 9, 5, scale=2.0)
    assert losses.get("softmax_cross_entropy").value(z, y) == pytest.approx(reference_cross_entropy(z, y), rel=1e-12)
    assert losses.get("mse").value(z, y) == pytest.approx(reference_mse(z, y), rel=1e-12)
    for margin in (1.0, 0.3):
        hinge = losses.get({"type": "hinge", "margin": margin})
        assert hinge.value(z, y) == pytest.approx(reference_multiclass_hinge(z, y, margin), rel=1e-12)
    zb, yb = make_batch(seed, 11, 1, scale=3.0)
    assert losses.get("logistic").value(zb, yb) == pytest.approx(reference_logistic(zb, yb), rel=1e-12)
    assert losses.get("hinge").value(zb, yb) == pytest.approx(reference_binary_hinge(zb, yb, 1.0), rel=1e-12)
    half = losses.get({"type": "hinge", "margin": 0.5})
    assert half.value(zb, yb) == pytest.approx(reference_binary_hinge(zb, yb, 0.5), rel=1e-12)


def test_cross_entropy_of_uniform_logits_is_log_k():
    z = np.zeros((4, 10))
    assert losses.get("softmax_cross_entropy").value(z, np.arange(4)) == pytest.approx(np.log(10))


def away_from_kinks(z, y, margin):
    """Shift logits so no hinge term sits within 1e-3 of its kink (the numeric gradient straddles it)."""
    z = z.copy()
    if z.shape[1] == 1:
        t = np.where(y == 1, 1.0, -1.0)
        slack = margin - t * z[:, 0]
        close = np.abs(slack) < 1e-3
        z[close, 0] += 0.01
        return z
    for i, label in enumerate(y):
        for j in range(z.shape[1]):
            if j != label and abs(z[i, j] - z[i, label] + margin) < 1e-3:
                z[i, j] += 0.01
    return z


@pytest.mark.parametrize(
    "spec, n, k",
    [
        ("softmax_cross_entropy", 6, 5),
        ("softmax_cross_entropy", 3, 2),
        ("mse", 6, 4),
        ("logistic", 8, 1),
        ("hinge", 8, 1),
        ({"type": "hinge", "margin": 0.5}, 8, 1),
        ("hinge", 7, 4),
        ({"type": "hinge", "margin": 2.0}, 7, 3),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_check(spec, n, k, seed):
    loss = losses.get(spec)
    z, y = make_batch(seed, n, k, scale=2.0)
    if loss.type_name == "hinge":
        z = away_from_kinks(z, y, loss.margin)
    result = check_loss(loss, z, y)
    assert result.max_rel_error <= TOLERANCE, result


LOSS_SHAPES = [("softmax_cross_entropy", 3), ("mse", 3), ("logistic", 1), ("hinge", 1), ("hinge", 3)]


@pytest.mark.parametrize("spec, k", LOSS_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_keeps_dtype_and_matches_value(spec, k, dtype):
    z, y = make_batch(3, 5, k)
    z = z.astype(dtype)
    loss = losses.get(spec)
    value, dz = loss.value_and_grad(z, y)
    assert dz.dtype == dtype and dz.shape == z.shape
    assert isinstance(value, float)
    assert value == pytest.approx(loss.value(z.astype(np.float64), y), rel=1e-5)


@pytest.mark.parametrize("spec, k", LOSS_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_huge_logits(spec, k, dtype):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0], [0.0, 0.0, -1000.0]], dtype=dtype)[:, :k]
    y = np.array([0, 1, 2]) if k == 3 else np.array([1, 0, 1])
    value, dz = losses.get(spec).value_and_grad(z.copy(), y)
    assert np.isfinite(value)
    assert np.all(np.isfinite(dz))


def test_large_logit_values_are_exact():
    # wrong with confidence 1000 costs 1000 (cross-entropy / logistic); right costs ~0
    ce = losses.get("softmax_cross_entropy")
    z = np.array([[1000.0, -1000.0], [1000.0, -1000.0]])
    assert ce.value(z, np.array([0, 0])) == pytest.approx(0.0, abs=1e-12)
    assert ce.value(z, np.array([1, 1])) == pytest.approx(2000.0)
    logistic = losses.get("logistic")
    assert logistic.value(np.array([[1000.0], [-1000.0]]), np.array([0, 1])) == pytest.approx(1000.0)
    value, dz = logistic.value_and_grad(np.array([[1000.0], [-1000.0]]), np.array([1, 0]))
    assert value == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(dz, 0.0, atol=1e-12)


def test_predict_rules():
    z = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]])
    for name in ("softmax_cross_entropy", "mse", "hinge"):
        predictions = losses.get(name).predict(z)
        assert predictions.dtype == np.int64
        np.testing.assert_array_equal(predictions, [1, 0])
    zb = np.array([[0.5], [-0.5], [0.0], [1e-9]])
    for name in ("logistic", "hinge"):
        predictions = losses.get(name).predict(zb)
        assert predictions.dtype == np.int64
        np.testing.assert_array_equal(predictions, [1, 0, 0, 1])


def test_output_units_and_targets():
    assert losses.get("softmax_cross_entropy").output_units(10) == 10
    assert losses.get("mse").output_units(3) == 3
    assert losses.get("logistic").output_units(2) == 1
    assert losses.get("hinge").output_units(2) == 1
    assert losses.get("hinge").output_units(5) == 5
    losses.get("logistic").check_targets(2)
    losses.get("hinge").check_targets(10)
    with pytest.raises(ConfigError, match="data.classes") as error:
        losses.get("logistic").check_targets(10)
    assert "softmax_cross_entropy" in str(error.value)
    with pytest.raises(ConfigError):
        losses.get("softmax_cross_entropy").check_targets(1)


def test_specs_validate_and_round_trip():
    hinge = losses.get({"type": "hinge", "margin": 0.5})
    assert losses.get(hinge.get_config()).get_config() == hinge.get_config() == {"type": "hinge", "margin": 0.5}
    with pytest.raises(ConfigError, match="margin"):
        losses.get({"type": "hinge", "margin": 0})
    with pytest.raises(ConfigError, match="did you mean 'hinge'"):
        losses.get("hinj")
    with pytest.raises(ConfigError, match="unknown key"):
        losses.get({"type": "mse", "margin": 1.0})


def test_l2_penalty():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((30, 20)).astype(np.float32)
    b = rng.standard_normal(20)
    params = [Param("0.w", w, np.zeros_like(w), 0.1), Param("0.b", b, np.zeros_like(b), 0.0)]
    expected = 0.5 * 0.1 * np.sum(w.astype(np.float64) ** 2)
    assert losses.l2_penalty(params) == pytest.approx(expected, rel=1e-12)
    assert losses.l2_penalty([]) == 0.0


# --- the one-pass softmax cross-entropy kernel (nnrun/kernels/loss.py) against NumPy ------------------
def numpy_softmax_cross_entropy(z, y):
    """The multi-pass NumPy form the kernel replaced: (mean loss, dz) in z's dtype."""
    shifted = z - z.max(axis=1, keepdims=True)
    exp = np.exp(shifted.astype(np.float64))
    sum_exp = exp.sum(axis=1, keepdims=True)
    loss = -np.mean((shifted - np.log(sum_exp))[np.arange(len(y)), y])
    dz = exp / sum_exp
    dz[np.arange(len(y)), y] -= 1
    return loss, (dz / len(y)).astype(z.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, k, scale", [(100, 10, 3.0), (7, 2, 1.0), (1, 5, 50.0), (33, 1000, 10.0)])
def test_cross_entropy_kernel_matches_numpy(dtype, n, k, scale):
    z, y = make_batch(n * k, n, k, scale)
    z = z.astype(dtype)
    value, dz = losses.get("softmax_cross_entropy").value_and_grad(z, y)
    expected, expected_dz = numpy_softmax_cross_entropy(z, y)
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    assert value == pytest.approx(expected, rel=tolerance)
    assert dz.dtype == dtype
    # both round once from float64; float32's exp may differ by an ulp between NumPy and LLVM
    np.testing.assert_allclose(dz, expected_dz, rtol=tolerance, atol=tolerance / n)
    np.testing.assert_allclose(dz.sum(axis=1), 0.0, atol=10 * tolerance)


def test_cross_entropy_kernel_takes_strided_logits_and_keeps_them():
    z, y = make_batch(5, 6, 4)
    wide = np.asfortranarray(z)
    before = wide.copy()
    value, dz = losses.get("softmax_cross_entropy").value_and_grad(wide, y)
    assert np.array_equal(wide, before)
    assert value == pytest.approx(reference_cross_entropy(z, y), rel=1e-12)
    assert dz.flags.c_contiguous


@pytest.mark.parametrize("bad", [-1, 4])
def test_cross_entropy_rejects_labels_out_of_range(bad):
    z, y = make_batch(6, 5, 4)
    y[3] = bad
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.3 for 4 logits"):
        losses.get("softmax_cross_entropy").value_and_grad(z, y)


@pytest.mark.parametrize("poison", [np.nan, np.inf])
def test_cross_entropy_of_a_non_finite_logit_is_nan(poison):
    z, y = make_batch(7, 4, 3)
    z[2, 1] = poison
    value, _ = losses.get("softmax_cross_entropy").value_and_grad(z, y)
    assert np.isnan(value)  # the trainer stops on it (TrainingDiverged)


def test_cross_entropy_of_minus_inf_logits():
    ce = losses.get("softmax_cross_entropy")
    z = np.array([[0.0, -np.inf, 1.0]])
    assert ce.value(z, np.array([1])) == np.inf  # the label's class has probability 0
    value, dz = ce.value_and_grad(z, np.array([2]))
    assert np.isfinite(value) and np.all(np.isfinite(dz)) and dz[0, 1] == 0
