"""configs/reports/: every experiment config plans, trains on small data of its dataset's shape, and matches
the manifest that names it; the manifest's published points and metrics exist."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from typer.testing import CliRunner

from nnrun.cli import app
from nnrun.config.validate import load_config
from nnrun.registry import DATASETS
from nnrun.reproduce.manifest import load_manifest, matches
from nnrun.results import TRIAL_COLUMNS
from nnrun.runs.trainer import train
from nnrun.sweeps.plan import plan_sweep
from tests.helpers import ROOT

REPORTS = ROOT / "configs" / "reports"
MANIFEST = REPORTS / "reports.yaml"
CONFIGS = sorted(path for path in REPORTS.glob("*.yaml") if path != MANIFEST)
EXPERIMENTS = [(report.id, e) for report in load_manifest(MANIFEST).reports for e in report.experiments]


def tiny_data(folder, dataset: str) -> dict:
    """An .npz of 200 + 20 random images of the dataset's shape and classes (labels cycle through them)."""
    path = folder / f"{dataset}.npz"
    if not path.is_file():
        cls = DATASETS.get(dataset)
        rng = np.random.default_rng(0)
        shape, classes = tuple(cls.shape), int(cls.classes)
        np.savez(
            path,
            x_train=rng.integers(0, 256, (200, *shape), dtype=np.uint8),
            y_train=np.arange(200) % classes,
            x_test=rng.integers(0, 256, (20, *shape), dtype=np.uint8),
            y_test=np.arange(20) % classes,
        )
    return {"dataset": "npz", "path": str(path), "val": 10}


def shrunk(config: dict, folder) -> dict:
    """The trial's config trained for 2 steps on small data; everything else as shipped."""
    config = copy.deepcopy(config)
    data = config["data"]
    if data["dataset"] in ("moons", "circles", "spirals", "xor"):
        data.update(n=80)
    else:
        kept = {k: data[k] for k in ("classes", "positive", "normalize", "flatten", "augment") if data.get(k)}
        config["data"] = {**tiny_data(folder, data["dataset"]), **kept}
    config["train"].update(epochs=None, max_steps=2, eval_every=None, batch_size=8, checkpoint=False)
    config.pop("sweep", None)
    return config


def distinct_points(path, every: bool):
    """A trial per point (seed aside): the first, the middle and the last, or every one."""
    firsts = {}
    for trial in plan_sweep(path).trials:
        firsts.setdefault(trial.point, trial)
    trials = list(firsts.values())
    return trials if every else list({id(t): t for t in (trials[0], trials[len(trials) // 2], trials[-1])}.values())


def train_points(path, tmp_path, every):
    for trial in distinct_points(path, every):
        config = shrunk(trial.config, tmp_path)
        run = train(config, out=tmp_path / trial.id, plot=False)
        assert run.status == "completed", (path.name, trial.params)
        assert np.isfinite(run.history[-1]["train_loss"]), (path.name, trial.params)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_every_report_config_passes_nnrun_check(path):
    result = CliRunner().invoke(app, ["check", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "config ok." in result.output and "sweep: grid over" in result.output


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_every_report_config_trains_a_few_steps(path, tmp_path):
    train_points(path, tmp_path, every=False)


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_every_point_of_every_report_config_trains_a_few_steps(path, tmp_path):
    train_points(path, tmp_path, every=True)


def test_the_manifest_names_every_config_once():
    named = sorted(experiment.config for _, experiment in EXPERIMENTS)
    assert named == sorted(path.name for path in CONFIGS)
    assert [report.id for report in load_manifest(MANIFEST).reports] == ["000", "001", "002", "003", "004"]


def test_each_config_is_named_after_its_file():
    for path in CONFIGS:
        assert load_config(path).name == "r" + path.stem, path.name


@pytest.mark.parametrize(("report", "experiment"), EXPERIMENTS, ids=lambda value: getattr(value, "name", value))
def test_published_numbers_belong_to_points_of_the_sweep(report, experiment):
    manifest = load_manifest(MANIFEST)
    dataset = load_config(REPORTS / experiment.config).data["dataset"]
    stand_in = manifest.stand_ins.get(dataset)
    overrides = [*experiment.set, *experiment.stand_in.set]
    if experiment.stand_in.dataset:
        overrides.append(f"data.dataset={experiment.stand_in.dataset}")
    plan = plan_sweep(REPORTS / experiment.config, overrides)  # the budget and the stand-in make valid configs
    assert stand_in is not None or dataset == "moons", f"{dataset} has no stand-in"
    for entry in experiment.published:
        matching = [point for point in plan.points if matches(entry["point"], point)]
        assert len(matching) == 1 or (entry["point"] == {} and len(plan.points) == 1), (report, entry)
    columns = set(TRIAL_COLUMNS)
    for name in experiment.metrics + [m for entry in experiment.published for m in entry if m != "point"]:
        assert name in columns, (report, name)
