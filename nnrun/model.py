"""The Sequential network: built from the config's layer list, run forward and backward, saved as .npz.

model.npz layout (framework-neutral, loadable with plain numpy, no pickle):
  "<index>.<layer name or type>.<param>"  float arrays, e.g. "00.conv2d.weight" (out, in, kh, kw),
                                          "04.hidden.weight" (in, out), "05.batchnorm.running_mean"
  "<index>.<name>.<block>.<param>"        a dense_stack's blocks, from 0 (nnrun/layers/stack.py):
                                          "00.hidden.1.weight" (in, out), "00.hidden.1.bias",
                                          "00.hidden.0.batchnorm.gamma", "00.hidden.0.batchnorm.running_var"
  "__config__"                            the resolved model section as a JSON string (0-d unicode array)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnrun.errors import RunError, ShapeError
from nnrun.io import atomic_savez, read_npz
from nnrun.layers import BuildContext, Layer, fused
from nnrun.params import Param
from nnrun.registry import LAYERS

Shape = tuple[int, ...]
CONFIG_KEY = "__config__"


@dataclass
class LayerSummary:
    index: int
    label: str
    output_shape: Shape
    params: int
    flops: int  # forward FLOPs per example
    activation_bytes: int  # output activation per example


class Sequential:
    """A stack of layers. x: (N, *input_shape) -> logits (N, units of the last layer)."""

    def __init__(self, layers: list[Layer], input_shape: Shape):
        self.layers = layers
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output_shape: Shape | None = None
        self.dtype = np.dtype(np.float32)
        self.noise_rng: np.random.Generator | None = None
        self.fuse = True  # run conv2d -> relu -> maxpool2d and dense -> relu as blocks (nnrun/layers/fused.py)
        self._steps: list[tuple[int, Any]] = []

    @classmethod
    def from_config(
        cls,
        model: dict[str, Any],
        *,
        dtype: str | np.dtype = "float32",
        seed: int | np.random.SeedSequence = 0,
    ) -> Sequential:
        """Build from the resolved model section: {input_shape, layers, weight_init, bias_init}."""
        layers = []
        for spec in model["layers"]:
            args = {k: v for k, v in spec.items() if k != "type"}
            layers.append(LAYERS.get(spec["type"])(**args))
        network = cls(layers, model["input_shape"])
        # absent keys keep BuildContext's defaults; a resolved section has weight_scale folded into weight_init
        inits = {key: model[key] for key in ("weight_init", "bias_init") if model.get(key)}
        init_seed, noise_seed = np.random.SeedSequence(seed).spawn(2) if isinstance(seed, int) else seed.spawn(2)
        network.build(
            BuildContext(
                dtype=np.dtype(dtype),
                init_rng=np.random.default_rng(init_seed),
                noise_rng=np.random.default_rng(noise_seed),
                **inits,
            )
        )
        return network

    def build(self, ctx: BuildContext) -> list[Shape]:
        self.dtype = np.dtype(ctx.dtype)
        self.noise_rng = ctx.noise_rng  # shared by the noisy layers; its state is checkpointed
        shapes = []
        shape = self.input_shape
        for index, layer in enumerate(self.layers):
            try:
                shape = layer.build(shape, ctx)
            except ShapeError as error:
                raise ShapeError(
                    error.what, where=f"model.layers[{index}] {layer.describe()}", hint=error.hint
                ) from None
            shapes.append(shape)
        self.output_shape = shape
        self.set_fusion(self.fuse)
        return shapes

    def set_fusion(self, fuse: bool) -> None:
        """Run fusable layer runs (conv2d -> relu -> maxpool2d, dense -> relu) as blocks, or every layer on its own.

        The results are the same either way; the separate layers are what tests and introspection compare.
        """
        self.fuse = fuse
        self._steps = fused.plan(self.layers) if fuse else list(enumerate(self.layers))
        for layer in self.layers:
            if hasattr(layer, "set_fusion"):  # a layer of layers (dense_stack) runs its own the same way
                layer.set_fusion(fuse)

    # --- computation --------------------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if x.shape[1:] != self.input_shape:
            # images fed to an MLP: a flat model.input_shape of the same size is a free reshape
            x = x.reshape((x.shape[0], *self.input_shape))
        for _, step in self._steps:
            x = step.forward(x, train)
        return x

    def forward_to(self, x: np.ndarray, last: int) -> np.ndarray:
        """Layer `last`'s output for x at inference, each layer run on its own (figures read hidden layers)."""
        x = x.reshape((x.shape[0], *self.input_shape))
        for layer in self.layers[: last + 1]:
            x = layer.forward(x, False)
        return x

    def backward(self, dy: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dy: d(loss)/d(output) -> d(loss)/d(input), writing every layer's grads on the way.

        input_grad=False (training: the input is data) returns None and skips the work that only the input
        gradient needs: the layers before the first one with parameters, and that layer's own dx (figures in
        benchmarks/README.md).
        """
        first = next((i for i, layer in enumerate(self.layers) if layer.params), len(self.layers))
        if first < len(self.layers):
            self.layers[first].needs_input_grad = input_grad  # read by dense and conv2d
        for start, step in reversed(self._steps):
            if start < first and not input_grad:
                break  # a fused block starts with its conv2d or dense, so none straddles `first`
            dy = step.backward(dy)
        return dy if input_grad else None

    def predict_logits(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        outputs = [self.forward(x[i : i + batch_size], train=False).copy() for i in range(0, len(x), batch_size)]
        return np.concatenate(outputs) if outputs else np.zeros((0, *self.output_shape), self.dtype)

    # --- parameters ---------------------------------------------------------------------------
    def param_key(self, index: int, layer: Layer, name: str) -> str:
        return f"{index:02d}.{layer.name or layer.type_name}.{name}"

    def params(self, weight_decay: float = 0.0, decay_bias: bool = False) -> list[Param]:
        """Every trainable array with its gradient; weight decay goes to each layer's `decayed` params."""
        out = []
        for index, layer in enumerate(self.layers):
            for name, value in layer.params.items():
                decayed = decay_bias or name in layer.decayed
                out.append(
                    Param(
                        self.param_key(index, layer, name), value, layer.grads[name], weight_decay if decayed else 0.0
                    )
                )
        return out

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Parameters and buffers under their model.npz keys."""
        arrays = {}
        for index, layer in enumerate(self.layers):
            for name, value in {**layer.params, **layer.buffers}.items():
                arrays[self.param_key(index, layer, name)] = value
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray], source: str = "weights") -> None:
        """Copy arrays into the model in place, checking that keys and shapes match exactly."""
        own = self.state_arrays()
        missing = sorted(set(own) - set(arrays))
        unexpected = sorted(set(arrays) - set(own) - {CONFIG_KEY})
        if missing or unexpected:
            raise RunError(
                f"{source} does not match the model: missing {missing or 'none'}, unexpected {unexpected or 'none'}",
                hint="the weights were saved from a different architecture; use the config saved beside them",
            )
        for key, target in own.items():
            if arrays[key].shape != target.shape:
                raise RunError(f"{source}: '{key}' has shape {arrays[key].shape}, the model expects {target.shape}")
            np.copyto(target, arrays[key], casting="same_kind")

    def num_params(self) -> int:
        return sum(layer.num_params() for layer in self.layers)

    def summary(self) -> list[LayerSummary]:
        rows = []
        for index, layer in enumerate(self.layers):
            rows.append(
                LayerSummary(
                    index=index,
                    label=layer.describe(),
                    output_shape=layer.output_shape,
                    params=layer.num_params(),
                    flops=layer.flops(),
                    activation_bytes=layer.activation_elements() * self.dtype.itemsize,
                )
            )
        return rows

    def get_config(self) -> list[dict[str, Any]]:
        return [layer.get_config() for layer in self.layers]


def save_model(model: Sequential, path: str | Path, model_config: dict[str, Any]) -> None:
    """Write model.npz atomically: every parameter and buffer plus the model section as JSON."""
    arrays = dict(model.state_arrays())
    arrays[CONFIG_KEY] = np.array(json.dumps(model_config, sort_keys=True))
    atomic_savez(path, arrays)


def load_model(path: str | Path, dtype: str | None = None) -> Sequential:
    """Rebuild a model from a model.npz alone (its embedded config) and load its weights."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"no weights file at {path}", hint="train a model first, or point at a run folder's model.npz")
    arrays = read_npz(path)
    if CONFIG_KEY not in arrays:
        raise RunError(f"{path} has no {CONFIG_KEY} entry", hint="it was not written by nnrun")
    model_config = json.loads(str(arrays[CONFIG_KEY]))
    stored_dtype = next(a.dtype for k, a in arrays.items() if k != CONFIG_KEY) if len(arrays) > 1 else np.float32
    model = Sequential.from_config(model_config, dtype=dtype or stored_dtype)
    model.load_state_arrays(arrays, source=str(path))
    return model


def check_fits(model: Sequential, loss: Any, data_shape: Shape, num_classes: int) -> None:
    """A ShapeError unless the data's examples fit model.input_shape and the last layer gives what `loss` needs."""
    data_shape, model_shape = tuple(data_shape), model.input_shape
    if math.prod(data_shape) != math.prod(model_shape) or (data_shape != model_shape and len(model_shape) > 1):
        flat = f" (or [{math.prod(data_shape)}] for an MLP)" if len(data_shape) > 1 else ""
        raise ShapeError(
            f"the data has examples of shape {data_shape} but model.input_shape is {list(model_shape)}",
            where="model.input_shape",
            hint=f"set model.input_shape to {list(data_shape)}{flat}",
        )
    expected = loss.output_units(num_classes)
    if model.output_shape != (expected,):
        raise ShapeError(
            f"the last layer gives {model.output_shape} outputs per example but {loss.type_name} on "
            f"{num_classes} classes needs ({expected},)",
            where=f"model.layers[{len(model.layers) - 1}]",
            hint=f"make the last layer a dense layer with units: {expected}",
        )
