"""Each figure renders from a folder the test makes: the right files, a sensible size, not blank."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

import nnrun
from nnrun.errors import RunError
from nnrun.report.boundary import plot_boundary
from nnrun.report.compare import differences, labels
from nnrun.report.curves import plot_run
from nnrun.report.sweep import fitted, key, plot_sweep, short, shortened, show
from tests.helpers import small_config


def looks_drawn(path, min_width=400, min_height=250) -> tuple[int, int]:
    """The image's size, after checking it is big enough and not one flat colour."""
    image = np.asarray(Image.open(path).convert("L"), dtype=float)
    height, width = image.shape
    assert width >= min_width and height >= min_height, (path, image.shape)
    assert image.std() > 10, f"{path} is nearly blank"
    return width, height


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    config = small_config(train={"epochs": 3, "batch_size": 64})
    config["sweep"] = {"parameters": {"optimizer.lr": [0.001, 0.01], "model.hidden.units": [8, 32]}, "seeds": [0, 1]}
    return nnrun.sweep(config, out=tmp_path_factory.mktemp("figures") / "sweep", workers=2).path


def test_a_sweep_draws_each_parameter_a_heatmap_and_the_curves(sweep_dir, tmp_path):
    written = plot_sweep(sweep_dir, out=tmp_path)
    names = sorted(path.name for path in written)
    assert names == [
        "val_acc_curves.png", "val_acc_heatmap.png", "val_acc_vs_model.hidden.units.png", "val_acc_vs_optimizer.lr.png"
    ]  # fmt: skip
    for path in written:
        looks_drawn(path)


def test_another_metric_and_vector_formats(sweep_dir, tmp_path):
    written = plot_sweep(sweep_dir, metric="test_loss", out=tmp_path, fmt="svg")
    assert all(
        path.name.startswith("test_loss_") and path.read_bytes().lstrip().startswith(b"<?xml") for path in written
    )
    pdf = plot_run(sweep_dir / "trials" / nnrun.load_sweep(sweep_dir).trials[0]["trial"], tmp_path, "pdf")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_a_metric_the_trials_lack_is_named(sweep_dir, tmp_path):
    with pytest.raises(RunError, match="no finished trial with train_loss_x"):
        plot_sweep(sweep_dir, metric="train_loss_x", out=tmp_path)


def test_run_curves_gain_a_learning_rate_panel_when_it_changes(tmp_path):
    flat = nnrun.train(small_config(train={"epochs": 3, "batch_size": 64}), out=tmp_path / "flat")
    stepped = nnrun.train(
        small_config(
            train={"epochs": 3, "batch_size": 64},
            optimizer={"type": "adam", "lr": 0.003, "schedule": {"type": "step", "every": 1, "gamma": 0.5}},
        ),
        out=tmp_path / "stepped",
    )
    _, flat_height = looks_drawn(flat.path / "curves.png")
    _, stepped_height = looks_drawn(stepped.path / "curves.png")
    assert stepped_height > flat_height  # the extra panel


def test_a_run_without_evaluations_is_skipped_with_its_reason(tmp_path, cli):
    run = nnrun.train(small_config(train={"epochs": 1, "batch_size": 64}), out=tmp_path / "done")
    partial = tmp_path / "partial"
    shutil.copytree(run.path, partial)
    (partial / "metrics.csv").unlink()
    with pytest.raises(RunError, match="has no evaluation to draw yet"):
        plot_run(partial)
    result = cli("plot", "partial", "done", "--out", "figs")
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stdout and "has no evaluation to draw yet" in result.stdout
    looks_drawn(tmp_path / "figs" / "done" / "curves.png")


def test_a_folder_that_is_neither_exits_2(tmp_path, cli):
    (tmp_path / "stuff").mkdir()
    result = cli("plot", "stuff")
    assert result.returncode == 2
    assert "neither a run folder" in result.stderr


def test_a_sweep_draws_its_figures_at_the_end_and_no_plot_skips_them(sweep_dir, tmp_path):
    assert {path.name for path in sweep_dir.glob("*.png")} == {
        "val_acc_curves.png", "val_acc_heatmap.png", "val_acc_vs_model.hidden.units.png", "val_acc_vs_optimizer.lr.png"
    }  # fmt: skip
    assert all(
        (sweep_dir / "trials" / row["trial"] / "curves.png").is_file() for row in nnrun.load_sweep(sweep_dir).trials
    )
    config = small_config(train={"epochs": 1, "batch_size": 64})
    config["sweep"] = {"parameters": {"optimizer.lr": [0.01]}}
    bare = nnrun.sweep(config, out=tmp_path / "bare", workers=1, plot=False)
    assert not list(bare.path.rglob("*.png"))
    run = nnrun.train(small_config(train={"epochs": 1, "batch_size": 64}), out=tmp_path / "run", plot=False)
    assert (run.path / "metrics.csv").is_file() and not (run.path / "curves.png").exists()


