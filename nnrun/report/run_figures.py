"""Which figures a run folder gets, and drawing them: the one rule that the run folder's writer (as it
trains), `nnrun plot` and `nnrun report` all follow.

A run's standard figures are drawn by whoever `FIGURES` names, where they apply to the run. Inspecting the
trained model (confusion, misclassified, filters, maps: inspect.py) costs a pass over a split, so it is
drawn only when asked for; a report shows what an earlier `nnrun plot --inspect` left in the folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nnrun.errors import RunError
from nnrun.report.boundary import is_planar, plot_boundary
from nnrun.report.curves import plot_run
from nnrun.report.diagnostics import plot_diagnostics
from nnrun.report.graph import plot_model_graph
from nnrun.report.inspect import plot_inspection
from nnrun.results import Run, load_run

TRAIN, PLOT, REPORT = "train", "plot", "report"


@dataclass(frozen=True)
class Figure:
    name: str  # the file's stem
    caption: str
    draw: Callable[..., Path]  # (run folder, out folder or None, format) -> the file
    applies: Callable[[Run], bool]
    drawn_by: frozenset[str]


FIGURES = (
    Figure("curves", "accuracy and loss against epoch for each split; the best evaluation marked", plot_run,
           lambda run: True, frozenset({TRAIN, PLOT, REPORT})),
    Figure("boundary", "the decision boundary over the plane, with the training points", plot_boundary,
           lambda run: is_planar(run.config), frozenset({PLOT, REPORT})),
    Figure("training_diagnostics", "per-layer activation spread, dead relus, gradient norms and update/weight "
           "ratios", plot_diagnostics, lambda run: (run.path / "diagnostics.csv").is_file(),
           frozenset({TRAIN, PLOT, REPORT})),
    Figure("graph", "the network: each layer's output shape and parameters", plot_model_graph,
           lambda run: True, frozenset({REPORT})),
)  # fmt: skip

INSPECTION = {  # what each inspection figure shows, by file stem
    "confusion": "confusion matrix on the test split",
    "misclassified": "misclassified test examples, true → predicted",
    "filters": "the first layer's filters",
    "activations_tsne": "t-SNE of the last hidden layer's activations, coloured by class",
    "activations_pca": "PCA of the last hidden layer's activations, coloured by class",
    "weights_tsne": "t-SNE of a dense layer's units by their input weights",
    "weights_pca": "PCA of a dense layer's units by their input weights",
}
CAPTIONS = {**{figure.name: figure.caption for figure in FIGURES}, **INSPECTION}


@dataclass
class Inspect:
    """What `nnrun plot --inspect` draws: `kinds` (None: every kind that applies) on `split`."""

    kinds: list[str] | None = None
    split: str = "test"
    method: str = "tsne"
    layer: str | None = None


@dataclass
class Drawn:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<figure>: <why not>"


def draw_run(
    run_dir: str | Path, by: str, out: str | Path | None = None, fmt: str = "png", inspect: Inspect | None = None
) -> Drawn:
    """Draw the run's figures that `by` (train, plot or report) draws, into `out` (default: the run folder).

    A figure that cannot be drawn yet (no evaluation, no model.npz) is skipped with its reason, except for
    the writer as it trains, where that is a bug and raises. Inspection kinds asked for by name raise too.
    """
    run = load_run(run_dir)
    drawn = Drawn()
    for figure in FIGURES:
        if by not in figure.drawn_by or not figure.applies(run):
            continue
        try:
            drawn.written.append(figure.draw(run.path, out, fmt))
        except RunError as error:
            if by == TRAIN:
                raise
            drawn.skipped.append(f"{figure.name}: {error.what}")
    if inspect is not None:
        try:
            written, skipped = plot_inspection(
                run.path, out, fmt, inspect.split, inspect.kinds, inspect.method, inspect.layer
            )
            drawn.written += written
            drawn.skipped += skipped
        except RunError as error:
            if inspect.kinds:  # asked for by name: not drawing it is a failure, not a note
                raise
            drawn.skipped.append(f"the inspection: {error.what}")
    elif by == REPORT:  # what `nnrun plot --inspect` drew earlier
        drawn.written += [run.path / f"{stem}.png" for stem in INSPECTION if (run.path / f"{stem}.png").is_file()]
    return drawn
