"""Successive halving against the full grid (benchmarks/README.md, "Halving"), and the planning overhead.

    python benchmarks/halving.py study [--grid 81|351] [--seeds 0 1] [--workers 2] [--min 100] [--eta 3]
    python benchmarks/halving.py project [--reuse]
    python benchmarks/halving.py plan [--trials 15000]

study: report 003's grid on Fashion-MNIST (configs/reports/003_grid.yaml: 3 optimizers x 3 rates x 9
hidden compositions, 1500 steps of batch 200, an evaluation every 100 steps; or the 351 points of
configs/studies/optimizer_grid.yaml), once as the full grid and once with halving, each a sweep into
results/bench-halving/<grid>-<full|halving>/ (kept: run again, it resumes and trains nothing twice). It
reports each one's wall time (summed over the invocations that ran it) and steps trained, the best point of
each, and the halving study's best point in the full grid: its rank there and its distance from the grid's
best in units of the seed std.

project: report 003's 486-point grid at its full budget (3000 steps of batch 400, an evaluation of 15,000
examples every 100 steps, on CIFAR-10's shape) with halving from 200 steps (eta 3), on 2 workers. A small
halving study on random CIFAR-shaped data (the 8 compositions of `sweep.py grid`, 900 steps from 100)
measures each job's fixed seconds and each step's seconds against the weights; the projection sums them
over the 486-point plan, the survivors once with the mix's mean weights and once the widest.

plan: the time open_study (what `nnrun sweep --dry-run` does before it prints) takes for a study of
`--trials` trials on the digits, with halving and without, per trial.
"""

from __future__ import annotations

# nnrun before numpy: its import sets the thread pools' waits that OpenBLAS reads when numpy loads it
import nnrun  # noqa: F401  # isort: skip
import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sweep import SAMPLE, cifar_shaped, weights  # benchmarks/sweep.py, beside this script

from nnrun.bench.timing import machine
from nnrun.sweeps.halving import Bracket
from nnrun.sweeps.run import open_study, sweep

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GRIDS = {"81": ROOT / "configs/reports/003_grid.yaml", "351": ROOT / "configs/studies/optimizer_grid.yaml"}
FASHION = ["data.dataset=fashion_mnist", "model.input_shape=[784]"]  # 003_grid.yaml names CIFAR-10


def run(grid: str, seeds: list[int], workers: int, schedule: dict | None) -> dict:
    kind = "halving" if schedule else "full"
    folder = ROOT / "results" / "bench-halving" / f"{grid}-{kind}"
    sets = [*(FASHION if grid == "81" else []), f"sweep.seeds={json.dumps(seeds)}"]
    if schedule:
        sets.append(f"sweep.schedule={json.dumps(schedule)}")
    record_path = folder / "bench.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {"runs": []}
    if (folder / "sweep.yaml").is_file() and not open_study(GRIDS[grid], sets, out=folder).scheduler.jobs():
        result = nnrun.load_sweep(folder)  # done before: its invocations are the wall time
    else:
        tick = time.perf_counter()
        result = sweep(GRIDS[grid], sets, out=folder, workers=workers, plot=True)
        record["runs"].append(round(time.perf_counter() - tick, 1))
        record_path.write_text(json.dumps(record) + "\n")
    steps = sum(trained_steps(folder, row) for row in result.trials)
    return {"folder": str(folder), "wall_seconds": sum(record["runs"]), "invocations": record["runs"],
            "steps": steps, "jobs": sum(int(row["attempts"] or 0) for row in result.trials),
            "summary": result.summary, "failed": len(result.failed)}  # fmt: skip


def trained_steps(folder: Path, row: dict) -> int:
    """The steps a trial trained: its last evaluation's (every trial's last step is evaluated)."""
    history = nnrun.load_run(folder / row["run_dir"]).history
    return history[-1]["step"] if history else 0


def compare(full: dict, halving: dict, metric: str = "val_acc") -> dict:
    ranked = sorted(
        (row for row in full["summary"] if row.get(f"{metric}_mean") is not None),
        key=lambda row: -row[f"{metric}_mean"],
    )
    grid_best = ranked[0]
    pick = next(row for row in halving["summary"] if row["best"])
    mine = next(row for row in ranked if row["point"] == pick["point"])
    std = grid_best[f"{metric}_std"] or 0.0
    gap = grid_best[f"{metric}_mean"] - mine[f"{metric}_mean"]
    return {
        "grid_best_point": grid_best["point"],
        "grid_best": grid_best[f"{metric}_mean"],
        "grid_best_std": std,
        "halving_point": pick["point"],
        "halving_point_in_grid": mine[f"{metric}_mean"],
        "rank_in_grid": ranked.index(mine) + 1,
        "gap_in_seed_stds": gap / std if std else math.inf,
        "compute_share": halving["steps"] / full["steps"],
        "wall_share": halving["wall_seconds"] / full["wall_seconds"],
    }


