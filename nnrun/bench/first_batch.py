"""The first-batch child of `nnrun bench`: `nnrun.train` until its first batch ends, then the time, and exit.

    python -m nnrun.bench.first_batch CONFIG OUT [synthetic]

It runs what `nnrun train CONFIG --quiet --out OUT` runs, without the CLI's own start-up, and prints one
JSON line {"at": time.perf_counter(), "jit_seconds": ...}; nnrun.bench.timing.first_batch reads it.
"""

from __future__ import annotations

import json
import os
import sys
import time

from nnrun.bench.worker import register_synthetic
from nnrun.runs.progress import Silent
from nnrun.runs.trainer import train


class FirstBatch(Silent):
    """A reporter that records the JIT warm-up and, when the first batch ends, prints the time and exits."""

    def __init__(self) -> None:
        self.jit_seconds: float | None = None

    def compiled(self, seconds: float) -> None:
        self.jit_seconds = seconds

    def batch(self, loss: float, acc: float, samples: int) -> None:
        print(json.dumps({"at": time.perf_counter(), "jit_seconds": self.jit_seconds}), flush=True)
        os._exit(0)  # at once: no rest of the epoch, no run files


def main(config: str, out: str, synthetic: bool) -> None:
    if synthetic:
        register_synthetic()
    train(config, out=out, reporter=FirstBatch())


if __name__ == "__main__":
    config, out, *rest = sys.argv[1:]
    main(config, out, synthetic=rest == ["synthetic"])
