"""The benchmark's networks in JAX, built from the same nnrun layer lists (nnrun.bench.MODELS).

Imported only by the benchmark's jax worker (nnrun.bench.worker) and the tests, so jax stays optional
(`pip install 'nnrun[bench]'`). Weights start as nnrun's defaults do (Xavier-uniform, zero biases), float32.

The network takes nnrun's NCHW batches and turns them into NHWC once, at the input: XLA's CPU convolutions
and pools ran faster channels-last (benchmarks/README.md, "JAX"). The first flatten then orders a dense
layer's inputs (H, W, C) rather than nnrun's (C, H, W): the same network, its rows permuted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

Params = list[dict[str, jax.Array]]  # per layer {"weight": ..., "bias": ...}, or {} for a layer without any


class Network(NamedTuple):
    """init(key) -> params; apply(params, x, key) -> logits, in training mode (dropout draws from key)."""

    init: Callable[[jax.Array], Params]
    apply: Callable[[Params, jax.Array, jax.Array], jax.Array]


def pair(value: int | list[int] | tuple[int, int]) -> tuple[int, int]:
    """An int or an (h, w) pair as an (h, w) tuple of ints, as nnrun's layers read their sizes."""
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def build(layers: list[dict], input_shape: list[int], data_shape: tuple[int, ...]) -> Network:
    """The Network for an nnrun layer list taking examples of `data_shape` (flattened if input_shape is flat).

    Supports conv2d (any stride; padding "valid", "same" by TensorFlow's rule, which is XLA's "SAME", or
    zeros per side), relu, maxpool2d (no padding, windows that do not fit dropped), dropout, flatten and
    dense, each with nnrun's use_bias.
    """
    flat_input = len(input_shape) == 1 and tuple(data_shape) != tuple(input_shape)
    shape = (math.prod(data_shape),) if flat_input else (*data_shape[1:], data_shape[0])  # one example, HWC
    plan: list[tuple[str, dict[str, Any]]] = []  # (layer type, what apply needs), in order
    for spec in layers:
        kind, step = spec["type"], {}
        if kind == "conv2d":
            (kh, kw), stride, padding = pair(spec["kernel"]), pair(spec.get("stride", 1)), spec.get("padding", "valid")
            padding = padding.upper() if isinstance(padding, str) else tuple((p, p) for p in pair(padding))
            step = {"weight": (kh, kw, shape[-1], spec["filters"]), "bias": spec.get("use_bias", True)}
            step |= {"stride": stride, "padding": padding}
            shape = jax.eval_shape(
                lambda x, w: conv(x, w, stride, padding),
                jax.ShapeDtypeStruct((1, *shape), jnp.float32),
                jax.ShapeDtypeStruct(step["weight"], jnp.float32),
            ).shape[1:]
        elif kind == "maxpool2d":
            size = pair(spec.get("size", 2))
            stride = pair(spec["stride"]) if spec.get("stride") is not None else size
            step = {"window": (1, *size, 1), "strides": (1, *stride, 1)}
            shape = (*((n - k) // s + 1 for n, k, s in zip(shape[:2], size, stride)), shape[-1])
        elif kind == "flatten":
            shape = (math.prod(shape),)
        elif kind == "dense":
            step = {"weight": (math.prod(shape), spec["units"]), "bias": spec.get("use_bias", True)}
            shape = (spec["units"],)
        elif kind == "dropout":
            step = {"rate": float(spec.get("rate", 0.5))}
        elif kind != "relu":
            raise ValueError(f"no jax equivalent for layer type {kind!r}")
        plan.append((kind, step))

    def init(key: jax.Array) -> Params:
        params = []
        for (_, step), subkey in zip(plan, jax.random.split(key, len(plan))):
            entry = {}
            if "weight" in step:
                # Xavier-uniform: fans from the last two axes (in, out) times the kernel's size, as nnrun's
                entry["weight"] = jax.nn.initializers.glorot_uniform()(subkey, step["weight"], jnp.float32)
                if step["bias"]:
                    entry["bias"] = jnp.zeros(step["weight"][-1], jnp.float32)
            params.append(entry)
        return params

    def apply(params: Params, x: jax.Array, key: jax.Array) -> jax.Array:
        """Logits (N, classes) of x: (N, *data_shape) float32, with dropout on."""
        x = x.reshape(x.shape[0], -1) if flat_input else x
        if x.ndim == 4:
            x = jnp.transpose(x, (0, 2, 3, 1))
        for (kind, step), p, subkey in zip(plan, params, jax.random.split(key, len(plan))):
            if kind == "conv2d":
                x = conv(x, p["weight"], step["stride"], step["padding"])
            elif kind == "dense":
                x = x.reshape(x.shape[0], -1) @ p["weight"]
            elif kind == "relu":
                x = jax.nn.relu(x)
            elif kind == "maxpool2d":
                x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, step["window"], step["strides"], "VALID")
            elif kind == "flatten":
                x = x.reshape(x.shape[0], -1)
            elif kind == "dropout" and step["rate"] > 0:
                keep = jax.random.bernoulli(subkey, 1.0 - step["rate"], x.shape)
                x = jnp.where(keep, x / (1.0 - step["rate"]), 0.0)
            if "bias" in p:
                x = x + p["bias"]
        return x

    return Network(init, apply)


def conv(x: jax.Array, weight: jax.Array, stride: tuple[int, int], padding) -> jax.Array:
    """Cross-correlation, as nnrun's conv2d, channels-last: x (N, H, W, C), weight (kh, kw, C, F)."""
    return jax.lax.conv_general_dilated(x, weight, stride, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


def num_params(params: Params) -> int:
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))


def train_step(network: Network, optimizer: optax.GradientTransformation):
    """One jitted training step (params, opt_state, x, y, key) -> (params, opt_state, mean loss).

    x: float32 (N, *data_shape), y: int32 (N,) class indices, key: this step's PRNG key (for dropout).
    Mean softmax cross-entropy, as nnrun's softmax_cross_entropy and torch's CrossEntropyLoss.
    """

    def loss_fn(params, x, y, key):
        logits = network.apply(params, x, key)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def step(params, opt_state, x, y, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    # No buffer donation (donate_argnums): donating params and opt_state slowed the CNNs' steps on the CPU
    # (benchmarks/README.md, "JAX").
    return jax.jit(step)
