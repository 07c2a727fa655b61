"""tpe against random search on the same budget (benchmarks/README.md, "tpe"), over several sampler seeds.

    python benchmarks/tpe.py study [--seeds 0 1 2 3 4] [--trials 40] [--workers 2]
    python benchmarks/tpe.py overhead [--told 40 200 1000]

configs/studies/tpe_fashion.yaml: Adam's learning rate and weight decay (both log-uniform) and one hidden
layer's width (int) of a Fashion-MNIST MLP, 2 epochs a trial, one run seed, ranked by val accuracy. For each
sampler seed the study runs once with method: tpe (rounds of 4) and once with method: random, each a sweep
into results/bench-tpe/<method>-<seed>/ (kept: run again, it resumes and trains nothing twice).

It reports, over the sampler seeds, the best value found after N trials (median, min and max), the trials
each method needs to reach random search's final median best, the driver's own seconds per suggestion (the
sampler, from rounds.json) against a trial's, and draws the best so far against the trial number, a band
over the sampler seeds for each method, into results/tpe-fashion.png beside the JSON.

overhead: the driver's seconds for one round of 4 (the study rebuilt from `--told` results of the same three
parameters, then asked), the median of 5, alone on the machine: how the sampler's cost grows with a study.
"""

from __future__ import annotations

# nnrun before numpy: its import sets the thread pools' waits that OpenBLAS reads when numpy loads it
import nnrun  # noqa: F401  # isort: skip
import argparse
import json
import math
import random
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
    best, curve, each = None, [], []
    for point in order:  # a repeated suggestion adds a trial and nothing new
        value = values.get(point)
        if value is not None and (best is None or value > best):
            best = value
        curve.append(best)
        each.append(value)
    seconds = [float(row["seconds"]) for row in result.trials if row.get("seconds")]
    best_row = max(result.summary, key=lambda row: row["val_acc_mean"] or 0)
    rounds = json.loads((folder / "rounds.json").read_text())["rounds"] if method == "tpe" else []
    return {
        "folder": str(folder), "wall_seconds": sum(record["runs"]), "curve": curve, "values": each,
        "trial_seconds_mean": statistics.fmean(seconds) if seconds else None,
        "sampler_seconds": [r["seconds"] for r in rounds], "suggestions": sum(len(r["points"]) for r in rounds),
        "best_point": {key: best_row[key] for key in ("point", *result.parameters, "val_acc_mean")},
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
    """Left: the best so far against the trial; right: each trial's own value, a running mean of the last
    WINDOW trials. Both the median over the sampler seeds, with a band from the lowest to the highest."""
    plt = pyplot()
    fig, (best_ax, each_ax) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for color, method in (("C0", "random"), ("C1", "tpe")):
        runs = results[method]
        length = min(len(r["curve"]) for r in runs)
        xs = list(range(1, length + 1))
        for ax, series in ((best_ax, [r["curve"] for r in runs]), (each_ax, [running(r["values"]) for r in runs])):
            columns = [[c[i] for c in series if c[i] is not None] for i in range(length)]
            low, high = [min(col) for col in columns], [max(col) for col in columns]
            ax.fill_between(xs, low, high, step="post", color=color, alpha=0.2, linewidth=0)
            median = [statistics.median(col) for col in columns]
            ax.step(
                xs, median, where="post", color=color, label=f"{method}: median, band min-max over {len(runs)} seeds"
            )
    low = statistics.median(r["curve"][4] for r in results["random"])
    best_ax.set(xlabel="trial (one point, one run seed)", ylabel="best val accuracy so far", ylim=(low - 0.02, None),
                title="the best point so far")  # fmt: skip
    each_ax.set(xlabel="trial", ylabel=f"val accuracy, mean of the last {WINDOW} trials",
                title="where the trials land")  # fmt: skip
    best_ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("tpe against random search: Fashion-MNIST MLP, lr × weight decay × width, 2 epochs a trial")
    save(fig, out)


WINDOW = 8  # trials in the running mean of the right panel


def running(values: list[float | None]) -> list[float]:
    out = []
    for index in range(len(values)):
        window = [v for v in values[max(0, index + 1 - WINDOW) : index + 1] if v is not None]
        out.append(statistics.fmean(window) if window else 0.0)
    return out


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
            "second_half_mean": statistics.median(statistics.fmean(v or 0 for v in r["values"][args.trials // 2 :])
                                                  for r in runs),
        }  # fmt: skip
        if method == "tpe":
            per_suggestion = [sum(r["sampler_seconds"]) / r["suggestions"] for r in runs]
            figures[method]["sampler_seconds_per_suggestion"] = per_suggestion
            figures[method]["sampler_seconds_per_round_max"] = max(max(r["sampler_seconds"]) for r in runs)
    figure(results, HERE / "results" / "tpe-fashion.png")
    return figures


def overhead(args: argparse.Namespace) -> dict:
    from nnrun.config import SweepConfig, read_config
    from nnrun.sweeps.tpe import Space, Told, suggest

    spec = SweepConfig.model_validate({**read_config(CONFIG)[0]["sweep"], "n_trials": max(args.told) + 4})
    space = Space(spec)
    draw = random.Random(0)
    out = {}
    for count in args.told:
        told = []
        for _ in range(count):
            point = {key: _draw(draw, values) for key, values in spec.parameters.items()}
            told.append(Told(point, "complete", draw.uniform(0.7, 0.9)))
        times = []
        for _ in range(5):
            tick = time.perf_counter()
            suggest(space, spec, "max", told, 2, 4)
            times.append(time.perf_counter() - tick)
        out[count] = {"round_seconds": statistics.median(times), "ms_per_suggestion": 250 * statistics.median(times)}
    return out


def _draw(draw, values: dict):
    if values["distribution"] == "int":
        return draw.randint(values["low"], values["high"])
    low, high = math.log(values["low"]), math.log(values["high"])
    return float(f"{math.exp(draw.uniform(low, high)):.6g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["study", "overhead"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--told", type=int, nargs="+", default=[40, 200, 1000])
    args = parser.parse_args()
    figures = study(args) if args.what == "study" else overhead(args)
    figures["machine"] = machine()
    name = "tpe-fashion" if args.what == "study" else "tpe-overhead"
    (HERE / "results" / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
