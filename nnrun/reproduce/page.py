"""docs/reproductions.md from the manifest and the experiments' folders: one section per report, its published
numbers beside nnrun's (mean ± std over seeds), the wall time, the figures and the remarks.

It only reads the folders; the figures it shows are copied, as 256-colour PNGs, into docs/img/reproductions/.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from nnrun.io import atomic_write_bytes, atomic_write_text, inline
from nnrun.reproduce.manifest import RANDOM, Experiment, Figure, Manifest, Report, matches
from nnrun.reproduce.run import WALL, Job, best_trial
from nnrun.results import FINISHED, Sweep, load_run, load_sweep
from nnrun.runtime import git_commit, machine

PAGE = Path("docs/reproductions.md")
IMAGES = "img/reproductions"  # beside the page
MAX_ROWS = 12  # a longer sweep shows its best rows; the rest are in its summary.md


DATASET_NAMES = {
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "notmnist": "notMNIST",
    "cifar10": "CIFAR-10",
    "moons": "two moons",
}


def named(dataset: str, used: str | None = None) -> str:
    """How the page names the data that ran: the dataset, the stand-in `used`, or noise of the dataset's shape."""
    if used == RANDOM:
        return f"random {DATASET_NAMES.get(dataset, dataset)}-shaped noise"
    return DATASET_NAMES.get(used or dataset, used or dataset)


def write_page(manifest: Manifest, jobs: list[Job], page: Path = PAGE, command: str = "nnrun reproduce") -> Path:
    """Write the page for every report of the manifest (those not run yet say how to run them)."""
    by_experiment = {(job.report.id, job.experiment.config): job for job in jobs}
    total = 0.0
    sections = []
    for report in manifest.reports:
        text, seconds = report_section(report, by_experiment, page, command)
        sections.append(text)
        total += seconds
    cpu = machine()
    lines = [
        "# The reports' experiments, reproduced",
        "",
        "The five reports nnrun started from are homework-style studies of MLPs and CNNs. Each of their "
        "experiments is a config in [`configs/reports/`](../configs/reports/), and "
        "[`reports.yaml`](../configs/reports/reports.yaml) holds their published numbers and this machine's "
        "budget for each. One command runs them all and rebuilds this page; run again, it skips what is done:",
        "",
        "```",
        f"{command}            # every report",
        f"{command} 001        # one report",
        f"{command} --page     # only rebuild this page from results/reports/",
        "```",
        "",
        f"Measured on {cpu['cpu']}, {cpu['cores']} cores{' with AVX-512' if cpu['avx512'] else ''}, "
        f"commit {(git_commit() or 'unknown')[:12]}, {time.strftime('%Y-%m-%d')}. "
        f"Total wall time of the experiments below: {duration(total)}.",
        "",
        stand_in_sentence(jobs),
        "",
        *sections,
    ]
    page.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(page, "\n".join(lines).rstrip() + "\n")
    return page


def stand_in_sentence(jobs: list[Job]) -> str:
    """Which reports' datasets were absent here, what stood in for each, and what that means for the numbers."""
    stood: dict[str, list[str]] = defaultdict(list)  # stand-in -> the datasets it replaced
    for job in jobs:
        if job.stand_in and (job.folder / "sweep.yaml").is_file() and job.dataset not in stood[job.used]:
            stood[job.used].append(job.dataset)
    if not stood:
        return "Every experiment shown ran on its report's own dataset."
    absent = list(dict.fromkeys(dataset for datasets in stood.values() for dataset in datasets))
    lines = [f"{listed([named(d) for d in absent])} {'was' if len(absent) == 1 else 'were'} not on this machine, so "
             "the same configs ran on a stand-in, and each table's column says which."]  # fmt: skip
    for used, datasets in stood.items():
        if used != RANDOM:
            whole = [named(d) for d in datasets if d not in stood.get(RANDOM, [])]
            partly = [named(d) for d in datasets if d in stood.get(RANDOM, [])]
            text = f"{named(used)} stood in for {listed(whole)}" if whole else f"{named(used)} stood in"
            lines.append(
                text + (f"{', and' if whole else ''} for {listed(partly)} where its table says so." if partly else ".")
            )
            continue
        for dataset in datasets:
            others = "other " if any(dataset in stood[u] for u in stood if u != RANDOM) else ""
            lines.append(
                f"No dataset stands in honestly for {named(dataset)}'s accuracy: its {others}configs ran end to end on "
                f"{named(dataset, RANDOM)} to measure their speed, and their accuracy needs the real data "
                f"(`nnrun reproduce --download`, or `nnrun data download {dataset}` and the same command)."
            )
    lines.append("A stand-in's number is never the report's dataset's.")
    return " ".join(lines)


def listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def report_section(report: Report, jobs: dict[tuple[str, str], Job], page: Path, command: str) -> tuple[str, float]:
    lines = [f"## Report {report.id}: {report.title}", "", f"`{command} {report.id}`", ""]
    seconds = 0.0
    for experiment in report.experiments:
        job = jobs.get((report.id, experiment.config))
        text, spent = experiment_section(experiment, job, page)
        lines += [text, ""]
        seconds += spent
    if report.their_time:
        lines += [f"**Time.** {report.their_time} Here: {duration(seconds)} for the whole report.", ""]
    if report.remarks:
        lines += [report.remarks, ""]
    return "\n".join(lines), seconds


def experiment_section(experiment: Experiment, job: Job | None, page: Path) -> tuple[str, float]:
    config = job.config.as_posix() if job is not None else experiment.config
    lines = [f"### {experiment.name}", ""]
    if job is None or not (job.folder / "sweep.yaml").is_file():
        lines.append(f"Not run yet. `nnrun sweep {config}` runs it alone.")
        return "\n".join(lines), 0.0
    sweep = load_sweep(job.folder)
    settings = " ".join(f"--set {shown_override(o)}" for o in sweep.overrides)
    lines += [f"`nnrun sweep {config}{' ' + settings if settings else ''}`", ""]
    lines += [data_sentence(job), ""]
    lines += result_table(experiment, job, sweep)
    if sweep.schedule and sweep.rungs:
        lines += ["", schedule_sentence(job, sweep)]
    wall = json.loads((job.folder / WALL).read_text()) if (job.folder / WALL).is_file() else {}
    spent = float(wall.get("wall_seconds") or 0.0)
    trial_seconds = sum(float(row.get("seconds") or 0) for row in sweep.trials)
    trials = f"{len(sweep.trials)} trial" + "s" * (len(sweep.trials) != 1)
    lines += ["", f"Wall time here: {duration(spent)} ({trials}, {duration(trial_seconds)} of training summed "
              "over them)."]  # fmt: skip
    if job.used == RANDOM:
        lines += ["", speed_sentence(sweep)]
    for figure in experiment.figures:
        shown = show_figure(figure, job, sweep, page)
        if shown:
            lines += ["", shown]
    if experiment.remarks:
        lines += ["", experiment.remarks]
    return "\n".join(lines), spent


def schedule_sentence(job: Job, sweep: Sweep) -> str:
    """Which points a halving study's table holds, and the compute it used (summary.md's line)."""
    unit = "steps" if sweep.base["train"].get("max_steps") else "epochs"
    rungs = sorted({row["resource"] for row in sweep.rungs})
    top = {row["point"] for row in sweep.rungs if row["resource"] == rungs[-1]}
    points = {row["point"] for row in sweep.rungs}
    compute = next(
        (line for line in (job.folder / "summary.md").read_text().splitlines() if line.startswith("Compute:")), ""
    )
    kind = "successive halving" if sweep.schedule["type"] == "halving" else "Hyperband"
    return (
        f"With {kind} (η={sweep.schedule['eta']}, rungs {', '.join(map(str, rungs))} {unit}), the table has the "
        f"{len(top)} of {len(points)} points that reached the last rung; the others stopped earlier "
        f"(`{job.folder}/rungs.csv`). {compute}"
    ).rstrip()


