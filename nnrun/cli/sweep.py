"""`nnrun sweep CONFIG`: run the study in a config's sweep: section, in parallel, into one table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nnrun.cli.errors import handles_errors, report
from nnrun.cli.options import Debug, NoPlot, Offline, Overrides, Quiet, apply_offline

if TYPE_CHECKING:
    from rich.table import Table

    from nnrun.sweeps.run import Study


@handles_errors
def sweep(
    config: Annotated[
        Path | None, typer.Argument(help="YAML config with a sweep: section (omit with --resume).")
    ] = None,
    overrides: Overrides = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Sweep folder (default results/<name>/sweep-<hash of the base config>)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="Trials at once on this machine (default: the cores).")
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option("--dask", metavar="ADDRESS|local", help="Run the trials on a Dask cluster, or a local one."),
    ] = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue the sweep in this folder (CONFIG optional).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even though the base config changed (old trials go stale).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the trials (and a schedule's rung plan) and run nothing.")
    ] = False,
    quiet: Quiet = False,
    no_plot: NoPlot = False,
    offline: Offline = False,
    debug: Debug = False,
) -> None:
    """Run every trial of the config's sweep: section and write trials.csv and a mean ± std summary.

    The same command run again resumes the sweep: finished trials are kept, killed ones continue. With
    sweep.schedule (halving or hyperband) every point trains to a first rung and only the best go on.

    Example: nnrun sweep configs/studies/hidden_units.yaml --workers 2
    """
    from rich.console import Console  # imported here: keeps `nnrun --help` fast

    from nnrun.sweeps import rounds
    from nnrun.sweeps import run as api
    from nnrun.sweeps.progress import RichSweepView

    apply_offline(offline)
    study = api.open_study(config, overrides or (), out=out, resume=resume, force=force)
    if dry_run:
        console = Console()
        console.print(trials_table(study))
        if study.plan.spec.method == "tpe":
            for line in rounds.plan_lines(study.plan):
                console.print(line, highlight=False, markup=False)
        elif study.plan.spec.schedule:
            for line in api.rung_plan(study.plan):
                console.print(line, highlight=False, markup=False)
        return
    reporter = None if quiet else RichSweepView()
    result = api.run_study(study, workers=workers, dask=dask, reporter=reporter, plot=not no_plot)
    if result.failed:
        report(f"{len(result.failed)} of {len(result.trials)} trials did not finish; see {result.path}/trials.csv")
        raise typer.Exit(1)


def trials_table(study: Study) -> Table:
    """The dry run's table: every trial with its point, parameters, seed and state, then the stale ones."""
    from rich.markup import escape
    from rich.table import Table

    from nnrun.sweeps.plan import inline_value
    from nnrun.sweeps.progress import parameters_caption
    from nnrun.sweeps.summary import short_names

    plan = study.plan
    parameters = list(plan.spec.parameters)
    title = f"{plan.name}: {len(plan.trials)} trials in {study.folder.path} (dry run: nothing runs)"
    if plan.spec.method == "tpe":
        title += "; tpe suggests the rest as results come"
    if plan.dropped:
        title += f"; {plan.dropped} repeated random draws dropped"
    # the parameters' headers are the ends of their key paths that tell them apart; the caption names them
    table = Table(title=escape(title), caption=parameters_caption(parameters), caption_justify="left")
    table.add_column("trial", no_wrap=True)
    table.add_column("point")
    names = short_names(parameters)
    for parameter in parameters:
        table.add_column(escape(names[parameter]))
    table.add_column("seed")
    table.add_column("state")
    for trial in plan.trials:
        values = [escape(inline_value(trial.params[p])) for p in parameters]
        table.add_row(trial.id, str(trial.point), *values, str(trial.seed), study.states[trial.id])
    for name in study.stale:
        table.add_row(name, "", *("" for _ in parameters), "", "stale")
    return table
