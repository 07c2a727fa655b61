"""Where a benchmark model's training step goes: each op's ms per step inside the real step, beside its roofline.

    python benchmarks/step_ops.py cnn --batches 600

The step is the one `nnrun bench` times (the Trainer's train_step on Fashion-MNIST, or random images of
its shape where it is not installed). Every forward and backward step of the model (a layer, or a fused
block such as conv2d -> relu -> maxpool2d), the loss and the optimizer are timed with perf_counter around
their calls; "the rest" is the step's own bookkeeping and the batch's loading. The roofline column sums
the roofline's ops (nnrun.bench.roofline) of the layers each step runs. The timers cost about a
microsecond per call, far below any op here.
"""

from __future__ import annotations

# nnrun before numpy: its import sets the thread pools' waits that OpenBLAS reads when numpy loads it
import nnrun  # noqa: F401  # isort: skip
import argparse
import itertools
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from nnrun.bench.bandwidth import triad_bandwidth
from nnrun.bench.models import MODELS
from nnrun.bench.roofline import ADAM_STREAMS, Op, label, layer_ops, roofline
from nnrun.bench.timing import sgemm_peak
from nnrun.bench.worker import setup_nnrun
from nnrun.data import batches


def timed(totals: dict[str, float], name: str, call):
    def wrapper(*args, **kwargs):
        tick = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - tick

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nnrun-step-ops-") as scratch:
        data_kind = "synthetic" if args.synthetic else "auto"
        step, info = setup_nnrun(args.model, args.threads, data_kind, Path(scratch))
        trainer = step.__self__
        model, batch_size = trainer.model, trainer.batch_size
        totals: dict[str, float] = defaultdict(float)
        size = model.dtype.itemsize
        first = next((i for i, layer in enumerate(model.layers) if layer.params), len(model.layers))
        line_ops: dict[str, list[Op]] = {}  # each timed call's name -> the roofline ops it runs
        forward, backward = [], []
        for start, part in model._steps:
            layers = getattr(part, "layers", [part])
            name = " + ".join(label(layer) for layer in layers)
            ahead, back = [], []
            for index, layer in enumerate(layers, start):
                more, less = layer_ops(layer, batch_size, size, input_grad=index > first)
                ahead, back = ahead + more, back + less
            if not ahead:  # a reshape
                continue
            part.forward = timed(totals, f"{name} forward", part.forward)
            forward.append(f"{name} forward")
            line_ops[f"{name} forward"] = ahead
            if start >= first:
                part.backward = timed(totals, f"{name} backward", part.backward)
                backward.insert(0, f"{name} backward")
                line_ops[f"{name} backward"] = back
        trainer.loss.value_and_grad = timed(totals, "loss", trainer.loss.value_and_grad)
        trainer.optimizer.step = timed(totals, "adam", trainer.optimizer.step)
        line_ops["loss"] = [Op("loss", 0, 2 * batch_size * int(np.prod(model.output_shape)) * size)]
        line_ops["adam"] = [Op("adam", 0, ADAM_STREAMS * model.num_params() * size)]
        rows = [*forward, "loss", *backward, "adam"]

        shuffle = np.random.default_rng(0)
        # epoch after epoch, as a run draws them: the steps timed may run past the first epoch's end
        stream = (
            batch for _ in itertools.count() for batch in batches(info["split"], batch_size, np.float32, rng=shuffle)
        )
        for _, (xb, yb) in zip(range(args.warmup), stream):
            step(xb, yb)
        totals.clear()
        tick = time.perf_counter()
        for _, (xb, yb) in zip(range(args.batches), stream):
            step(xb, yb)
        whole = time.perf_counter() - tick

    peak, bandwidth = sgemm_peak(args.threads), triad_bandwidth(args.threads)
    print(f"{args.model}: {args.batches} steps of batch {batch_size}, {args.threads} threads; "
          f"sgemm {peak:.0f} GFLOP/s, triad {bandwidth:.1f} GB/s")  # fmt: skip
    print(f"{'op':<58} {'ms/step':>8} {'roofline':>8} {'%':>5}")
    for name in rows:
        ms = 1e3 * totals[name] / args.batches
        line = 1e3 * roofline(line_ops[name], peak, bandwidth)["seconds_per_step"]
        print(f"{name:<58} {ms:8.3f} {line:8.3f} {100 * line / ms if ms else 0:5.0f}")
    rest = 1e3 * (whole - sum(totals.values())) / args.batches
    all_ops = [op for name in rows for op in line_ops[name]]
    line = 1e3 * roofline(all_ops, peak, bandwidth)["seconds_per_step"]
    print(f"{'the rest (bookkeeping, the batch)':<58} {rest:8.3f}")
    print(
        f"{'whole step':<58} {1e3 * whole / args.batches:8.3f} {line:8.3f} {100 * line / (1e3 * whole / args.batches):5.0f}"
    )


if __name__ == "__main__":
    main()