def data_sentence(job: Job) -> str:
    report_data = named(job.dataset)
    if not job.stand_in:
        return f"Data: {report_data}, as in the report."
    if job.used == RANDOM:
        return f"Data: {report_data} is not on this machine, so this ran on {named(job.dataset, RANDOM)} for its speed only."
    return (
        f"Data: {report_data} is not on this machine; these numbers are on "
        f"**{named(job.used)}**, a stand-in, not the report's dataset."
    )


def result_table(experiment: Experiment, job: Job, sweep: Sweep) -> list[str]:
    """Per sweep point: its parameters, then each metric as the report's number and nnrun's mean ± std."""
    metrics = list(dict.fromkeys([m for entry in experiment.published for m in entry if m != "point"]))
    metrics += [m for m in experiment.metrics if m not in metrics]
    points = point_rows(sweep)
    if not points:
        failed = sum(row["status"] == "failed" for row in sweep.trials)
        if failed:
            return [f"No trial finished: {failed} failed, with their errors in `{job.folder}/trials.csv`."]
        return ["No trial has finished yet."]
    ranking = f"best_{sweep.spec.get('metric', {}).get('name', 'val_acc')}"
    shown = points
    if len(points) > MAX_ROWS:
        goal = sweep.spec.get("metric", {}).get("goal", "max")
        shown = sorted(points, key=lambda p: p["values"].get(ranking, (0, 0))[0], reverse=goal == "max")[:MAX_ROWS]
    noise = job.used == RANDOM
    data = named(job.used)
    head = [*(column(p) for p in sweep.parameters), "seeds"]
    for metric in metrics:
        label = metric.replace("_", " ")
        if any(metric in entry for entry in experiment.published):
            head.append(f"{label}: report")
        head.append(f"{label}: nnrun{'' if not job.stand_in or noise else f' ({data})'}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point in shown:
        cells = [f"`{cell(point['params'][p])}`" for p in sweep.parameters] + [str(point["seeds"])]
        published = published_for(experiment, point["params"])
        for metric in metrics:
            if any(metric in entry for entry in experiment.published):
                cells.append(number(metric, published.get(metric)))
            value = point["values"].get(metric)
            cells.append("noise" if noise and "acc" in metric else mean_std(metric, value))
        lines.append("| " + " | ".join(cells) + " |")
    if len(points) > len(shown):
        lines += ["", f"The best {len(shown)} of {len(points)} points by {ranking.replace('_', ' ')}; every point "
                  f"is in `{job.folder}/summary.md`."]  # fmt: skip
    return lines


def column(parameter: str) -> str:
    """A parameter's column heading; linked parameters beyond three are shortened to their first and last."""
    names = [name.strip() for name in parameter.split(",")]
    return parameter if len(names) <= 3 else f"{names[0]} … {names[-1]} ({len(names)} linked)"


def cell(value: Any) -> str:
    return value if isinstance(value, str) else inline(value)


def shown_override(override: str) -> str:
    """An override as the page's command gives it: the noise file's path relative to where the command runs."""
    key, _, value = override.partition("=")
    if key == "data.path" and Path(value).is_absolute() and Path(value).is_relative_to(Path.cwd()):
        return f"{key}={Path(value).relative_to(Path.cwd())}"
    return override


def point_rows(sweep: Sweep) -> list[dict[str, Any]]:
    """The finished trials grouped by point: parameters, number of seeds, and (mean, std) per trials.csv column."""
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in sweep.trials:
        if row["status"] in FINISHED:
            grouped[int(row["point"])].append(row)
    rows = []
    for number_, trials in sorted(grouped.items()):
        values = {}
        for column in trials[0]:
            if column.startswith(("best_", "last_")):
                found = [float(t[column]) for t in trials if isinstance(t.get(column), int | float)]
                if found:
                    values[column] = (mean(found), stdev(found) if len(found) > 1 else None)
        params = {p: trials[0][p] for p in sweep.parameters}
        rows.append({"point": number_, "params": params, "seeds": len(trials), "values": values})
    return rows


def published_for(experiment: Experiment, params: dict[str, Any]) -> dict[str, Any]:
    for entry in experiment.published:
        if matches(entry["point"], params):
            return entry
    return {}


def speed_sentence(sweep: Sweep) -> str:
    """Training speed on the noise, per point: images per second, and the seconds a real CIFAR-10 epoch would take."""
    speeds: dict[int, list[float]] = defaultdict(list)
    threads = set()
    for row in sweep.trials:
        if row["status"] in FINISHED:
            run = load_run(sweep.path / "trials" / row["trial"])
            speeds[int(row["point"])].append(float(run.summary.get("timings", {}).get("samples_per_sec") or 0))
            threads.add(row.get("threads"))
    rates = [mean(found) for _, found in sorted(speeds.items())]
    if not rates or not min(rates):
        return "Speed: no finished trial."
    val = float(sweep.base.get("data", {}).get("val") or 0)
    size = REAL_TRAIN_IMAGES - int(val * REAL_TRAIN_IMAGES if val < 1 else val)
    each = " (the table's rows in order)" if len(rates) > 1 else ""
    counts = sorted(int(t) for t in threads if t is not None)
    on = f", on {listed([str(t) for t in counts])} thread{'s' * (counts[-1] > 1)} a trial" if counts else ""
    return (
        f"Speed: {listed([f'{r:,.0f}' for r in rates])} training images per second{each}{on}, so "
        f"{listed([f'{size / r:,.0f}' for r in rates])} s for an epoch of CIFAR-10's {size:,} training images "
        "(the report's accuracy needs the real data)."
    )


REAL_TRAIN_IMAGES = 50000  # CIFAR-10's training split, the one dataset here with only a noise stand-in


def show_figure(figure: Figure, job: Job, sweep: Sweep, page: Path) -> str | None:
    """Copy the figure beside the page as a 256-colour PNG; its Markdown, or None when it is not drawn yet."""
    if figure.trial:
        trial = best_trial(sweep)
        if trial is None:
            return None
        name = "curves.png" if figure.kind in (None, "curves") else f"{figure.kind}_tsne.png"
        source = job.folder / "trials" / trial / name
    else:
        source = job.folder / str(figure.file)
    if not source.is_file():
        return None
    target = page.parent / IMAGES / f"{job.folder.name}_{source.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, small_png(source))
    return f"![{experiment_label(job)}: {source.stem.replace('_', ' ')}]({IMAGES}/{target.name})"


def experiment_label(job: Job) -> str:
    return job.experiment.name + ("" if not job.stand_in else f" on {named(job.dataset, job.used)}")


def small_png(path: Path) -> bytes:
    """The PNG reduced to 256 colours: a tenth of the size, the same to the eye for plots."""
    import io

    from PIL import Image  # matplotlib's dependency; imported here as only the page needs it

    image = Image.open(path).convert("RGB").quantize(256, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    image.save(buffer, format="png", optimize=True)
    return buffer.getvalue()


def number(metric: str, value: Any) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.2f} %" if metric.endswith("_acc") else f"{value:.4g}"


def mean_std(metric: str, value: tuple[float, float | None] | None) -> str:
    if value is None:
        return "–"
    m, s = value
    if metric.endswith("_acc"):
        return f"{100 * m:.2f} %" + (f" ± {100 * s:.2f}" if s is not None else "")
    if metric.endswith("_epoch"):
        return f"{m:.1f}" + (f" ± {s:.1f}" if s is not None else "")
    return f"{m:.4f}" + (f" ± {s:.4f}" if s is not None else "")


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"
