"""Data losses on the network's logits (fused with their output nonlinearity), and the L2 penalty.

Each loss returns the mean over the batch and d(mean)/d logits in the logits' dtype. Logits are
(N, output_units) and labels y are int64 class indices (N,) in 0..K-1.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from nnrun.errors import ConfigError
from nnrun.kernels.loss import softmax_cross_entropy
from nnrun.kernels.optim import sum_squares
from nnrun.params import Param
from nnrun.registry import LOSSES, Configurable


class Loss(Configurable):
    type_name: ClassVar[str]

    def value(self, logits: np.ndarray, y: np.ndarray) -> float:
        """Mean data loss over the batch. logits: (N, output_units), y: (N,) int64."""
        return self.value_and_grad(logits, y)[0]

    def value_and_grad(self, logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(mean loss, dlogits) with dlogits: (N, output_units) in logits.dtype."""
        raise NotImplementedError

    def predict(self, logits: np.ndarray) -> np.ndarray:
        """Predicted class indices, int64 (N,)."""
        return np.argmax(logits, axis=1).astype(np.int64)

    def output_units(self, num_classes: int) -> int:
        """How many logits per example the model's last layer must produce."""
        return num_classes

    def check_targets(self, num_classes: int) -> None:
        """Raise ConfigError when the loss cannot train a classifier over `num_classes` classes."""
        if num_classes < 2:
            raise ConfigError(
                f"loss {self.type_name} needs at least 2 classes, the data has {num_classes}",
                where="loss",
            )


def get(spec: str | dict[str, Any] | Loss, *, where: str | None = "loss") -> Loss:
    """Resolve a name, a `{type: ...}` mapping or a Loss into a Loss."""
    if isinstance(spec, Loss):
        return spec
    return LOSSES.build(spec, where=where)


def one_hot(y: np.ndarray, num_columns: int, dtype) -> np.ndarray:
    out = np.zeros((y.shape[0], num_columns), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def require_one_unit(loss: Loss, logits: np.ndarray) -> np.ndarray:
    if logits.ndim != 2 or logits.shape[1] != 1:
        raise ValueError(f"loss {loss.type_name} expects logits of shape (N, 1), got {logits.shape}")
    return logits[:, 0]


def binary_check_targets(loss: Loss, num_classes: int) -> None:
    if num_classes != 2:
        raise ConfigError(
            f"loss {loss.type_name} is binary (one output unit) but the data has {num_classes} classes",
            where="loss",
            hint="select two classes with data.classes for a binary task, or use loss: softmax_cross_entropy",
        )


@LOSSES.register("softmax_cross_entropy")
class SoftmaxCrossEntropy(Loss):
    """-mean log softmax(z)[y], via log-sum-exp so large logits do not overflow; dz = (p - onehot)/N."""

    def value_and_grad(self, logits, y):
        logits = np.ascontiguousarray(logits)
        dlogits = np.empty_like(logits)
        try:
            loss = softmax_cross_entropy(logits, y, dlogits)  # one pass, nnrun/kernels/loss.py
        except IndexError:
            k = logits.shape[1]
            raise ValueError(f"labels must be in 0..{k - 1} for {k} logits, got {y.min()}..{y.max()}") from None
        return float(loss), dlogits


@LOSSES.register("logistic")
class Logistic(Loss):
    """Sigmoid + binary cross-entropy on one logit z per example, labels {0, 1}.

    loss = softplus(z) - y·z with softplus(z) = max(z, 0) + log1p(exp(-|z|)), finite for any z;
    dz = (sigmoid(z) - y)/N. Predicts class 1 when z > 0.
    """

    def value_and_grad(self, logits, y):
        z = require_one_unit(self, logits)
        n = z.shape[0]
        target = y.astype(logits.dtype)
        exp_neg_abs = np.exp(-np.abs(z))  # in (0, 1]: never overflows
        softplus = np.maximum(z, 0) + np.log1p(exp_neg_abs)
        loss = float(np.mean(softplus - target * z, dtype=np.float64))
        sigmoid = np.where(z >= 0, 1 / (1 + exp_neg_abs), exp_neg_abs / (1 + exp_neg_abs))
        dlogits = ((sigmoid - target) / n).reshape(n, 1).astype(logits.dtype, copy=False)
        return loss, dlogits

    def predict(self, logits):
        return (require_one_unit(self, logits) > 0).astype(np.int64)

    def output_units(self, num_classes):
        return 1

    def check_targets(self, num_classes):
        binary_check_targets(self, num_classes)


@LOSSES.register("hinge")
class Hinge(Loss):
    """SVM hinge loss, binary or multiclass, chosen by the number of classes.

    2 classes: one logit z, t = ±1 for y = 1/0, loss = mean max(0, margin - t·z), predict z > 0.
    K >= 3 classes: Weston–Watkins, loss_i = Σ_{j≠y_i} max(0, z_j - z_{y_i} + margin), mean over the
    batch (cs231n's svm_loss), predict argmax. At a kink the subgradient taken is 0.
    """

    def __init__(self, margin: Annotated[float, Field(gt=0, description="required gap between scores")] = 1.0):
        self.margin = margin

    def value_and_grad(self, logits, y):
        if logits.shape[1] == 1:
            return self.binary(logits, y)
        n = logits.shape[0]
        rows = np.arange(n)
        margins = logits - logits[rows, y][:, None] + logits.dtype.type(self.margin)
        margins[rows, y] = 0
        active = margins > 0
        loss = float(np.sum(np.maximum(margins, 0), dtype=np.float64) / n)
        dlogits = active.astype(logits.dtype)
        dlogits[rows, y] = -active.sum(axis=1)
        dlogits /= n
        return loss, dlogits

    def binary(self, logits, y):
        z = logits[:, 0]
        n = z.shape[0]
        sign = (2 * y - 1).astype(logits.dtype)
        slack = logits.dtype.type(self.margin) - sign * z
        loss = float(np.sum(np.maximum(slack, 0), dtype=np.float64) / n)
        dlogits = np.where(slack > 0, -sign / n, 0).reshape(n, 1).astype(logits.dtype, copy=False)
        return loss, dlogits

    def predict(self, logits):
        if logits.shape[1] == 1:
            return (logits[:, 0] > 0).astype(np.int64)
        return super().predict(logits)

    def output_units(self, num_classes):
        return 1 if num_classes == 2 else num_classes


@LOSSES.register("mse")
class MeanSquaredError(Loss):
    """Squared error against one-hot targets: loss = (1/N) Σ_i ½ Σ_k (z_ik - onehot_ik)², dz = (z - onehot)/N.

    The ½ and the sum over the K outputs (not a mean) make the gradient simply the residual over N.
    """

    def value_and_grad(self, logits, y):
        n = logits.shape[0]
        residual = logits - one_hot(y, logits.shape[1], logits.dtype)
        loss = float(0.5 * np.sum(np.square(residual, dtype=np.float64)) / n)
        return loss, residual / logits.dtype.type(n)


def l2_penalty(params: list[Param]) -> float:
    """The regularisation loss Σ ½·λ·‖value‖² over params (λ = param.weight_decay), in float64."""
    total = 0.0
    for p in params:
        if p.weight_decay:
            total += 0.5 * p.weight_decay * sum_squares(p.value.reshape(-1))
    return total
