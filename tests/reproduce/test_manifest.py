"""The manifest's errors say where and what, and plan() picks the report's dataset where it is here, else the
stand-in, and says so in the folder's name."""

from __future__ import annotations

import pytest
import yaml

from nnrun.errors import ConfigError
from nnrun.reproduce.manifest import expand, load_manifest, matches
from nnrun.reproduce.run import plan
from tests.helpers.idx_files import make_dataset

CONFIG = {"name": "x", "data": {"dataset": "mnist"}, "model": {"input_shape": [784], "layers": []}}


def write(folder, manifest: dict | str, configs=("a.yaml",)) -> object:
    for name in configs:
        (folder / name).write_text(yaml.safe_dump(CONFIG))
    path = folder / "reports.yaml"
    path.write_text(manifest if isinstance(manifest, str) else yaml.safe_dump(manifest, sort_keys=False))
    return path


def one(experiment: dict, **manifest) -> dict:
    return {**manifest, "reports": [{"id": "001", "title": "t", "experiments": [experiment]}]}


@pytest.mark.parametrize(
    ("manifest", "message", "where"),
    [
        (one({"config": "missing.yaml"}), "report 001 names missing.yaml, which is not in", "reports.yaml"),
        (
            one({"config": "a.yaml", "publshed": []}),
            "Extra inputs are not permitted",
            "reports.0.experiments.0.publshed",
        ),
        (one({"config": "a.yaml", "metrics": ["test_acc"]}), "'test_acc' is not a trials.csv column", "metrics"),
        (
            one({"config": "a.yaml", "published": [{"best_test_acc": 0.9}]}),
            "each published entry needs point",
            "published",
        ),
        (
            one({"config": "a.yaml", "published": [{"point": {}, "acc": 0.9}]}),
            "'acc' is not a trials.csv column",
            "published",
        ),
        ({"reports": [{"id": "001", "experiments": []}]}, "Field required", "reports.0.title"),
        ("reports: [a, b", "not valid YAML", "reports.yaml"),
    ],
)
def test_a_bad_manifest_says_what_and_where(tmp_path, manifest, message, where):
    with pytest.raises(ConfigError) as caught:
        load_manifest(write(tmp_path, manifest))
    assert message in caught.value.what and where in caught.value.where


def test_a_missing_manifest_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the manifest"):
        load_manifest(tmp_path / "nope.yaml")


def test_published_points_name_linked_parameters_by_any_of_their_paths():
    point = {"model.bn.type, model.drop.rate": ["batchnorm", 0.3], "optimizer.lr": 0.1}
    assert expand(point) == {"model.bn.type": "batchnorm", "model.drop.rate": 0.3, "optimizer.lr": 0.1}
    assert matches({"model.drop.rate": 0.3}, point) and matches({}, point)
    assert not matches({"model.drop.rate": 0.0}, point) and not matches({"loss": "hinge"}, point)


@pytest.fixture()
def no_data(tmp_path, monkeypatch):
    monkeypatch.setenv("NNRUN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NNRUN_OFFLINE", "1")
    return tmp_path / "data"


def test_plan_uses_the_report_s_dataset_where_it_is_here_else_the_named_stand_in(tmp_path, no_data):
    manifest = load_manifest(
        write(tmp_path, one({"config": "a.yaml", "set": ["train.epochs=2"], "stand_in": {"set": ["data.val=10"]}},
                            stand_ins={"mnist": {"dataset": "fashion_mnist", "set": ["train.seed=1"]}}))
    )  # fmt: skip
    [absent] = plan(manifest, tmp_path, manifest.reports, tmp_path / "out", download=False)
    assert (absent.used, absent.stand_in, absent.folder.name) == ("fashion_mnist", True, "a-fashion_mnist")
    assert absent.overrides == ["train.epochs=2", "data.dataset=fashion_mnist", "train.seed=1", "data.val=10"]

    make_dataset(no_data / "mnist")
    [present] = plan(manifest, tmp_path, manifest.reports, tmp_path / "out", download=False)
    assert (present.used, present.stand_in, present.folder.name) == ("mnist", False, "a")
    assert present.overrides == ["train.epochs=2"]


def test_plan_refuses_an_absent_dataset_without_a_stand_in(tmp_path, no_data):
    manifest = load_manifest(write(tmp_path, one({"config": "a.yaml"})))
    with pytest.raises(ConfigError, match="mnist is not on this machine and the manifest names no stand-in") as caught:
        plan(manifest, tmp_path, manifest.reports, tmp_path / "out", download=False)
    assert "nnrun data download mnist" in caught.value.hint
