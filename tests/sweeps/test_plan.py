"""Planning a sweep: every trial is the train run its command names, and every bad point is named before
anything runs."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from nnrun.config import load_config
from nnrun.errors import ConfigError
from nnrun.runs.progress import Silent
from nnrun.runs.trainer import train
from nnrun.sweeps.plan import config_hash, plan_sweep
from nnrun.sweeps.run import open_study, run_study
from tests.helpers import ROOT, small_config

STUDIES = sorted((ROOT / "configs" / "studies").glob("*.yaml"))


def write(tmp_path: Path, sweep: dict, **sections) -> Path:
    config = small_config(**sections)
    config["model"]["layers"][0] = {"type": "dense_stack", "units": [16], "name": "hidden"}
    config["sweep"] = sweep
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_each_trial_is_the_train_run_its_sets_describe(tmp_path):
    path = write(
        tmp_path, {"parameters": {"model.hidden.units": [[8], [8, 8]], "optimizer.lr": [0.01]}, "seeds": [3, 4]}
    )
    plan = plan_sweep(path, ["train.epochs=2"])
    assert [(t.point, t.seed) for t in plan.trials] == [(1, 3), (1, 4), (2, 3), (2, 4)]
    for trial in plan.trials:
        assert load_config(path, list(trial.sets)).resolved() == trial.config
        assert trial.config["train"]["epochs"] == 2 and trial.config["seed"] == trial.seed
    assert plan.trials[2].sets == ("train.epochs=2", "model.hidden.units=[8, 8]", "optimizer.lr=0.01", "seed=3")
    assert len({t.id for t in plan.trials}) == 4


def test_the_command_round_trips_through_the_shell(tmp_path):
    path = write(tmp_path, {"parameters": {"loss": ["softmax_cross_entropy"], "model.hidden.units": [[8, 8]]}})
    trial = plan_sweep(path).trials[0]
    command = trial.command(str(path), threads=1)
    words = shlex.split(command)
    assert words[:3] == ["nnrun", "train", str(path)]
    sets = [words[i + 1] for i, word in enumerate(words) if word == "--set"]
    assert sets == ["loss=softmax_cross_entropy", "model.hidden.units=[8, 8]", "seed=0", "train.threads=1"]
    assert load_config(path, sets).resolved()["train"]["threads"] == 1


def test_the_sweeps_own_sets_change_the_spec_but_not_the_trials_commands(tmp_path):
    path = write(tmp_path, {"parameters": {"optimizer.lr": [0.01, 0.02]}})
    plan = plan_sweep(path, ["sweep.seeds=[0, 1, 2]"])
    assert len(plan.trials) == 6
    assert not any(text.startswith("sweep") for trial in plan.trials for text in trial.sets)


def test_the_trial_id_leaves_out_the_thread_count_only():
    config = load_config_dict()
    assert config_hash(config) == config_hash({**config, "train": {**config["train"], "threads": 2}})
    assert config_hash(config) != config_hash({**config, "seed": 1})


def load_config_dict():
    from nnrun.config import config_from_dict

    return config_from_dict(small_config()).resolved()


def test_a_misspelt_layer_name_is_named_with_its_point_and_line(tmp_path):
    path = write(tmp_path, {"parameters": {"model.hiden.units": [[8]]}})
    with pytest.raises(ConfigError) as caught:
        plan_sweep(path)
    message = caught.value.message()
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "model.hiden.units" in text)
    assert f"{path}:{line}: point 1 (model.hiden.units=[8])" in message
    assert "did you mean 'hidden'?" in message


def test_a_bad_value_is_named_with_its_point_and_the_good_points_are_not(tmp_path):
    path = write(tmp_path, {"parameters": {"model.hidden.units": [[8], [0], [8, -1]], "train.batch_size": [16]}})
    with pytest.raises(ConfigError) as caught:
        plan_sweep(path)
    message = caught.value.message()
    assert "2 of the sweep's 3 parameter points are not valid configs" in message
    assert (
        "point 2 (model.hidden.units=[0], train.batch_size=16): model.layers[0].units[0]: Input should be greater"
        in message
    )
    assert "point 3 (model.hidden.units=[8, -1]" in message and "units[1]" in message
    assert "point 1 " not in message


def test_two_points_with_the_same_config_are_refused(tmp_path):
    path = write(tmp_path, {"parameters": {"train.epochs": [2, 2]}})
    with pytest.raises(ConfigError, match="points 1 and 2 of sweep.parameters give the same config"):
        plan_sweep(path)


def test_a_config_without_a_sweep_section_is_refused(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(small_config()))
    with pytest.raises(ConfigError, match="the config has no sweep: section"):
        plan_sweep(path)


def test_a_model_that_does_not_build_is_named_before_any_trial_runs(tmp_path):
    path = write(tmp_path, {"parameters": {"model.input_shape": [[64], [1, 8, 8]]}})
    study = open_study(path, out=tmp_path / "sweep")
    with pytest.raises(ConfigError) as caught:
        run_study(study, workers=1)
    assert "point 2 (model.input_shape=[1, 8, 8])" in caught.value.message()
    assert not (tmp_path / "sweep").exists()


class Messages(Silent):
    def __init__(self):
        self.texts = []

    def message(self, text):
        self.texts.append(text)


def test_train_on_a_config_with_a_sweep_trains_the_base_and_says_so(tmp_path):
    path = write(tmp_path, {"parameters": {"optimizer.lr": [0.01, 0.02]}}, train={"epochs": 1, "batch_size": 64})
    reporter = Messages()
    run = train(path, out=tmp_path / "run", reporter=reporter)
    assert run.status == "completed"
    assert any("sweep: section is ignored" in text for text in reporter.texts)
    assert "sweep: section is ignored" in (run.path / "train.log").read_text()
    assert "sweep" not in run.config and run.config["optimizer"]["lr"] == 0.003


@pytest.mark.parametrize("path", STUDIES, ids=lambda path: path.stem)
def test_every_shipped_study_plans(path):
    plan = plan_sweep(path)
    assert plan.name == path.stem
    if plan.spec.method == "tpe":  # its points come round by round; its ranges' ends were validated
        assert plan.trials == [] and plan.spec.n_trials * len(plan.spec.seeds or [0]) > 1
        return
    assert len(plan.trials) == len(plan.points) * len(plan.spec.seeds or [0]) > 1


def test_the_studies_are_the_ones_the_issue_lists():
    assert {path.stem for path in STUDIES} >= {
        "hidden_units", "dropout", "l2", "optimizer_grid", "losses", "moons_activations"
    }  # fmt: skip


def test_a_point_with_two_problems_counts_once(tmp_path):
    layers = [{"type": "dense_stack", "units": [0], "activation": "relux"}, {"type": "dense_stack", "units": [8]}]
    path = write(tmp_path, {"parameters": {"model.hidden": layers}})
    with pytest.raises(ConfigError) as caught:
        plan_sweep(path)
    message = caught.value.message()
    assert message.startswith("1 of the sweep's 2 parameter points are not valid configs")
    assert "units[0]" in message and "did you mean 'relu'?" in message


def test_a_whole_layer_is_a_value_and_keeps_its_name(tmp_path):
    layers = [{"type": "dense_stack", "units": [8], "activation": "tanh"}, {"type": "dense", "units": 8}]
    path = write(tmp_path, {"parameters": {"model.hidden": layers, "model.hidden.use_bias": [False]}})
    first, second = (trial.config["model"]["layers"][0] for trial in plan_sweep(path).trials)
    assert (first["type"], first["activation"], first["name"], first["use_bias"]) == (
        "dense_stack",
        "tanh",
        "hidden",
        False,
    )
    assert (second["type"], second["units"], second["name"], second["use_bias"]) == ("dense", 8, "hidden", False)
