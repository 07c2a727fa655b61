"""tpe against random search on the same budget (benchmarks/README.md, "tpe"), over several sampler seeds.

    python benchmarks/tpe.py study [--seeds 0 1 2 3 4] [--trials 40] [--workers 2]

configs/studies/tpe_fashion.yaml: Adam's learning rate and weight decay (both log-uniform) and one hidden
layer's width (int) of a Fashion-MNIST MLP, 2 epochs a trial, one run seed, ranked by val accuracy. For each
sampler seed the study runs once with method: tpe (rounds of 4) and once with method: random, each a sweep
into results/bench-tpe/<method>-<seed>/ (kept: run again, it resumes and trains nothing twice).

It reports, over the sampler seeds, the best value found after N trials (median, min and max), the trials
each method needs to reach random search's final median best, the driver's own seconds per suggestion (the
sampler, from rounds.json) against a trial's, and draws the best so far against the trial number, a band
over the sampler seeds for each method, into results/tpe-fashion.png beside the JSON.
"""

from __future__ import annotations

# nnrun before numpy: its import sets the thread pools' waits that OpenBLAS reads when numpy loads it
import nnrun  # noqa: F401  # isort: skip
import argparse
import json
import statistics
import time
from pathlib import Path

from nnrun.bench.timing import machine
from nnrun.report.style import pyplot, save
from nnrun.sweeps.run import open_study, sweep

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = ROOT / "configs/studies/tpe_fashion.yaml"
CHECKPOINTS = (10, 20, 30, 40)  # the trial counts the table reports


def run(method: str, seed: int, trials: int, workers: int) -> dict:
    """One study, resumed if it ran before; its best-so-far curve by trial and its seconds."""
    folder = ROOT / "results" / "bench-tpe" / f"{method}-{seed}"
    sets = [f"sweep.method={method}", f"sweep.sampler_seed={seed}", f"sweep.n_trials={trials}"]
    if method == "random":
        sets.append("sweep.batch=null")
    record_path = folder / "bench.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {"runs": []}
    study = open_study(CONFIG, sets, out=folder) if (folder / "sweep.yaml").is_file() else None
    if (
        study is not None
        and not study.scheduler.jobs()
        and not (method == "tpe" and len(study.plan.suggested) < trials)
    ):
        result = nnrun.load_sweep(folder)  # done before: its invocations are the wall time
    else:
        tick = time.perf_counter()
        result = sweep(CONFIG, sets, out=folder, workers=workers, plot=True)
        record["runs"].append(round(time.perf_counter() - tick, 1))
        folder.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(record) + "\n")
    values = {row["point"]: row["val_acc_mean"] for row in result.summary}
    order = suggestion_order(folder, result) if method == "tpe" else sorted(values)
    best, curve = None, []
    for point in order:  # a repeated suggestion adds a trial and nothing new
        value = values.get(point)
        if value is not None and (best is None or value > best):
            best = value
        curve.append(best)
    seconds = [float(row["seconds"]) for row in result.trials if row.get("seconds")]
    rounds = json.loads((folder / "rounds.json").read_text())["rounds"] if method == "tpe" else []
    return {
        "folder": str(folder), "wall_seconds": sum(record["runs"]), "curve": curve,
        "trial_seconds_mean": statistics.fmean(seconds) if seconds else None,
        "sampler_seconds": [r["seconds"] for r in rounds], "suggestions": sum(len(r["points"]) for r in rounds),
        "best_point": max(result.summary, key=lambda row: row["val_acc_mean"] or 0),
    }  # fmt: skip


def suggestion_order(folder: Path, result) -> list[int]:
    """Each suggestion's point number, in order: a repeat names the earlier point (rounds.json, summary.csv)."""
    number = {json.dumps(_point(row, result.parameters), sort_keys=True): row["point"] for row in result.summary}
    rounds = json.loads((folder / "rounds.json").read_text())["rounds"]
    return [number[json.dumps(point, sort_keys=True)] for r in rounds for point in r["points"]]


def _point(row: dict, parameters: list[str]) -> dict:
    return {key: row[key] for key in parameters}


def trials_to_reach(curve: list[float | None], target: float) -> int | None:
    return next((index + 1 for index, best in enumerate(curve) if best is not None and best >= target), None)


def figure(results: dict[str, list[dict]], out: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    for color, method in (("C0", "random"), ("C1", "tpe")):
        curves = [r["curve"] for r in results[method]]
        length = min(len(c) for c in curves)
        xs = list(range(1, length + 1))
        columns = [[c[i] for c in curves if c[i] is not None] for i in range(length)]
        median = [statistics.median(col) if col else None for col in columns]
        ax.fill_between(xs, [min(col) for col in columns], [max(col) for col in columns], color=color, alpha=0.2,
                        linewidth=0)  # fmt: skip
        ax.step(xs, median, where="post", color=color, label=f"{method}: median, band min-max over {len(curves)} seeds")
    ax.set(xlabel="trial (one point, one run seed)", ylabel="best val accuracy so far",
           title="tpe against random search: Fashion-MNIST MLP, lr × weight decay × width, 2 epochs")  # fmt: skip
    low = statistics.median(r["curve"][4] for r in results["random"])
    ax.set_ylim(bottom=max(low - 0.02, 0))
    ax.legend(loc="lower right")
    save(fig, out)


def study(args: argparse.Namespace) -> dict:
    results = {m: [run(m, s, args.trials, args.workers) for s in args.seeds] for m in ("random", "tpe")}
    target = statistics.median(r["curve"][-1] for r in results["random"])
    figures: dict = {"config": str(CONFIG.relative_to(ROOT)), "seeds": args.seeds, "trials": args.trials,
                     "random_final_median": target}  # fmt: skip
    for method, runs in results.items():
        table = {}
        for n in (*[c for c in CHECKPOINTS if c < args.trials], args.trials):
            bests = [r["curve"][n - 1] for r in runs]
            table[n] = {"median": statistics.median(bests), "min": min(bests), "max": max(bests)}
        reach = [trials_to_reach(r["curve"], target) for r in runs]
        figures[method] = {
            "best_after": table, "trials_to_reach_random_median": reach,
            "trials_to_reach_median": statistics.median(t if t is not None else args.trials + 1 for t in reach),
            "wall_seconds": [r["wall_seconds"] for r in runs],
            "trial_seconds_mean": statistics.fmean(r["trial_seconds_mean"] for r in runs),
            "best_points": [r["best_point"] for r in runs],
        }  # fmt: skip
        if method == "tpe":
            per_suggestion = [sum(r["sampler_seconds"]) / r["suggestions"] for r in runs]
            figures[method]["sampler_seconds_per_suggestion"] = per_suggestion
            figures[method]["sampler_seconds_per_round_max"] = max(max(r["sampler_seconds"]) for r in runs)
    figure(results, HERE / "results" / "tpe-fashion.png")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["study"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    figures = study(args)
    figures["machine"] = machine()
    (HERE / "results" / "tpe-fashion.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
