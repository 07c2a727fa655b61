"""Training speed of nnrun beside PyTorch: `python benchmarks/bench.py --help` (the same as `nnrun bench`).

The harness lives in the package nnrun/bench/ so that the installed `nnrun bench` verb has it too.
"""

import typer

from nnrun.cli.bench import bench

if __name__ == "__main__":
    typer.run(bench)
