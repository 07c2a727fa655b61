"""How long `nnrun runs` takes over many folders, as a whole process (issue 26: under 1 s for 500 runs).

    python benchmarks/runs_table.py [--runs 500] [--sweeps 0] [--trials 12] [--reps 7] [--template RUN_DIR]
                                    [--keep DIR]

Writes --runs run folders into a temporary folder (or --keep DIR): a template run's summary.json and
config.yaml, with the name (one of four), seed, epochs, status, accuracies and start time varied, and a
learning rate of its own (no two configs alike: the most work for the labels), and nothing else
(`nnrun runs` reads only those two files). --sweeps adds sweep folders of --trials trials each: sweep.yaml,
trials.csv, summary.csv and each trial's summary.json and config.yaml. Without --template it trains one
(configs/quickstart.yaml, one epoch).

It then times `nnrun runs DIR`, `nnrun runs DIR --json` and `nnrun --help`, each the median of --reps runs
after a warm-up, wall and CPU seconds, and prints them as JSON with the machine and its load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from nnrun.io import csv_text, dump_yaml
from nnrun.results import SUMMARY_COLUMNS, TRIAL_COLUMNS
from nnrun.runtime import machine

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("quickstart", "moons", "fashion_mlp", "digits_cnn")
STATUSES = ["completed"] * 14 + ["early_stopped"] * 3 + ["failed", "interrupted", "running"]
RATES = (0.0003, 0.001, 0.003, 0.01)


def template_run(folder: Path) -> Path:
    """A real run folder to copy from: a one-epoch quickstart."""
    out = folder / "template"
    command = [sys.executable, "-m", "nnrun", "train", str(ROOT / "configs/quickstart.yaml"), "--set",
               "train.epochs=1", "--out", str(out), "--no-plot", "--quiet"]  # fmt: skip
    subprocess.run(command, check=True)
    return out


def write_run(path: Path, summary: dict, config: dict, rng: random.Random, started: datetime, name: str) -> None:
    """A copy of the template's two files with the name, learning rate, seed, epochs, status and times varied."""
    config = json.loads(json.dumps(config))
    summary = json.loads(json.dumps(summary))
    lr, seed, epochs = round(10 ** rng.uniform(-4, -1.5), 6), rng.randrange(3), rng.choice((5, 10, 20, 30))
    config.update(name=name, seed=seed)
    config["optimizer"]["lr"] = lr
    config["train"]["epochs"] = epochs
    accuracy = 0.80 + 0.19 * rng.random()
    best = {**(summary.get("best") or {}), "epoch": epochs, "val_acc": accuracy, "test_acc": accuracy - 0.01}
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    summary.update(
        name=name, run_dir=str(path), status=rng.choice(STATUSES), epoch=epochs, best=best, last=best, seed=seed,
        started_at=started.strftime(stamp),
        updated_at=(started + timedelta(seconds=rng.uniform(5, 4000))).strftime(stamp),
    )  # fmt: skip
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(dump_yaml(config))
    (path / "summary.json").write_text(json.dumps(summary, indent=2))


def write_sweep(path: Path, summary: dict, config: dict, rng: random.Random, started: datetime, trials: int) -> None:
    """A finished grid over the learning rate with `trials` trials (seeds over the points), its tables written as
    nnrun sweep writes them."""
    seeds = max(1, trials // len(RATES))
    spec = {"method": "grid", "parameters": {"optimizer.lr": list(RATES)}, "seeds": list(range(seeds)),
            "metric": {"name": "val_acc", "goal": "max", "at": "best"}, "schedule": None}  # fmt: skip
    saved = {"source": "sweep.yaml", "overrides": [], "spec": spec, "base": config, "config": config}
    path.mkdir(parents=True)
    (path / "sweep.yaml").write_text(dump_yaml(saved))
    rows = []
    for index in range(trials):
        trial = f"{index:012x}"
        point, seed = index % len(RATES) + 1, index // len(RATES)
        write_run(
            path / "trials" / trial, summary, config, rng, started + timedelta(seconds=30 * index), config["name"]
        )
        rows.append({"trial": trial, "point": point, "seed": seed, "optimizer.lr": RATES[point - 1],
                     "status": "completed", "best_val_acc": rng.random(), "run_dir": f"trials/{trial}"})  # fmt: skip
    columns = TRIAL_COLUMNS[:3] + ["optimizer.lr"] + TRIAL_COLUMNS[3:]
    (path / "trials.csv").write_text(csv_text(columns, rows))
    points = [{"point": p, "optimizer.lr": lr, "seeds": seeds, "failed": 0, "val_acc_mean": 0.9 + p / 100,
               "test_acc_mean": 0.89 + p / 100, "epoch_mean": 10.0, "best": int(p == 2)}
              for p, lr in enumerate(RATES, start=1)]  # fmt: skip
    (path / "summary.csv").write_text(csv_text(SUMMARY_COLUMNS[:1] + ["optimizer.lr"] + SUMMARY_COLUMNS[1:], points))


def populate(folder: Path, template: Path, runs: int, sweeps: int, trials: int) -> None:
    summary = json.loads((template / "summary.json").read_text())
    config = yaml.safe_load((template / "config.yaml").read_text())
    rng = random.Random(0)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for index in range(runs):
        name = NAMES[index % len(NAMES)]
        started = start + timedelta(minutes=37 * index)
        write_run(folder / name / f"{started:%Y%m%d-%H%M%S}-{index:06x}", summary, config, rng, started, name)
    for index in range(sweeps):
        name = NAMES[index % len(NAMES)]
        write_sweep(folder / name / f"sweep-{index:08x}", summary, {**config, "name": name}, rng, start, trials)


def timed(command: list[str], reps: int) -> dict[str, float]:
    """The median wall and CPU (user + system) seconds of `command` as a process, after a warm-up that puts
    the files in the page cache. CPU seconds move less than wall seconds on a machine others share."""
    subprocess.run(command, check=True, capture_output=True)
    walls, cpus = [], []
    for _ in range(reps):
        before, tick = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env={**os.environ, "COLUMNS": "80"})
        walls.append(time.perf_counter() - tick)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"wall": round(statistics.median(walls), 3), "cpu": round(statistics.median(cpus), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--sweeps", type=int, default=0)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--template", type=Path, help="a run folder to copy (default: train a quickstart epoch)")
    parser.add_argument("--keep", type=Path, help="write the folders here and keep them (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch) / "results"
        template = args.template or template_run(Path(scratch))
        populate(folder, template, args.runs, args.sweeps, args.trials)
        nnrun = [sys.executable, "-m", "nnrun"]
        result = {
            "runs": args.runs, "sweeps": args.sweeps, "trials": args.trials, "reps": args.reps,
            "table_seconds": timed([*nnrun, "runs", str(folder)], args.reps),
            "json_seconds": timed([*nnrun, "runs", str(folder), "--json"], args.reps),
            "help_seconds": timed([*nnrun, "--help"], args.reps),
            "machine": machine(),
            "load_average": os.getloadavg(),
        }  # fmt: skip
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
