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
    RANDOM: "random CIFAR-shaped noise",
}


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
        "MNIST, notMNIST and CIFAR-10 cannot be downloaded on this machine. Where the report's dataset is absent, "
        "the same config ran on a stand-in and its column says so: Fashion-MNIST (28×28 grey, 10 classes, and "
        "harder) for MNIST and notMNIST. No dataset stands in honestly for CIFAR-10's accuracy: those configs "
        "ran end to end on random CIFAR-shaped noise to measure their speed, and their accuracy needs the real "
        "data (`nnrun data download cifar10`, then the same command). A stand-in's number is never the report's "
        "dataset's.",
        "",
        *sections,
    ]
    page.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(page, "\n".join(lines).rstrip() + "\n")
    return page


def report_section(report: Report, jobs: dict[tuple[str, str], Job], page: Path, command: str) -> tuple[str, float]:
    lines = [f"## Report {report.id}: {report.title}", "", f"`{command} {report.id}`", ""]
    seconds = 0.0
    for experiment in report.experiments:
        job = jobs.get((report.id, experiment.config))
        text, spent = experiment_section(experiment, job, page)
        lines += [text, ""]
        seconds += spent
    if report.their_time:
        lines += [f"**Time.** The report: {report.their_time} Here: {duration(seconds)} for the whole report.", ""]
    if report.remarks:
        lines += [report.remarks, ""]
    return "\n".join(lines), seconds


def experiment_section(experiment: Experiment, job: Job | None, page: Path) -> tuple[str, float]:
    config = f"configs/reports/{experiment.config}"
    lines = [f"### {experiment.name}", ""]
    if job is None or not (job.folder / "sweep.yaml").is_file():
        lines.append(f"Not run yet. `nnrun sweep {config}` runs it alone.")
        return "\n".join(lines), 0.0
    sweep = load_sweep(job.folder)
    settings = " ".join(f"--set {o}" for o in sweep.overrides if not o.startswith("data.path="))
    lines += [f"`nnrun sweep {config}{' ' + settings if settings else ''}`", ""]
    lines += [data_sentence(job), ""]
    lines += result_table(experiment, job, sweep)
    wall = json.loads((job.folder / WALL).read_text()) if (job.folder / WALL).is_file() else {}
    spent = float(wall.get("wall_seconds") or 0.0)
    trial_seconds = sum(float(row.get("seconds") or 0) for row in sweep.trials)
    lines += ["", f"Wall time here: {duration(spent)} ({len(sweep.trials)} trials, {duration(trial_seconds)} of "
              "training summed over them)."]  # fmt: skip
    if job.used == RANDOM:
        lines += ["", speed_sentence(sweep)]
    for figure in experiment.figures:
        shown = show_figure(figure, job, sweep, page)
        if shown:
            lines += ["", shown]
    if experiment.remarks:
        lines += ["", experiment.remarks]
    return "\n".join(lines), spent


def data_sentence(job: Job) -> str:
    report_data = DATASET_NAMES.get(job.dataset, job.dataset)
    if not job.stand_in:
        return f"Data: {report_data}, as in the report."
    if job.used == RANDOM:
        return f"Data: {report_data} is not on this machine, so this ran on {DATASET_NAMES[RANDOM]} for its speed only."
    return (
        f"Data: {report_data} is not on this machine; these numbers are on "
        f"**{DATASET_NAMES.get(job.used, job.used)}**, a stand-in, not the report's dataset."
    )


def result_table(experiment: Experiment, job: Job, sweep: Sweep) -> list[str]:
    """Per sweep point: its parameters, then each metric as the report's number and nnrun's mean ± std."""
    metrics = list(dict.fromkeys([m for entry in experiment.published for m in entry if m != "point"]))
    metrics += [m for m in experiment.metrics if m not in metrics]
    points = point_rows(sweep)
    if not points:
        return ["No trial has finished yet."]
    ranking = f"best_{sweep.spec.get('metric', {}).get('name', 'val_acc')}"
    shown = points
    if len(points) > MAX_ROWS:
        goal = sweep.spec.get("metric", {}).get("goal", "max")
        shown = sorted(points, key=lambda p: p["values"].get(ranking, (0, 0))[0], reverse=goal == "max")[:MAX_ROWS]
    noise = job.used == RANDOM
    data = DATASET_NAMES.get(job.used, job.used)
    head = [*(p for p in sweep.parameters), "seeds"]
    for metric in metrics:
        label = metric.replace("_", " ")
        if any(metric in entry for entry in experiment.published):
            head.append(f"{label}: report")
        head.append(f"{label}: nnrun{'' if not job.stand_in or noise else f' ({data})'}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point in shown:
        cells = [f"`{inline(point['params'][p])}`" for p in sweep.parameters] + [str(point["seeds"])]
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
    """Training speed on the noise: images per second, and the seconds a real CIFAR-10 epoch would take."""
    speeds = []
    for row in sweep.trials:
        if row["status"] in FINISHED:
            run = load_run(sweep.path / "trials" / row["trial"])
            speeds.append(float(run.summary.get("timings", {}).get("samples_per_sec") or 0))
    if not speeds or not max(speeds):
        return "Speed: no finished trial."
    size = REAL_TRAIN_IMAGES - int(sweep.base.get("data", {}).get("val") or 0)
    rate = mean(speeds)
    return (
        f"Speed: {rate:,.0f} training images per second, so {size / rate:,.0f} s for an epoch of CIFAR-10's "
        f"{size:,} training images (the report's accuracy needs the real data)."
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
    return job.experiment.name + ("" if not job.stand_in else f" on {DATASET_NAMES.get(job.used, job.used)}")


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