def test_linked_parameters_label_each_small_multiple_on_one_line():
    linked = "model.hidden.units, model.hidden.activation"
    assert f"{short(linked)}={show(key([[3, 3, 3], 'tanh']))}" == "units, activation=[[3, 3, 3], tanh]"
    assert short("optimizer.lr") == "lr" and show(key([400, 400, 400])) == "[400, 400, 400]"
    assert shortened("model.a1.type, model.a2.type, model.a3.type") == "model.a1.type … model.a3.type"
    assert shortened(linked) == linked
    assert fitted("r: val_acc", "against lr") == "r: val_acc against lr"
    assert fitted("r004_dcn_activations: val_acc", "against model.a1.type … model.a3.type").count("\n") == 1


def test_runs_are_labelled_by_the_config_values_in_which_they_differ():
    base = small_config()
    other = small_config(optimizer={"type": "adam", "lr": 0.01})
    other["model"]["layers"][0]["units"] = 64
    assert differences([base, other]) == ["model.layers[0].units", "optimizer.lr"]
    assert differences([base, small_config()]) == []


def test_several_runs_are_overlaid_in_one_comparison(tmp_path, cli):
    for lr in (0.001, 0.01):
        nnrun.train(small_config(optimizer={"type": "adam", "lr": lr}, train={"epochs": 2, "batch_size": 64}),
                    out=tmp_path / f"lr{lr}")  # fmt: skip
    result = cli("plot", "lr0.001", "lr0.01", "--out", "figs")
    assert result.returncode == 0, result.stderr
    looks_drawn(tmp_path / "figs" / "comparison.png")
    assert (tmp_path / "figs" / "lr0.01" / "curves.png").is_file()
    runs = [nnrun.load_run(tmp_path / name) for name in ("lr0.001", "lr0.01")]
    assert labels(runs) == ["optimizer.lr=0.001", "optimizer.lr=0.01"]


MOONS = {"dataset": "moons", "n": 300, "noise": 0.15, "val": 0.15, "test": 0.2}
MOONS_MODEL = {
    "input_shape": [2],
    "layers": [
        {"type": "dense_stack", "units": [8], "activation": "tanh", "name": "hidden"},
        {"type": "dense", "units": 2},
    ],
}


def test_a_2d_run_draws_its_decision_boundary_and_a_sweep_its_small_multiples(tmp_path):
    run = nnrun.train(
        small_config(data=MOONS, model=MOONS_MODEL, train={"epochs": 5, "batch_size": 32}), out=tmp_path / "r"
    )
    looks_drawn(plot_boundary(run.path), min_width=450, min_height=400)
    config = small_config(data=MOONS, model=MOONS_MODEL, train={"epochs": 3, "batch_size": 32})
    config["sweep"] = {"parameters": {"model.hidden.activation": ["tanh", "relu"]}}
    sweep = nnrun.sweep(config, out=tmp_path / "s", workers=2)
    width, height = looks_drawn(sweep.path / "boundaries.png")
    assert width > height  # two panels side by side
    with pytest.raises(RunError, match="is not a 2-D model"):
        plot_boundary(nnrun.train(small_config(train={"epochs": 1, "batch_size": 64}), out=tmp_path / "d").path)


def test_train_plot_and_report_draw_a_run_by_one_rule(tmp_path, cli):
    """The rule (report/run_figures.py): the writer draws the curves and the per-layer diagnostics as it
    trains; `nnrun plot` adds the boundary of a 2-D model; a report adds the network's graph."""
    from nnrun.report.document import write_report

    config = small_config(data=MOONS, model=MOONS_MODEL, train={"epochs": 2, "batch_size": 32, "diagnostics": True})
    run = nnrun.train(config, out=tmp_path / "r")
    assert {path.name for path in run.path.glob("*.png")} == {"curves.png", "training_diagnostics.png"}
    result = cli("plot", run.path, "--out", "figs")
    assert result.returncode == 0, result.stderr
    drawn = {"curves.png", "boundary.png", "training_diagnostics.png"}
    assert {path.name for path in (tmp_path / "figs").iterdir()} == drawn
    written = write_report(run.path)
    assert {path.name for path in written.figures} == drawn | {"graph.png"}


def test_the_curves_of_a_grid_too_big_for_a_legend_leave_it_out(tmp_path):
    # an 81-point grid's legend was taller than the figure: matplotlib gave up its layout with a warning
    import warnings

    from nnrun.report.sweep import LEGEND_POINTS, curves_figure

    config = small_config(train={"epochs": 1, "batch_size": 256})
    config["sweep"] = {"parameters": {"model.hidden.units": list(range(4, 45))}}  # 41 points: the warning's
    study = nnrun.sweep(config, out=tmp_path / "sweep", workers=2, plot=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = curves_figure(study, "val_acc")
        figure.savefig(tmp_path / "curves.png")
    assert 41 > LEGEND_POINTS and figure.axes[0].get_legend() is None and "41 points" in figure.axes[0].get_title()
