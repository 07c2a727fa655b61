"""`nnrun reproduce [REPORT ...]`: run the reports' experiments and rebuild docs/reproductions.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nnrun.cli.errors import handles_errors, report
from nnrun.cli.options import Debug, Quiet


@handles_errors
def reproduce(
    reports: Annotated[
        list[str] | None, typer.Argument(help="Report ids, e.g. 000 002 (default: every report).", show_default=False)
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="Trials at once (default: the cores).")] = None,
    page_only: Annotated[
        bool, typer.Option("--page", help="Run nothing: only rebuild the page from results/reports/.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each experiment's data, overrides and folder; run nothing.")
    ] = False,
    download: Annotated[
        bool,
        typer.Option("--download", help="Download a report's dataset that is absent instead of using a stand-in."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Resume an experiment whose config or budget changed (old trials go stale).")
    ] = False,
    manifest: Annotated[Path, typer.Option("--manifest", help="The manifest of reports and experiments.")] = Path(
        "configs/reports/reports.yaml"
    ),
    results: Annotated[Path, typer.Option("--results", help="Where the experiments' folders go.")] = Path(
        "results/reports"
    ),
    page: Annotated[Path, typer.Option("--page-file", help="The page to write.")] = Path("docs/reproductions.md"),
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Run the reports' experiments (configs/reports/) and rebuild docs/reproductions.md from their results.

    Each experiment is a sweep into results/reports/<config>/ (or <config>-<stand-in>/ when the report's
    dataset is absent and another stands in); run again, it resumes and skips what is done.

    Examples: nnrun reproduce; nnrun reproduce 001 --workers 2; nnrun reproduce --page
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.errors import NnrunError
    from nnrun.reproduce.manifest import load_manifest
    from nnrun.reproduce.page import write_page
    from nnrun.reproduce.run import draw_figures, plan, run
    from nnrun.sweeps.progress import RichSweepView

    console = Console()
    loaded = load_manifest(manifest)
    chosen = loaded.select(list(reports or []))
    # every report's folders, for the page; only the chosen ones may download
    jobs = plan(loaded, manifest.parent, loaded.reports, results, download=False)
    if download:
        fresh = plan(loaded, manifest.parent, chosen, results, download=True)
        jobs = [next((f for f in fresh if f.config == j.config), j) for j in jobs]
    selected = [job for job in jobs if job.report in chosen]
    if dry_run:
        for job in selected:
            state = "resumes" if (job.folder / "sweep.yaml").is_file() else "new"
            data = job.used if not job.stand_in else f"{job.used} (stands in for {job.dataset})"
            settings = " ".join(f"--set {o}" for o in job.overrides) or "no overrides"
            console.print(f"{job.report.id} {job.experiment.name}: {data}; {settings}; {job.folder} ({state})")
        return
    failed = []
    if not page_only:
        for job in selected:
            if not quiet:
                data = job.used if not job.stand_in else f"{job.used}, standing in for {job.dataset}"
                console.rule(f"report {job.report.id} · {job.experiment.name} on {data} → {job.folder}")
            try:
                record = run(job, workers, force=force, reporter=None if quiet else RichSweepView())
                draw_figures(job)
            except NnrunError as error:  # the other experiments still run; the failure is listed at the end
                failed.append(f"{job.report.id} {job.experiment.name}: {error.message()}")
                report(failed[-1])
                continue
            if record["failed"]:
                failed.append(
                    f"{job.report.id} {job.experiment.name}: {record['failed']} failed trial"
                    + "s" * (record["failed"] > 1)
                )
    written = write_page(loaded, jobs, page)
    if not quiet:
        console.print(f"wrote {written}", highlight=False)
    if failed:
        report(f"{len(failed)} of {len(selected)} experiments did not finish: " + "; ".join(failed))
        raise typer.Exit(1)
