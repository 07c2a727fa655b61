"""Successive halving against the full grid (benchmarks/README.md, "Halving"), and the planning overhead.

    python benchmarks/halving.py study [--grid 81|351] [--seeds 0 1] [--workers 2] [--min 100] [--eta 3]
    python benchmarks/halving.py plan [--trials 15000]

study: report 003's grid on Fashion-MNIST (configs/reports/003_grid.yaml: 3 optimizers x 3 rates x 9
hidden compositions, 1500 steps of batch 200, an evaluation every 100 steps; or the 351 points of
configs/studies/optimizer_grid.yaml), once as the full grid and once with halving, each a sweep into
results/bench-halving/<grid>-<full|halving>/ (kept: run again, it resumes and trains nothing twice). It
reports each one's wall time (summed over the invocations that ran it) and steps trained, the best point of
each, and the halving study's best point in the full grid: its rank there and its distance from the grid's
best in units of the seed std. Then it projects report 003's 486-point grid at its full budget (3000 steps
of batch 400 on CIFAR-10's shape, the fit of `sweep.py grid` in results/sweep-grid.json) with halving.

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
import time
from pathlib import Path

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


def project_486(minimum: int, eta: int) -> dict:
    """Report 003's 486 points at 3000 steps, with halving from `minimum`, on 2 workers: each job pays the
    fit's per-trial intercept (data, compile, the last evaluation), each step its share of the weights' cost."""
    fit = json.loads((HERE / "results" / "sweep-grid.json").read_text())
    full_hours = fit["grid_486_hours_2_workers"]
    intercept, slope = fit["fit"]["intercept"], fit["fit"]["slope_per_weight"]
    widths = (100, 200, 400)
    compositions = [[a] for a in widths] + [[a, b] for a in widths for b in widths]
    compositions += [[a, b, c] for a in widths for b in widths for c in widths]
    weights = statistics.fmean(sum(x * y for x, y in zip([3072, *c, 10], [*c, 10])) for c in compositions)
    rungs = [minimum]
    while rungs[-1] * eta < 3000:
        rungs.append(rungs[-1] * eta)
    bracket = Bracket(0, (*rungs, 3000), tuple(range(486)))
    counts = bracket.planned(eta)
    seconds = 0.0
    for index, (rung, count) in enumerate(zip(bracket.rungs, counts)):
        before = bracket.rungs[index - 1] if index else 0
        seconds += count * (intercept + slope * weights * (rung - before) / 3000)
    return {"rungs": list(bracket.rungs), "points": counts, "full_grid_hours": full_hours,
            "halving_hours": seconds / 2 / 3600, "mean_weights": weights}  # fmt: skip


def study(args: argparse.Namespace) -> dict:
    schedule = {"type": "halving", "min": args.min, "eta": args.eta}
    full = run(args.grid, args.seeds, args.workers, None)
    halving = run(args.grid, args.seeds, args.workers, schedule)
    figures = {"grid": args.grid, "seeds": args.seeds, "schedule": schedule}
    for name, result in (("full", full), ("halving", halving)):
        figures[name] = {k: v for k, v in result.items() if k != "summary"}
    figures["comparison"] = compare(full, halving)
    figures["projection_486"] = project_486(args.min * 2, args.eta)  # 003 trains twice as many steps
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
    parser.add_argument("what", choices=["study", "plan"])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="81")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min", type=int, default=100)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--trials", type=int, default=15000)
    args = parser.parse_args()
    figures = study(args) if args.what == "study" else plan(args)
    figures["machine"] = machine()
    name = f"halving-{args.grid}" if args.what == "study" else "halving-plan"
    (HERE / "results" / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
