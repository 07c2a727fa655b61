"""The roofline of a training step: each op's FLOPs and bytes, and the time a machine's peak and bandwidth allow.

An op is one layer's forward, input gradient or weight gradient, the loss, or Adam's update. Its time on
the roofline is the larger of FLOPs / sgemm peak and bytes / memory bandwidth; a step's is the sum over
its ops. The bytes are each op's compulsory traffic: every input read once and every output written once,
as if all reuse within the op hit the cache (a GEMM's tiles, a convolution's overlapping windows; no im2col
buffer is counted). Every byte is counted at the memory bandwidth, also where an op's working set fits the
cache, so an op can beat its line. benchmarks/README.md ("The roofline") has the model and the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

ADAM_STREAMS = 7  # Adam reads parameter, gradient, m and v, and writes parameter, m and v
FREE = ("flatten", "identity")  # reshapes: a view of the same memory, no op
POOLS = ("maxpool2d", "avgpool2d")


@dataclass(frozen=True)
class Op:
    """One op of a training step: its floating-point operations and the bytes it must read and write."""

    name: str
    flops: int
    bytes: int


def step_ops(model, batch_size: int) -> list[Op]:
    """The ops of one training step of `model` (a built Sequential) on `batch_size` examples, with Adam.

    In running order: every layer's forward, the softmax cross-entropy loss, every layer's backward from the
    last, Adam over all parameters. As in `Sequential.backward(dy, input_grad=False)`, the layers before the
    first one with parameters have no backward, and that layer has a weight gradient but no input gradient.
    Elementwise ops, pooling, the loss and Adam are pure bandwidth: their FLOPs count as 0 (a few per 8 to
    28 bytes, far below what the peak would need to matter). Raises ValueError for a layer without a model.
    """
    size = model.dtype.itemsize
    first = next((i for i, layer in enumerate(model.layers) if layer.params), len(model.layers))
    forward, backward = [], []
    for index, layer in enumerate(model.layers):
        ahead, back = layer_ops(layer, batch_size, size, input_grad=index > first)
        forward += ahead
        if index >= first:
            backward = back + backward
    logits = batch_size * math.prod(model.output_shape)
    loss = Op("softmax cross-entropy", 0, 2 * logits * size)  # reads the logits, writes their gradient
    update = Op("adam", 0, ADAM_STREAMS * model.num_params() * size)
    return [*forward, loss, *backward, update]


def layer_ops(layer, n: int, size: int, input_grad: bool) -> tuple[list[Op], list[Op]]:
    """(forward ops, backward ops) of one layer on n examples of `size`-byte values."""
    x, y = n * math.prod(layer.input_shape), n * math.prod(layer.output_shape)  # values in and out
    params = layer.num_params()
    kind = layer.type_name
    name = label(layer)
    if kind in FREE:
        return [], []
    if kind in ("dense", "conv2d"):
        # flops() is 2 per multiply-add plus one add per output for the bias; the input gradient has no bias
        flops = n * layer.flops()
        matmul = flops - (y if "bias" in layer.params else 0)
        weight = layer.params["weight"].size
        back = [Op(f"{name} weight grad", flops, (x + y + params) * size)]  # reads x and dy, writes the grads
        if input_grad:
            back.append(Op(f"{name} input grad", matmul, (y + weight + x) * size))  # reads dy and W, writes dx
        return [Op(f"{name} forward", flops, (x + params + y) * size)], back
    if kind in POOLS:
        # max: backward finds each window's winner in x again, as XLA does; for a 2x2 window reading x costs
        # what writing and reading an int64 argmax per output does
        again = x if kind == "maxpool2d" else 0
        return [Op(f"{name} forward", 0, (x + y) * size)], [Op(f"{name} backward", 0, (y + again + x) * size)]
    if layer.output_shape == layer.input_shape:
        # elementwise (relu, dropout, softmax, batchnorm): forward reads x, writes y; backward reads x and dy,
        # writes dx; any parameters are read forward and their gradients written backward
        forward = Op(f"{name} forward", 0, (x + params + y) * size)
        return [forward], [Op(f"{name} backward", 0, (2 * x + y + 2 * params) * size)]
    raise ValueError(f"the roofline has no model of layer {layer.describe()} ({kind})")


def label(layer) -> str:
    """A layer as the roofline names it: its type and the shapes that set its cost."""
    if layer.type_name == "dense":
        return f"dense {layer.input_shape[0]}->{layer.units}"
    if layer.type_name == "conv2d":
        kh, kw = layer.params["weight"].shape[2:]
        return f"conv2d {layer.input_shape[0]}->{layer.filters} {kh}x{kw}"
    return f"{layer.type_name} {'x'.join(str(d) for d in layer.input_shape)}"


def roofline(ops: list[Op], peak_gflops: float, bandwidth_gbs: float) -> dict[str, Any]:
    """Seconds per step on the roofline: each op's max(FLOPs / peak, bytes / bandwidth), summed.

    Also the totals of the compute-bound and the memory-bound ops, and every op with its own time and bound.
    """
    rows = []
    for op in ops:
        compute, memory = op.flops / (peak_gflops * 1e9), op.bytes / (bandwidth_gbs * 1e9)
        rows.append({
            "op": op.name, "flops": op.flops, "bytes": op.bytes, "seconds": max(compute, memory),
            "bound": "compute" if compute > memory else "memory",
        })  # fmt: skip
    return {
        "seconds_per_step": sum(row["seconds"] for row in rows),
        "compute_bound_seconds": sum(row["seconds"] for row in rows if row["bound"] == "compute"),
        "memory_bound_seconds": sum(row["seconds"] for row in rows if row["bound"] == "memory"),
        "flops_per_step": sum(op.flops for op in ops),
        "bytes_per_step": sum(op.bytes for op in ops),
        "ops": rows,
    }
