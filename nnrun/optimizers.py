"""First-order optimizers over `model.params()`, and global gradient-norm clipping.

Every update is one fused numba pass per parameter (nnrun/kernels/optim.py) using the gradient plus
coupled L2 decay, g = grad + λ·value (torch.optim's `weight_decay`; λ is each Param's own). The update
rules and their defaults are torch.optim's, so a run can be checked step for step against PyTorch.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from nnrun.errors import ConfigError
from nnrun.kernels import optim as kernels
from nnrun.params import Param
from nnrun.registry import OPTIMIZERS, Configurable

LearningRate = Annotated[float, Field(gt=0, description="base learning rate (a schedule scales it per step)")]
Beta = Annotated[float, Field(ge=0, lt=1)]
Epsilon = Annotated[float, Field(gt=0, description="added to the denominator to keep it away from zero")]


class Optimizer(Configurable):
    """Base class: `setup(params)` allocates the state slots, `step(lr)` updates every param in place."""

    type_name: ClassVar[str]
    slots: ClassVar[tuple[str, ...]] = ()  # per-parameter state arrays, shaped like the parameter

    def __init__(self, lr: float):
        self.lr = lr
        self.params: list[Param] = []
        self.state: list[dict[str, np.ndarray]] = []
        self.steps = 0  # updates taken; Adam's bias correction reads it

    def setup(self, params: list[Param]) -> None:
        self.params = list(params)
        keys = [p.key for p in self.params]
        if len(set(keys)) != len(keys):
            raise ValueError(f"parameter keys are not unique: {keys}")
        for p in self.params:
            if not p.value.flags.c_contiguous or p.grad.shape != p.value.shape:
                raise ValueError(f"parameter {p.key}: value must be C-contiguous and grad of the same shape")
        self.state = [{slot: np.zeros_like(p.value) for slot in self.slots} for p in self.params]
        self.steps = 0

    def step(self, lr: float | None = None) -> None:
        """One update of every parameter with learning rate `lr` (the constructor's when None)."""
        lr = self.lr if lr is None else lr
        self.steps += 1
        for p, state in zip(self.params, self.state):
            cast = p.value.dtype.type  # every scalar in the value's dtype keeps float32 in float32
            flat_state = {slot: array.reshape(-1) for slot, array in state.items()}
            self.update(p.value.reshape(-1), p.grad.reshape(-1), flat_state, float(lr), cast(p.weight_decay), cast)

    def update(self, w: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: float, weight_decay, cast):
        """Apply the kernel to flat views of one parameter, its gradient and its state slots.

        `lr` is a Python float (Adam folds it into a float64 step size first); `weight_decay` is cast already.
        """
        raise NotImplementedError

    # --- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every slot as "<param.key>/<slot>", plus "step"."""
        out = {"step": np.array(self.steps, dtype=np.int64)}
        for p, state in zip(self.params, self.state):
            for slot, array in state.items():
                out[f"{p.key}/{slot}"] = array.copy()
        return out

    def load_state_dict(self, saved: dict[str, np.ndarray]) -> None:
        """Copy a state_dict into the slots allocated by setup (the arrays themselves are kept)."""
        expected = {"step"} | {f"{p.key}/{slot}" for p in self.params for slot in self.slots}
        missing, unexpected = sorted(expected - set(saved)), sorted(set(saved) - expected)
        if missing or unexpected:
            raise ConfigError(
                f"{self.type_name} optimizer state does not fit this model: missing {missing}, unexpected {unexpected}",
                where="optimizer state",
                hint="resume with the model and optimizer of the run that wrote the checkpoint",
            )
        for p, state in zip(self.params, self.state):
            for slot, array in state.items():
                value = np.asarray(saved[f"{p.key}/{slot}"])
                if value.shape != array.shape:
                    raise ConfigError(
                        f"slot {p.key}/{slot} has shape {value.shape}, the parameter {array.shape}",
                        where="optimizer state",
                        hint="resume with the model of the run that wrote the checkpoint",
                    )
                np.copyto(array, value)
        self.steps = int(saved["step"])


def get(spec: str | dict[str, Any] | Optimizer, *, where: str | None = "optimizer") -> Optimizer:
    """Resolve a name, a `{type: ...}` mapping or an Optimizer into an Optimizer."""
    if isinstance(spec, Optimizer):
        return spec
    return OPTIMIZERS.build(spec, where=where)


@OPTIMIZERS.register("sgd")
class SGD(Optimizer):
    """w -= lr·g. Default lr 1e-2 (cs231n's sgd)."""

    def __init__(self, lr: LearningRate = 1e-2):
        super().__init__(lr)

    def update(self, w, grad, state, lr, weight_decay, cast):
        kernels.sgd_step(w, grad, cast(lr), weight_decay)


@OPTIMIZERS.register("momentum")
class Momentum(Optimizer):
    """Heavy-ball momentum in torch's form: v = mu·v + g; w -= lr·v. Defaults lr 1e-2, mu 0.9.

    cs231n writes v' = mu·v' - lr·g; w += v'. The two are the same run with v' = -lr·v as long as lr is
    constant; when a schedule changes lr, torch's form rescales the whole velocity at once, which is what
    this optimizer does (and what torch.optim.SGD(momentum=mu) does).
    """

    slots = ("velocity",)
    nesterov = False

    def __init__(self, lr: LearningRate = 1e-2, mu: Annotated[Beta, Field(description="momentum")] = 0.9):
        super().__init__(lr)
        self.mu = mu

    def update(self, w, grad, state, lr, weight_decay, cast):
        kernels.momentum_step(
            w, grad, state["velocity"], cast(lr), weight_decay, cast(self.mu), self.nesterov, tiny(cast)
        )


@OPTIMIZERS.register("nesterov")
class Nesterov(Momentum):
    """Nesterov momentum as torch.optim.SGD(nesterov=True): v = mu·v + g; w -= lr·(g + mu·v)."""

    nesterov = True


@OPTIMIZERS.register("adagrad")
class Adagrad(Optimizer):
    """s += g²; w -= lr·g / (sqrt(s) + eps). Defaults as torch: lr 1e-2, eps 1e-10, s starts at 0."""

    slots = ("sum_sq",)

    def __init__(self, lr: LearningRate = 1e-2, eps: Epsilon = 1e-10):
        super().__init__(lr)
        self.eps = eps

    def update(self, w, grad, state, lr, weight_decay, cast):
        kernels.adagrad_step(w, grad, state["sum_sq"], cast(lr), weight_decay, cast(self.eps))


@OPTIMIZERS.register("adadelta")
class Adadelta(Optimizer):
    """Zeiler's Adadelta as torch: defaults lr 1.0, rho 0.9, eps 1e-6.

    s = rho·s + (1-rho)·g²; Δ = sqrt(a + eps) / sqrt(s + eps) · g; a = rho·a + (1-rho)·Δ²; w -= lr·Δ.
    """

    slots = ("square_avg", "acc_delta")

    def __init__(
        self,
        lr: LearningRate = 1.0,
        rho: Annotated[Beta, Field(description="decay of both running averages")] = 0.9,
        eps: Epsilon = 1e-6,
    ):
        super().__init__(lr)
        self.rho = rho
        self.eps = eps

    def update(self, w, grad, state, lr, weight_decay, cast):
        kernels.adadelta_step(
            w,
            grad,
            state["square_avg"],
            state["acc_delta"],
            cast(lr),
            weight_decay,
            cast(self.rho),
            cast(1 - self.rho),
            cast(self.eps),
            tiny(cast),
        )


@OPTIMIZERS.register("rmsprop")
class RMSprop(Optimizer):
    """s = alpha·s + (1-alpha)·g²; w -= lr·g / (sqrt(s) + eps), eps outside the root as in torch.

    Defaults lr 1e-2, alpha 0.99 (cs231n's decay_rate), eps 1e-8. cs231n puts eps the same place.
    """

    slots = ("square_avg",)

    def __init__(
        self,
        lr: LearningRate = 1e-2,
        alpha: Annotated[Beta, Field(description="decay of the running mean of g²")] = 0.99,
        eps: Epsilon = 1e-8,
    ):
        super().__init__(lr)
        self.alpha = alpha
        self.eps = eps

    def update(self, w, grad, state, lr, weight_decay, cast):
        kernels.rmsprop_step(
            w, grad, state["square_avg"], cast(lr), weight_decay,
            cast(self.alpha), cast(1 - self.alpha), cast(self.eps), tiny(cast),
        )  # fmt: skip


@OPTIMIZERS.register("adam")
class Adam(Optimizer):
    """Adam as torch.optim.Adam: defaults lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8.

    m → g by (1-beta1), v = beta2·v + (1-beta2)·g²; at step t,
    w -= lr / (1 - beta1^t) · m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    (cs231n adds eps to sqrt of the corrected v the same way.)
    """

    slots = ("m", "v")

    def __init__(
        self,
        lr: LearningRate = 1e-3,
        beta1: Annotated[Beta, Field(description="decay of the running mean of g")] = 0.9,
        beta2: Annotated[Beta, Field(description="decay of the running mean of g²")] = 0.999,
        eps: Epsilon = 1e-8,
    ):
        super().__init__(lr)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def update(self, w, grad, state, lr, weight_decay, cast):
        # Bias corrections in float64 once per step, as torch computes them in Python floats.
        step_size = lr / (1 - self.beta1**self.steps)
        sqrt_bc2 = math.sqrt(1 - self.beta2**self.steps)
        kernels.adam_step(
            w,
            grad,
            state["m"],
            state["v"],
            cast(step_size),
            weight_decay,
            cast(1 - self.beta1),
            cast(self.beta2),
            cast(1 - self.beta2),
            cast(sqrt_bc2),
            cast(self.eps),
            tiny(cast),
        )


def tiny(cast):
    """The smallest normal number of a dtype (its scalar type `cast`): decaying state below it is flushed to zero."""
    return cast(np.finfo(cast).tiny)


def clip_grad_norm(params: list[Param], max_norm: float) -> float:
    """Scale every grad in place so their global L2 norm is at most max_norm; return the norm before.

    As torch.nn.utils.clip_grad_norm_: the factor is max_norm / (norm + 1e-6), applied only when below 1.
    A non-finite norm is returned without touching the grads, so the caller can report the divergence.
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    total = math.sqrt(sum(kernels.sum_squares(p.grad.reshape(-1)) for p in params))
    coef = max_norm / (total + 1e-6)
    if math.isfinite(total) and coef < 1:
        for p in params:
            p.grad *= p.grad.dtype.type(coef)
    return total
