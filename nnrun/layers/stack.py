"""A stack of hidden blocks as one config layer, so a sweep varies their number and widths as one value:
`{type: dense_stack, units: [400, 400, 400]}` is three blocks dense(400) -> [batchnorm] -> relu -> [dropout].

The stack is one entry of the model's layer list (one index, one `--set model.<name>.units=[...]`), but it
builds real child layers (Dense, BatchNorm, the activation, Dropout) in order from the model's BuildContext
and runs them through nnrun.layers.fused.plan, as Sequential runs its own list: initial weights, outputs and
gradients are those of the equivalent explicit layer list, bit for bit (tests/layers/test_stack.py).

`params`, `grads` and `buffers` are the children's own arrays (not copies), keyed by block, from 0:
  "<block>.weight", "<block>.bias"          the block's dense: (in, units[block]), (units[block],)
  "<block>.batchnorm.gamma", ".beta"        the block's batchnorm, with batchnorm: true: (units[block],)
  "<block>.batchnorm.running_mean", ".running_var"   its buffers
so model.npz holds "00.hidden.1.weight" for the second block of a stack named hidden at index 0.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field

from nnrun.errors import did_you_mean
from nnrun.layers import activations, fused
from nnrun.layers.base import BuildContext, Layer, Shape
from nnrun.layers.dense import Dense, InitSpec
from nnrun.layers.dropout import Dropout
from nnrun.layers.norm import BatchNorm
from nnrun.registry import LAYERS

# the parameter-free activation layers a block may end with: those of nnrun/layers/activations.py
ACTIVATIONS = tuple(name for name, cls in LAYERS.items() if cls.__module__ == activations.__name__)


def _known_activation(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation, got '{name}'{did_you_mean(name, ACTIVATIONS)}; activations: {', '.join(ACTIVATIONS)}"
        )
    return name


def _one_block(units: Any) -> Any:
    """`units: 256` is short for [256], so a sweep may list plain widths."""
    return [units] if isinstance(units, int) and not isinstance(units, bool) else units


@LAYERS.register("dense_stack")
class DenseStack(Layer):
    """Hidden blocks dense -> [batchnorm] -> activation -> [dropout], one per entry of `units`.

    x: (N, in_features) -> y: (N, units[-1]); `units: []` has no block and returns x itself. A block's
    weight and bias are drawn from the model's init stream in the order the explicit layers would draw them.
    """

    def __init__(
        self,
        units: Annotated[
            list[Annotated[int, Field(gt=0)]],
            BeforeValidator(_one_block),
            Field(
                description="output features of each block's dense, one entry a block; [] is no block (identity), "
                "and a number is one block"
            ),
        ],
        activation: Annotated[
            str,
            AfterValidator(_known_activation),
            Field(
                description="the activation layer after each dense (or its batchnorm), with its default keys",
                json_schema_extra={"yaml_type": " | ".join(map(repr, ACTIVATIONS))},
            ),
        ] = "relu",
        batchnorm: Annotated[bool, Field(description="a batchnorm after each dense, before the activation")] = False,
        dropout: Annotated[
            float, Field(ge=0, lt=1, description="rate of a dropout after each activation (0: no dropout layer)")
        ] = 0.0,
        use_bias: Annotated[bool, Field(description="each dense adds a learned bias")] = True,
        weight_init: Annotated[InitSpec, Field(description="initializer for each weight; null = model default")] = None,
        bias_init: Annotated[InitSpec, Field(description="initializer for each bias; null = model default")] = None,
        *,
        name: str | None = None,
    ):
        self.layers: list[Layer] = []  # the children, in order; set before Layer.__init__ sets fixed_noise
        super().__init__(name=name)
        self.units = _one_block(units)  # the schema has done it for a config; a direct call may pass a number
        self.activation = activation
        self.batchnorm = batchnorm
        self.dropout = dropout
        self.use_bias = use_bias
        self.weight_init = weight_init
        self.bias_init = bias_init
        self._owners: list[tuple[str, Layer]] = []  # (key prefix, child) for each child with arrays
        self._steps: list[tuple[int, Any]] = []

    # --- construction -------------------------------------------------------------------------
    def build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        output_shape = super().build(input_shape, ctx)
        # Layer.build gave the stack gradient arrays of its own; the children's are the ones backward writes
        self.grads = self._gather("grads")
        return output_shape

    def _build(self, input_shape: Shape, ctx: BuildContext) -> Shape:
        if len(input_shape) != 1:
            raise self.shape_error("a flat input (features,); add a `flatten` layer before it", input_shape)
        # recorded resolved, as dense records them
        self.weight_init = self.weight_init if self.weight_init is not None else ctx.weight_init
        if self.use_bias:
            self.bias_init = self.bias_init if self.bias_init is not None else ctx.bias_init
        self.layers, self._owners = [], []
        shape = input_shape
        for block, units in enumerate(self.units):
            dense = Dense(units=units, use_bias=self.use_bias, weight_init=self.weight_init, bias_init=self.bias_init)
            norm = [BatchNorm()] if self.batchnorm else []
            drop = [Dropout(rate=self.dropout)] if self.dropout > 0 else []
            for layer in [dense, *norm, LAYERS.get(self.activation)(), *drop]:
                shape = layer.build(shape, ctx)
                layer.fixed_noise = self.fixed_noise
                self.layers.append(layer)
                if layer.params or layer.buffers:
                    self._owners.append((f"{block}." if layer is dense else f"{block}.{layer.type_name}.", layer))
        self.params = self._gather("params")
        self.buffers = self._gather("buffers")
        self.decayed = tuple(f"{block}.weight" for block in range(len(self.units)))
        self.set_fusion(True)
        return shape

    def set_fusion(self, fuse: bool) -> None:
        """Run dense -> relu blocks fused, or every child on its own (Sequential.set_fusion passes it on)."""
        self._steps = fused.plan(self.layers) if fuse else list(enumerate(self.layers))

    def _gather(self, kind: str) -> dict[str, np.ndarray]:
        """The children's params, grads or buffers, the very arrays, under the stack's keys."""
        return {prefix + key: array for prefix, layer in self._owners for key, array in getattr(layer, kind).items()}

    @property
    def fixed_noise(self) -> bool:
        return self._fixed_noise

    @fixed_noise.setter
    def fixed_noise(self, value: bool) -> None:
        # gradcheck sets it on the model's layers: the dropout children are the ones that read it
        self._fixed_noise = value
        for layer in self.layers:
            layer.fixed_noise = value

    def describe(self) -> str:
        if self.units:
            parts = [f"{self.type_name} {'-'.join(map(str, self.units))} {self.activation}"]
            parts += ["batchnorm"] if self.batchnorm else []
            parts += [f"dropout {self.dropout}"] if self.dropout > 0 else []
        else:
            parts = [f"{self.type_name}, no blocks"]
        text = ", ".join(parts)
        return f"{self.name} ({text})" if self.name else text

    # --- computation --------------------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        """x: (N, in_features) -> y: (N, units[-1]), or x itself without blocks."""
        for _, step in self._steps:
            x = step.forward(x, train)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """dy: (N, units[-1]) -> dx: (N, in_features), or None when needs_input_grad is False."""
        if self.layers:
            self.layers[0].needs_input_grad = self.needs_input_grad  # the first dense: it returns None then
        for _, step in reversed(self._steps):
            dy = step.backward(dy)
        return dy if self.needs_input_grad else None

    # --- accounting ---------------------------------------------------------------------------
    def flops(self) -> int:
        return sum(layer.flops() for layer in self.layers)

    def activation_elements(self) -> int:
        """Every child's output (the dense's and its activation's, ...), as the explicit layers would count."""
        return sum(layer.activation_elements() for layer in self.layers) if self.layers else 0
