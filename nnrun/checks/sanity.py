"""The two checks cs231n does by hand before a long run: the loss at initialisation, and overfitting a tiny subset.

`initial_loss(config)` and `overfit_small(config)` return the numbers and a verdict; `nnrun check --sanity` prints them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nnrun.config import Config
from nnrun.data import Dataset, Split, batches, load_dataset
from nnrun.errors import DataError
from nnrun.layers import Layer
from nnrun.layers.dropout import Dropout
from nnrun.losses import Hinge, Logistic, Loss, SoftmaxCrossEntropy
from nnrun.model import Sequential, check_fits
from nnrun.registry import LOSSES, OPTIMIZERS

# Within a factor of 2 either way: fan-scaled inits give logits of std about 1, up to 1.7 x ln(10) on digits_cnn
# over 50 seeds, while the mistakes this is for (weights 10x too large, raw pixel values) are 6x to 1000x off.
INITIAL_LOSS_FACTOR = 2.0
INITIAL_EXAMPLES = 1000
OVERFIT_EXAMPLES = 20
# The shipped configs fit 20 examples in 10 to 70 steps, moons' 3 tanh units in up to about 600. A loss that
# falls by less than 1 % over a window ends the run early, so a far too small lr costs 100 steps, not 1000.
OVERFIT_MAX_STEPS = 1000
STALL_WINDOW = 100
STALL_DROP = 0.01


@dataclass
class InitialLoss:
    """The data loss of the freshly initialised model in evaluation mode, against its value when every logit is 0."""

    loss_name: str
    measured: float  # mean data loss (no L2) over `examples` training examples
    expected: float | None  # None: no expected value is known for this loss, and nothing is judged
    formula: str  # how `expected` comes about, e.g. "ln(10)"; "" when there is none
    examples: int
    factor: float = INITIAL_LOSS_FACTOR  # passes within expected / factor .. expected * factor

    @property
    def ratio(self) -> float | None:
        return None if self.expected is None else self.measured / self.expected

    @property
    def passed(self) -> bool | None:
        """True or False, or None when there is no expected value to compare with."""
        return None if self.ratio is None else 1 / self.factor <= self.ratio <= self.factor

    @property
    def hint(self) -> str | None:
        if self.passed is not False:
            return None
        if self.ratio < 1:
            return "the loss is far below chance before any training: check that the labels do not leak into the inputs"
        return (
            "the logits do not start near zero: look at the last layer's init scale (model.weight_init or its "
            "own weight_init) and at the data scaling (data.normalize)"
        )


@dataclass
class Overfit:
    """Full-batch training on the first few training examples, regularisation off, until every one is right."""

    examples: int
    steps: int  # optimizer steps taken
    max_steps: int
    initial_loss: float  # data loss on the examples before the first step
    loss: float  # ... and after the last one
    accuracy: float
    lr: float

    @property
    def passed(self) -> bool:
        return self.accuracy == 1.0

    @property
    def stopped(self) -> str:
        """Why training ended: "fitted", "diverged", "max_steps", or "stalled" (the loss stopped falling)."""
        if self.passed:
            return "fitted"
        if not math.isfinite(self.loss):
            return "diverged"
        return "max_steps" if self.steps == self.max_steps else "stalled"

    @property
    def hint(self) -> str | None:
        if self.passed:
            return None
        if not math.isfinite(self.loss):
            return f"the loss diverged: lower optimizer.lr (now {self.lr:g}) or set optimizer.clip_norm"
        if self.loss > 1.1 * self.initial_loss:
            return f"the loss rose: lower optimizer.lr (now {self.lr:g})"
        if self.loss > 0.9 * self.initial_loss:
            return (
                f"the loss hardly moved: raise optimizer.lr (now {self.lr:g}), "
                "or check the gradients with `nnrun gradcheck CONFIG`"
            )
        if self.stopped == "max_steps":
            return f"the loss was still falling at the step limit: raise optimizer.lr (now {self.lr:g})"
        return (
            "the loss stopped falling before every example was right: the model may be too small to separate "
            f"them, or optimizer.lr (now {self.lr:g}) too large to settle"
        )


def sanity_checks(config: Config) -> tuple[InitialLoss, Overfit]:
    """Both checks, on one loading of the config's dataset."""
    dataset = load_dataset(config.resolved()["data"], config.seed)
    return initial_loss(config, dataset), overfit_small(config, dataset)


