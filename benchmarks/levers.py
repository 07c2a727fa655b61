"""A/B timings of nnrun's speed levers on one training step of the benchmark models (benchmarks/README.md).

    python benchmarks/levers.py cnn7 --reps 12

Every variant is a model of its own; they run in turn, 5 steps each, `--reps` times, in one process, so
they see the same machine. A step is forward, loss, backward and Adam on one random batch (no data
loading or bookkeeping); the figure is the median ms per step.
"""

from __future__ import annotations

# nnrun before numpy: its import sets the thread pools' waits that OpenBLAS reads when numpy loads it
import nnrun  # noqa: F401  # isort: skip
import argparse
import statistics
import time

import numpy as np

import nnrun.layers.conv_im2col as conv_im2col
from nnrun.bench import MODELS
from nnrun.layers.conv import Conv2D
from nnrun.losses import SoftmaxCrossEntropy
from nnrun.model import Sequential
from nnrun.optimizers import Adam
from nnrun.runtime import configure_threads


def variant(model: str, input_grad: bool = False, chunk: int = conv_im2col.CHUNK_ELEMENTS, unfolded: bool = False):
    """A step function for `model`: with or without the input gradient, an im2col chunk size, im2col forced."""
    spec = MODELS[model]
    rng = np.random.default_rng(0)
    x = rng.random((spec["batch_size"], *spec["input_shape"]), dtype=np.float32)
    y = rng.integers(0, 10, spec["batch_size"])
    network = Sequential.from_config({"input_shape": spec["input_shape"], "layers": spec["layers"]})
    if unfolded:  # im2col + BLAS instead of the direct kernels
        for layer in network.layers:
            if isinstance(layer, Conv2D):
                layer.engine = layer.im2col
    optimizer = Adam(1e-3)
    optimizer.setup(network.params())
    loss = SoftmaxCrossEntropy()

    def step() -> None:
        conv_im2col.CHUNK_ELEMENTS = chunk
        _, dlogits = loss.value_and_grad(network.forward(x, train=True), y)
        network.backward(dlogits, input_grad=input_grad)
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--reps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    configure_threads(args.threads)
    default = conv_im2col.CHUNK_ELEMENTS
    variants = {"input grad": variant(args.model, input_grad=True), "no input grad": variant(args.model)}
    if args.model != "mlp":
        variants["no input grad, im2col"] = variant(args.model, unfolded=True)
        variants[f"no input grad, im2col, {(default << 2) * 4 // 2**20} MB chunks"] = variant(
            args.model, chunk=default << 2, unfolded=True
        )
    times: dict[str, list[float]] = {name: [] for name in variants}
    for step in variants.values():
        for _ in range(5):  # compile and allocate
            step()
    for _ in range(args.reps):
        for name, step in variants.items():
            tick = time.perf_counter()
            for _ in range(5):
                step()
            times[name].append((time.perf_counter() - tick) / 5 * 1000)
    for name, values in times.items():
        print(f"{args.model} {name}: {statistics.median(values):.2f} ms/step")


if __name__ == "__main__":
    main()
