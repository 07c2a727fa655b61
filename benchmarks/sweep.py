"""Sweep throughput (benchmarks/README.md, "Sweeps"): workers 1 against 2, and report 003's grid projected.

    python benchmarks/sweep.py scaling --rounds 6 [--epochs 200]
    python benchmarks/sweep.py grid

scaling: eight small trials (the quickstart MLP on the digits, 4 learning rates x 2 seeds, 200 epochs by default,
about 2 s each, which a second thread does not speed up) as one sweep with --workers 1 and with --workers 2, alternating, each into a fresh folder; the figure is the
wall time of the whole sweep, process starts and the driver's compile included.

grid: report 003's MLP shape (3072 inputs, 10 classes, batch 400, 3000 steps, an evaluation every 100
steps) on random uint8 data of CIFAR-10's shape (45,000 train, 5,000 val, 10,000 test). A sample of hidden
compositions runs as one sweep with 2 workers; seconds per trial are fitted against the compositions'
weight counts (a + b * weights) and summed over the full grid's compositions.
"""

from __future__ import annotations

# nnrun before numpy: its import sets the thread pools' waits that OpenBLAS reads when numpy loads it
import nnrun  # noqa: F401  # isort: skip
import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from nnrun.bench.timing import machine
from nnrun.sweeps.run import sweep

HERE = Path(__file__).resolve().parent
WIDTHS = (100, 200, 400)
COMPOSITIONS = [list(c) for depth in (1, 2, 3) for c in itertools.product(WIDTHS, repeat=depth)]  # 39
SAMPLE = [[100], [400], [200, 200], [400, 400], [100, 400, 100], [400, 100, 400], [200, 200, 200], [400, 400, 400]]


def scaling_config(epochs: int = 200) -> dict:
    return {
        "name": "scaling",
        "data": {"dataset": "digits", "val": 0.15, "test": 0.2},
        "model": {"input_shape": [64], "layers": [{"type": "dense_stack", "units": [128], "name": "hidden"},
                                                  {"type": "dense", "units": 10}]},
        "optimizer": {"type": "adam", "lr": 0.001},
        "train": {"epochs": epochs, "batch_size": 32},
        "sweep": {"parameters": {"optimizer.lr": [3e-4, 1e-3, 3e-3, 1e-2]}, "seeds": [0, 1]},
    }  # fmt: skip


def scaling(rounds: int, epochs: int) -> dict:
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(rounds):
            for workers in (1, 2) if index % 2 == 0 else (2, 1):
                tick = time.perf_counter()
                result = sweep(scaling_config(epochs), out=Path(tmp) / f"w{workers}-{index}", workers=workers)
                times[workers].append(time.perf_counter() - tick)
                assert not result.failed, result.failed
                print(f"workers {workers}: {times[workers][-1]:.1f} s", flush=True)
    pairs = [one / two for one, two in zip(times[1], times[2])]
    return {"epochs": epochs, "seconds": times, "speedup_per_round": pairs, "speedup_median": statistics.median(pairs)}


def weights(units: list[int]) -> int:
    sizes = [3072, *units, 10]
    return sum(a * b for a, b in zip(sizes, sizes[1:]))


def cifar_shaped(folder: Path) -> Path:
    """An .npz of random uint8 images of CIFAR-10's shape: 50,000 train and 10,000 test, 10 classes."""
    rng = np.random.default_rng(0)
    data = folder / "cifar_shape.npz"
    np.savez(
        data,
        x_train=rng.integers(0, 256, (50000, 3, 32, 32), dtype=np.uint8),
        y_train=rng.integers(0, 10, 50000),
        x_test=rng.integers(0, 256, (10000, 3, 32, 32), dtype=np.uint8),
        y_test=rng.integers(0, 10, 10000),
    )
    return data


def grid(trials: list[list[int]]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = cifar_shaped(Path(tmp))
        config = {
            "name": "grid",
            "data": {"dataset": "npz", "path": str(data), "val": 5000},
            "model": {"input_shape": [3072], "layers": [{"type": "dense_stack", "units": [100], "name": "hidden"},
                                                        {"type": "dense", "units": 10}]},
            "optimizer": {"type": "adam", "lr": 2e-3},
            "train": {"max_steps": 3000, "batch_size": 400, "eval_every": 100},
            "sweep": {"parameters": {"model.hidden.units": trials}},
        }  # fmt: skip
        tick = time.perf_counter()
        result = sweep(config, out=Path(tmp) / "sweep", workers=2)
        wall = time.perf_counter() - tick
    per_trial = {json.dumps(row["model.hidden.units"]): row["seconds"] for row in result.trials}
    x = np.array([weights(units) for units in trials], dtype=float)
    y = np.array([per_trial[json.dumps(units)] for units in trials])
    slope, intercept = np.polyfit(x, y, 1)
    per_grid_pass = sum(intercept + slope * weights(units) for units in COMPOSITIONS)  # one (optimizer, lr)
    # 9 (optimizer, lr) pairs per composition; two workers share the trials
    return {
        "sample_wall_seconds": wall,
        "sample_trial_seconds": per_trial,
        "fit": {"intercept": intercept, "slope_per_weight": slope},
        "grid_351_hours_2_workers": 9 * per_grid_pass / 2 / 3600,
        "grid_486_hours_2_workers": 486 / 351 * 9 * per_grid_pass / 2 / 3600,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["scaling", "grid"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=200, help="scaling: epochs of each trial")
    args = parser.parse_args()
    figures = scaling(args.rounds, args.epochs) if args.what == "scaling" else grid(SAMPLE)
    figures["machine"] = machine()
    name = f"sweep-scaling-{args.epochs}epochs" if args.what == "scaling" else "sweep-grid"
    out = HERE / "results" / f"{name}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