def expected_initial_loss(loss: Loss, outputs: int) -> tuple[float | None, str]:
    """The data loss when every logit is 0, and its formula; (None, "") for a loss with no known value.

    `outputs` is the number of logits per example: the classes, or 1 for a binary loss.
    """
    if isinstance(loss, SoftmaxCrossEntropy):
        return math.log(outputs), f"ln({outputs})"
    if isinstance(loss, Logistic):
        return math.log(2), "ln(2)"
    if isinstance(loss, Hinge):
        if outputs == 1:
            return loss.margin, f"margin {loss.margin:g}"
        # Weston–Watkins sums over the wrong classes, each short of the margin by the whole margin
        return (outputs - 1) * loss.margin, f"{outputs - 1} x margin {loss.margin:g}"
    return None, ""


def initial_loss(config: Config, dataset: Dataset | None = None, examples: int = INITIAL_EXAMPLES) -> InitialLoss:
    """The loss of the model as the config builds it on the first `examples` training examples.

    `dataset` is the config's, loaded when not given.
    """
    model, loss, dataset = fresh_model(config, dataset)
    subset = head(dataset.splits["train"], examples)
    total = 0.0
    for xb, yb in batches(subset, config.train.eval_batch_size, model.dtype):
        total += loss.value(model.forward(xb, train=False), yb) * len(yb)
    expected, formula = expected_initial_loss(loss, model.output_shape[-1])
    return InitialLoss(loss.type_name, total / len(subset), expected, formula, len(subset))


def overfit_small(
    config: Config,
    dataset: Dataset | None = None,
    examples: int = OVERFIT_EXAMPLES,
    max_steps: int = OVERFIT_MAX_STEPS,
) -> Overfit:
    """Train on the first `examples` training examples, full batch, until all are right, the loss stalls, or max_steps.

    The config's optimizer at its base lr (no schedule), without weight decay, dropout or augmentation.
    Batchnorm stays in training mode: the accuracy is read from each step's own forward pass.
    """
    model, loss, dataset = fresh_model(config, dataset)
    for layer in walk(model.layers):  # a rate of 0 makes dropout the identity, inside a dense_stack too
        if isinstance(layer, Dropout):
            layer.rate = 0.0
    xb, yb = next(batches(head(dataset.splits["train"], examples), examples, model.dtype))
    lr = float(config.optimizer.lr)
    optimizer = OPTIMIZERS.build(config.optimizer.spec(), where="optimizer")
    optimizer.setup(model.params(weight_decay=0.0))
    history: list[float] = []  # the loss before each step
    while True:
        logits = model.forward(xb, train=True)
        value, dlogits = loss.value_and_grad(logits, yb)
        history.append(value)
        steps = len(history) - 1
        accuracy = float(np.mean(loss.predict(logits) == yb))
        stalled = steps >= STALL_WINDOW and value > (1 - STALL_DROP) * history[-1 - STALL_WINDOW]
        if accuracy == 1.0 or steps == max_steps or stalled or not math.isfinite(value):
            return Overfit(len(yb), steps, max_steps, history[0], value, accuracy, lr)
        model.backward(dlogits, input_grad=False)
        optimizer.step(lr)


def fresh_model(config: Config, dataset: Dataset | None) -> tuple[Sequential, Loss, Dataset]:
    """The fresh model, the loss and the dataset of a config, checked to fit each other."""
    resolved = config.resolved()
    if dataset is None:
        dataset = load_dataset(resolved["data"], config.seed)
    if len(dataset.splits["train"]) == 0:
        raise DataError(f"dataset '{dataset.name}' has no training examples", where="data")
    loss = LOSSES.build(resolved["loss"], where="loss")
    loss.check_targets(dataset.num_classes)
    model = Sequential.from_config(resolved["model"], dtype=config.dtype, seed=config.seed)
    check_fits(model, loss, dataset.input_shape, dataset.num_classes)
    return model, loss, dataset


def head(split: Split, n: int) -> Split:
    """The first n examples of a split, scaled as the split is."""
    return Split(split.x[:n], split.y[:n], split.scale, split.mean, split.std)


def walk(layers: list[Layer]) -> Iterator[Layer]:
    """Every layer, the children of a layer of layers (dense_stack) included."""
    for layer in layers:
        yield layer
        yield from walk(getattr(layer, "layers", ()))