def project(args: argparse.Namespace) -> dict:
    saved = HERE / "results" / "halving-project.json"
    if args.reuse and saved.is_file():  # the measurement as it was; only the projection again
        measured = json.loads(saved.read_text())["measured"]
        return {"measured": measured, **project_486(measured, minimum=200, eta=3)}
    with tempfile.TemporaryDirectory() as tmp:
        data = cifar_shaped(Path(tmp))
        config = {
            "name": "project", "data": {"dataset": "npz", "path": str(data), "val": 5000, "flatten": True},
            "model": {"input_shape": [3072], "layers": [{"type": "dense_stack", "units": [100], "name": "hidden"},
                                                        {"type": "dense", "units": 10}]},
            "optimizer": {"type": "adam", "lr": 2e-3},
            "train": {"max_steps": 900, "batch_size": 400, "eval_every": 100},
            "sweep": {"parameters": {"model.hidden.units": SAMPLE},
                      "schedule": {"type": "halving", "min": 100, "eta": 3}},
        }  # fmt: skip
        tick = time.perf_counter()
        result = sweep(config, out=Path(tmp) / "sweep", workers=2, plot=False)
        wall = time.perf_counter() - tick
        jobs, fixed, steps, per_step, sizes = 0, 0.0, [], [], []
        for row in result.trials:
            timings = result.run(row["trial"]).summary["timings"]
            busy = timings["train_seconds"] + timings["eval_seconds"]
            jobs += row["attempts"]
            fixed += row["seconds"] - busy
            steps.append(row["rung"])
            per_step.append(busy / row["rung"])
            sizes.append(weights(row["model.hidden.units"]))
    slope, intercept = np.polyfit(np.array(sizes, dtype=float), np.array(per_step), 1)
    measured = {"sample_wall_seconds": wall, "jobs": jobs, "job_fixed_seconds": fixed / jobs,
                "step_seconds": {"intercept": intercept, "per_weight": slope}}  # fmt: skip
    return {"measured": measured, **project_486(measured, minimum=200, eta=3)}


def project_486(measured: dict, minimum: int, eta: int) -> dict:
    """Hours on 2 workers for report 003's 486 points at 3000 steps: the full grid, and with halving from
    `minimum`, its survivors of the mix's mean weights or the widest."""
    widths = (100, 200, 400)
    compositions = [[a] for a in widths] + [[a, b] for a in widths for b in widths]
    compositions += [[a, b, c] for a in widths for b in widths for c in widths]
    mean = statistics.fmean(weights(c) for c in compositions)
    widest = weights([400, 400, 400])
    fixed, step = measured["job_fixed_seconds"], measured["step_seconds"]

    def seconds(steps: float, size: float) -> float:
        return steps * (step["intercept"] + step["per_weight"] * size)

    rungs = [minimum]
    while rungs[-1] * eta < 3000:
        rungs.append(rungs[-1] * eta)
    bracket = Bracket(0, (*rungs, 3000), tuple(range(486)))
    counts = bracket.planned(eta)
    out = {"rungs": list(bracket.rungs), "points": counts, "mean_weights": mean}
    out["full_grid_hours"] = 486 * (fixed + seconds(3000, mean)) / 2 / 3600
    variants = {"mean_survivors": [mean] * 3, "widest_survivors": [widest] * 3}
    studied = ROOT / "results" / "bench-halving" / "81-halving" / "rungs.csv"
    if studied.is_file():  # the survivors' widths at each rung of the Fashion-MNIST study, on 3072 inputs
        rows = nnrun.load_sweep(studied.parent).rungs
        variants["fashion_study_survivors"] = [
            statistics.fmean(weights(r["model.hidden.units"]) for r in rows if r["rung"] == index)
            for index in (1, 2, 3)
        ]
    for name, survivors in variants.items():
        total = 0.0
        for index, (rung, count) in enumerate(zip(bracket.rungs, counts)):
            size = mean if index == 0 else survivors[index - 1]
            total += count * (fixed + seconds(rung - (bracket.rungs[index - 1] if index else 0), size))
        out[f"halving_hours_{name}"] = total / 2 / 3600
    return out


def study(args: argparse.Namespace) -> dict:
    schedule = {"type": "halving", "min": args.min, "eta": args.eta}
    full = run(args.grid, args.seeds, args.workers, None)
    halving = run(args.grid, args.seeds, args.workers, schedule)
    figures = {"grid": args.grid, "seeds": args.seeds, "schedule": schedule}
    for name, result in (("full", full), ("halving", halving)):
        figures[name] = {k: v for k, v in result.items() if k != "summary"}
    figures["comparison"] = compare(full, halving)
    return figures


def plan(args: argparse.Namespace) -> dict:
    lrs = [round(1e-4 * 1.001**k, 9) for k in range(args.trials // 2)]
    base = {
        "name": "plan", "data": {"dataset": "digits"},
        "model": {"input_shape": [64], "layers": [{"type": "dense", "units": 16}, {"type": "relu"},
                                                  {"type": "dense", "units": 10}]},
        "train": {"epochs": 9},
        "sweep": {"parameters": {"optimizer.lr": lrs}, "seeds": [0, 1]},
    }  # fmt: skip
    out = {}
    for kind in ("plain", "halving"):
        config = json.loads(json.dumps(base))
        if kind == "halving":
            config["sweep"]["schedule"] = {"type": "halving", "min": 1, "eta": 3}
        tick = time.perf_counter()
        opened = open_study(config, out=ROOT / "results" / "bench-halving" / f"plan-{kind}")
        seconds = time.perf_counter() - tick
        out[kind] = {"trials": len(opened.plan.trials), "seconds": seconds,
                     "ms_per_trial": 1000 * seconds / len(opened.plan.trials)}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["study", "project", "plan"])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="81")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min", type=int, default=100)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--trials", type=int, default=15000)
    parser.add_argument("--reuse", action="store_true", help="project: the saved measurement, projected again")
    args = parser.parse_args()
    figures = {"study": study, "project": project, "plan": plan}[args.what](args)
    figures["machine"] = machine()
    name = f"halving-{args.grid}" if args.what == "study" else f"halving-{args.what}"
    (HERE / "results" / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
