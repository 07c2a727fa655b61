"""Config loading: schema, file:line errors with did-you-mean, --set overrides, resolved round trip, reference."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nnrun.config import (
    Config,
    EarlyStoppingConfig,
    ModelConfig,
    OptimizerConfig,
    Override,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_reference,
    dump_yaml,
    load_config,
    parse_yaml,
)
from nnrun.errors import ConfigError
from nnrun.registry import DATASETS, INITIALIZERS, LAYERS, LOSSES, OPTIMIZERS, SCHEDULES
from tests.helpers import ROOT

CONFIGS = ROOT / "configs"
SHIPPED = ["quickstart", "cnn", "mlp", "moons", "digits_cnn"]

# Line numbers matter: tests replace text in place so that each key stays on the line noted here.
BASE = """\
name: t
seed: 0
data: {dataset: digits}
model:
  input_shape: [64]
  layers:
    - {type: dense, units: 32, name: hidden}
    - {type: relu}
    - {type: dropout, rate: 0.1}
    - {type: dense, units: 10}
optimizer:
  type: adam
  lr: 0.001
train:
  epochs: 2
  batch_size: 16
"""
#     1 name  2 seed  3 data  4 model  5 input_shape  6 layers  7 hidden dense  8 relu  9 dropout
#     10 dense 10  11 optimizer  12 type  13 lr  14 train  15 epochs  16 batch_size

# the preprocessing keys every dataset shares (nnrun.data.base.Loader), at their defaults
COMMON_DATA_DEFAULTS = {
    "classes": None,
    "positive": None,
    "n_train": None,
    "n_test": None,
    "normalize": "scale",
    "flatten": False,
    "augment": None,
}


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str = BASE, overrides=()) -> Config:
    return load_config(write(tmp_path, text), overrides)


def error(tmp_path: Path, text: str = BASE, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, overrides)
    assert info.value.exit_code == 2
    return str(info.value)


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# --- valid configs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_load_and_round_trip(name):
    config = load_config(CONFIGS / f"{name}.yaml")
    assert config.name == name
    resolved = config.resolved()
    assert config_from_dict(resolved) == config
    # through YAML text too, as the run folder's config.yaml is read back on resume
    text = dump_yaml(resolved)
    assert yaml.safe_load(text) == resolved
    assert config_from_dict(yaml.safe_load(text)) == config


def test_shipped_cnn_matches_report():
    config = load_config(CONFIGS / "cnn.yaml")
    conv, *_ = config.model.layers
    assert conv["type"] == "conv2d" and conv["filters"] == 32 and conv["kernel"] == 5 and conv["padding"] == "same"
    assert conv["weight_init"] == {"type": "truncated_normal", "std": 0.1, "mean": 0.0}
    assert conv["bias_init"] == {"type": "constant", "value": 0.1}
    assert [layer["type"] for layer in config.model.layers] == [
        "conv2d", "relu", "maxpool2d", "flatten", "dense", "relu", "dropout", "dense",
    ]  # fmt: skip
    assert config.model.layers[4]["name"] == "hidden" and config.model.layers[4]["units"] == 512
    assert config.data == {**config.data, "dataset": "mnist", "val": 5000}
    assert config.optimizer.type == "adam" and config.optimizer.lr == 0.001
    assert config.train.batch_size == 50 and config.train.epochs == 10
    stopping = config.train.early_stopping
    assert stopping.monitor == "val_loss" and stopping.patience == 3 and stopping.restore_best


def test_defaults_are_filled_in(tmp_path):
    config = load(tmp_path)
    assert config.dtype == "float32" and config.seed == 0
    assert config.model.input_shape == (64,)
    assert config.model.weight_init == {"type": "xavier_uniform", "gain": 1.0}
    assert config.model.bias_init == {"type": "zeros"}
    assert config.model.layers[0] == {
        "type": "dense", "units": 32, "use_bias": True, "weight_init": None, "bias_init": None, "name": "hidden",
    }  # fmt: skip
    assert config.model.layers[1] == {"type": "relu", "name": None}
    assert config.loss == {"type": "softmax_cross_entropy"}
    assert config.optimizer.args == {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert config.optimizer.spec() == {"type": "adam", **config.optimizer.args}
    assert config.optimizer.schedule == {"type": "constant"}
    optimizer = config.optimizer
    assert (optimizer.weight_decay, optimizer.decay_bias, optimizer.clip_norm) == (0.0, False, None)
    assert config.train == TrainConfig(epochs=2, batch_size=16)
    assert config.data == {"dataset": "digits", "val": 0.15, "test": 0.2, **COMMON_DATA_DEFAULTS}


def test_resolved_is_plain_and_complete(tmp_path):
    text = edit("data: {dataset: digits}", "data: {dataset: moons}").replace("[64]", "[2]")
    text = edit("  lr: 0.001\n", "  lr: 0.001\n  schedule: {type: step, every: 2}\n", text)
    resolved = load(tmp_path, text).resolved()
    assert list(resolved) == ["name", "seed", "dtype", "data", "model", "loss", "optimizer", "train"]
    assert resolved["data"] == {
        "dataset": "moons",
        "n": 1000,
        "noise": 0.2,
        "val": 0.15,
        "test": 0.2,
        **COMMON_DATA_DEFAULTS,
    }
    assert resolved["model"]["input_shape"] == [2]  # a list, so yaml.safe_dump can write it
    assert resolved["optimizer"] == {
        "type": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
        "weight_decay": 0.0, "decay_bias": False, "clip_norm": None, "schedule": {"type": "step", "every": 2, "gamma": 0.1},
    }  # fmt: skip
    assert resolved["train"]["early_stopping"] is None and resolved["train"]["max_steps"] is None
    yaml.safe_dump(resolved)  # nothing YAML-unsafe (tuples, numpy scalars) left


def test_conv_pairs_round_trip_through_yaml(tmp_path):
    text = edit("[64]", "[1, 8, 8]")
    text = edit(
        "    - {type: dense, units: 32, name: hidden}\n",
        "    - {type: conv2d, filters: 4, kernel: [3, 2], padding: [1, 0]}\n",
        text,
    )
    config = load(tmp_path, text)
    assert config.model.layers[0]["kernel"] == (3, 2)
    text = dump_yaml(config.resolved())
    assert "kernel: [3, 2]" in text
    assert config_from_dict(yaml.safe_load(text)) == config


def test_config_from_dict_and_python_api():
    raw = yaml.safe_load(BASE)
    config = config_from_dict(raw)
    assert config.model.layers[0]["units"] == 32
    assert raw["model"]["layers"][1] == {"type": "relu"}  # the caller's dict is left alone
    bad = {**raw, "model": {**raw["model"], "layers": [{"type": "dense", "units": 0}]}}
    with pytest.raises(ConfigError, match=r"^<dict>: model\.layers\[0\]\.units: Input should be greater than 0"):
        config_from_dict(bad)
    with pytest.raises(ConfigError, match=r"^saved\.yaml: model\.layers\[0\]\.units"):
        config_from_dict(bad, source="saved.yaml")


def test_name_defaults_to_file_stem(tmp_path):
    config = load_config(write(tmp_path, edit("name: t\n", ""), name="my run.yaml"))
    assert config.name == "my_run"


def test_shorthands(tmp_path):
    text = edit("    - {type: relu}\n", "    - relu\n")
    text = edit("data: {dataset: digits}", "data: digits", text)
    text += "loss: hinge\n"
    config = load(tmp_path, text)
    assert config.model.layers[1] == {"type": "relu", "name": None}
    assert config.data["dataset"] == "digits"
    assert config.loss == {"type": "hinge", "margin": 1.0}


def test_yaml_1_1_exponent_is_read_as_float(tmp_path):
    data, _ = parse_yaml("lr: 1e-3\nother: 2E+5\nname: 1e3x\n")
    assert data == {"lr": 0.001, "other": 2e5, "name": "1e3x"}
    config = load(tmp_path, edit("lr: 0.001", "lr: 1e-3"))
    assert config.optimizer.lr == 0.001


def test_epochs_or_max_steps(tmp_path):
    config = load(tmp_path, edit("  epochs: 2\n", "  max_steps: 40\n"))
    assert config.train.max_steps == 40 and config.train.epochs is None
    assert config_from_dict(config.resolved()) == config
    message = error(tmp_path, edit("  epochs: 2\n", "  epochs: 2\n  max_steps: 40\n"))
    assert "run.yaml:14: train: give either epochs (2) or max_steps (40), not both" in message
    message = error(tmp_path, edit("  epochs: 2\n", "  epochs: null\n"))
    assert "train: give the length of training" in message


def test_weight_scale(tmp_path):
    text = edit("  input_shape: [64]\n", "  input_shape: [64]\n  weight_scale: 0.01\n")
    config = load(tmp_path, text)
    assert config.model.weight_init == {"type": "normal", "std": 0.01, "mean": 0.0}
    assert config_from_dict(config.resolved()) == config
    # an explicit default gives way (a --set on a config that spells out xavier_uniform)
    load(tmp_path, edit("  weight_scale: 0.01\n", "  weight_scale: 0.01\n  weight_init: xavier_uniform\n", text))
    message = error(tmp_path, edit("  weight_scale: 0.01\n", "  weight_scale: 0.01\n  weight_init: he_normal\n", text))
    assert "run.yaml:6: model.weight_scale: weight_scale 0.01 makes the default weight init" in message
    assert "keep only one" in message
    assert "Input should be greater than 0" in error(tmp_path, edit("0.01", "-1", text))


def test_early_stopping_direction():
    assert EarlyStoppingConfig(monitor="val_acc").direction() == "max"
    assert EarlyStoppingConfig(monitor="train_loss").direction() == "min"
    assert EarlyStoppingConfig(monitor="val_acc", mode="min").direction() == "min"


# --- errors with file:line -------------------------------------------------------------------------------


def test_unknown_key_did_you_mean(tmp_path):
    message = error(tmp_path, edit("  epochs: 2", "  epocs: 2"))
    assert "run.yaml:15: train.epocs: unknown key 'epocs' (did you mean 'epochs'?)" in message
    assert "allowed keys: epochs, max_steps" in message


def test_unknown_layer_key_did_you_mean(tmp_path):
    message = error(tmp_path, edit("units: 32", "unts: 32"))
    assert "run.yaml:7: model.layers[0].unts: unknown key 'unts' (did you mean 'units'?)" in message
    assert "run.yaml:7: model.layers[0].units: required key is missing" in message


def test_unknown_top_level_section(tmp_path):
    message = error(tmp_path, BASE.replace("train:", "trian:"))
    assert "run.yaml:14: trian: unknown key 'trian' (did you mean 'train'?)" in message
    message = error(tmp_path, BASE.replace("optimizer:", "optimiser:"))
    assert "run.yaml:11: optimiser: unknown key 'optimiser' (did you mean 'optimizer'?)" in message


def test_unknown_optimizer_key_offers_common_keys(tmp_path):
    message = error(tmp_path, edit("  lr: 0.001\n", "  lr: 0.001\n  wieght_decay: 0.1\n"))
    assert "run.yaml:14: optimizer.wieght_decay: unknown key 'wieght_decay' (did you mean 'weight_decay'?)" in message
    assert "allowed keys: type, lr, beta1, beta2, eps, weight_decay, decay_bias, clip_norm, schedule" in message


def test_unknown_key_points_at_key_line_in_block_mapping(tmp_path):
    text = edit("  batch_size: 16\n", "  batch_size: 16\n  early_stopping:\n    monitor: val_loss\n    patiense: 2\n")
    assert "run.yaml:19: train.early_stopping.patiense: unknown key 'patiense' (did you mean 'patience'?)" in error(
        tmp_path, text
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("batch_size: 16", "batch_size: abc", "run.yaml:16: train.batch_size: Input should be a valid integer"),
        ("seed: 0", "seed: [1]", "run.yaml:2: seed: Input should be a valid integer"),
        ("input_shape: [64]", "input_shape: 64", "run.yaml:5: model.input_shape: Input should be a valid"),
        ("name: hidden", "name: [a]", "run.yaml:7: model.layers[0].name: Input should be a valid string"),
        ("data: {dataset: digits}", "data: [digits]", "run.yaml:3: data: Input should be a valid dictionary"),
        ("name: t", "name: ../t", "run.yaml:1: name: must be letters, digits"),
    ],
)
def test_wrong_type(tmp_path, old, new, expected):
    assert expected in error(tmp_path, edit(old, new))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("rate: 0.1", "rate: 1.5", "run.yaml:9: model.layers[2].rate: Input should be less than 1 (got 1.5)"),
        ("units: 32", "units: 0", "run.yaml:7: model.layers[0].units: Input should be greater than 0 (got 0)"),
        ("lr: 0.001", "lr: -0.1", "run.yaml:13: optimizer.lr: Input should be greater than 0 (got -0.1)"),
        ("[64]", "[64, 0]", "run.yaml:5: model.input_shape[1]: Input should be greater than 0 (got 0)"),
        ("seed: 0", "seed: -1", "run.yaml:2: seed: Input should be greater than or equal to 0 (got -1)"),
        ("batch_size: 16", "batch_size: 0", "run.yaml:16: train.batch_size: Input should be greater than 0"),
    ],
)
def test_out_of_range(tmp_path, old, new, expected):
    assert expected in error(tmp_path, edit(old, new))


def test_unknown_layer_type_lists_registered(tmp_path):
    message = error(tmp_path, edit("{type: relu}", "{type: rleu}"))
    assert "run.yaml:8: model.layers[1].type: unknown layer type 'rleu' (did you mean 'relu'?)" in message
    for name in LAYERS.names():
        assert name in message


def test_unknown_types_elsewhere(tmp_path):
    assert "run.yaml:3: data.dataset: unknown dataset type 'digts' (did you mean 'digits'?)" in error(
        tmp_path, edit("dataset: digits", "dataset: digts")
    )
    assert "run.yaml:12: optimizer.type: unknown optimizer type 'adma' (did you mean 'adam'?)" in error(
        tmp_path, edit("type: adam", "type: adma")
    )
    assert "run.yaml:17: loss.type: unknown loss type 'hnige' (did you mean 'hinge'?)" in error(
        tmp_path, BASE + "loss: hnige\n"
    )
    text = edit("  lr: 0.001\n", "  lr: 0.001\n  schedule: cosin\n")
    assert "run.yaml:14: optimizer.schedule.type: unknown schedule type 'cosin' (did you mean 'cosine'?)" in error(
        tmp_path, text
    )
    assert "data: missing key 'dataset'" in error(tmp_path, edit("{dataset: digits}", "{val: 0.1}"))
    assert "data.type: unknown key 'type' (did you mean 'dataset'?)" in error(
        tmp_path, edit("{dataset: digits}", "{dataset: digits, type: moons}")
    )


def test_initializer_errors_have_their_path(tmp_path):
    text = edit("units: 32, name: hidden}", "units: 32, name: hidden, weight_init: {type: truncated_normal, sdt: 0.1}}")
    message = error(tmp_path, text)
    assert "run.yaml:7: model.layers[0].weight_init.sdt: unknown key 'sdt' (did you mean 'std'?)" in message
    text = edit("units: 10}", "units: 10, bias_init: glorot_unifrm}")
    message = error(tmp_path, text)
    assert "run.yaml:10: model.layers[3].bias_init.type: unknown initializer type 'glorot_unifrm'" in message
    assert "did you mean 'glorot_uniform'?" in message
    text = edit("  input_shape: [64]\n", "  input_shape: [64]\n  weight_init: {type: normal, std: 0}\n")
    assert "run.yaml:6: model.weight_init.std: Input should be greater than 0 (got 0)" in error(tmp_path, text)


def test_layer_names(tmp_path):
    text = edit("{type: dense, units: 10}", "{type: dense, units: 10, name: hidden}")
    assert "run.yaml:10: model.layers[3].name: 'hidden' is already the name of model.layers[0]" in error(tmp_path, text)
    text = edit("name: hidden", "name: '3'")
    assert "run.yaml:7: model.layers[0].name: must not be a number" in error(tmp_path, text)
    text = edit("name: hidden", "name: layers")
    assert "run.yaml:7: model.layers[0].name: 'layers' is a key of the model section" in error(tmp_path, text)
    text = edit("name: hidden", "name: a.b")
    assert "run.yaml:7: model.layers[0].name: must be letters, digits" in error(tmp_path, text)


def test_several_errors_one_per_line(tmp_path):
    text = edit("units: 32", "units: 0", edit("rate: 0.1", "rate: 1.5", edit("  epochs: 2", "  epocs: 2")))
    lines = error(tmp_path, text).splitlines()
    assert [line.split(":")[1] for line in lines] == ["7", "9", "15"]
    assert all(line.startswith(str(tmp_path / "run.yaml")) for line in lines)


def test_missing_section_and_empty_layers(tmp_path):
    message = error(tmp_path, BASE.replace("data: {dataset: digits}\n", ""))
    assert "run.yaml: data: required key is missing" in message
    message = error(tmp_path, edit("  input_shape: [64]\n", ""))
    assert "run.yaml:4: model.input_shape: required key is missing" in message


def test_duplicate_keys(tmp_path):
    message = error(tmp_path, edit("  batch_size: 16\n", "  batch_size: 16\n  epochs: 5\n"))
    assert "run.yaml:17: train.epochs: duplicate key 'epochs' (first given on line 15)" in message
    message = error(tmp_path, edit("units: 32,", "units: 32, units: 8,"))
    assert "run.yaml:7: model.layers[0].units: duplicate key 'units'" in message


def test_yaml_syntax_error_line(tmp_path):
    message = error(tmp_path, edit("    - {type: relu}\n", "    - {type: relu\n"))
    assert message.startswith(f"{tmp_path / 'run.yaml'}:9: invalid YAML")
    message = error(tmp_path, edit("  batch_size: 16", " batch_size: 16"))
    assert "run.yaml:16: invalid YAML" in message


def test_missing_empty_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_config(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in str(info.value) and "configs/quickstart.yaml" in str(info.value)
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    assert "the config is empty" in error(tmp_path, "# nothing here\n")
    assert "run.yaml:1: the top level must be a mapping of sections" in error(tmp_path, "- a\n- b\n")
    assert "the top level must be a mapping" in error(tmp_path, "just text\n")
    with pytest.raises(ConfigError, match="the top level must be a mapping"):
        config_from_dict([1, 2])


def test_unsafe_tags_are_rejected(tmp_path):
    assert "invalid YAML" in error(tmp_path, BASE + "x: !!python/object/apply:os.system ['true']\n")


# --- overrides -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        (["train.epochs=3"], lambda c: c.train.epochs == 3),
        (["optimizer.lr=1e-3"], lambda c: c.optimizer.lr == 0.001 and isinstance(c.optimizer.lr, float)),
        (["optimizer.lr=2e-2"], lambda c: c.optimizer.lr == 0.02),
        (["model.layers.2.rate=0.25"], lambda c: c.model.layers[2]["rate"] == 0.25),
        (["model.layers[3].units=7"], lambda c: c.model.layers[3]["units"] == 7),
        (["model.layers.-1.units=8"], lambda c: c.model.layers[3]["units"] == 8),
        (["model.hidden.units=1000"], lambda c: c.model.layers[0]["units"] == 1000),
        (["model.layers.hidden.units=99"], lambda c: c.model.layers[0]["units"] == 99),
        (["data.dataset=moons", "model.input_shape=[2]", "model.layers.3.units=2"], lambda c: c.data["noise"] == 0.2),
        (["loss=hinge"], lambda c: c.loss == {"type": "hinge", "margin": 1.0}),
        (["loss=hinge", "loss.margin=2"], lambda c: c.loss == {"type": "hinge", "margin": 2.0}),
        (["optimizer.schedule.type=cosine"], lambda c: c.optimizer.schedule == {"type": "cosine", "min_lr": 0.0}),
        (["optimizer.schedule={type: step, every: 3}"], lambda c: c.optimizer.schedule["every"] == 3),
        (["optimizer.weight_decay=1e-4"], lambda c: c.optimizer.weight_decay == 1e-4),
        (["optimizer.type=sgd"], lambda c: c.optimizer.type == "sgd" and c.optimizer.args == {"lr": 0.001}),
        (["train.early_stopping.patience=5"], lambda c: c.train.early_stopping.patience == 5),
        (["train.epochs=null", "train.max_steps=30"], lambda c: c.train.max_steps == 30 and c.train.epochs is None),
        (["model.layers.1={type: leaky_relu, alpha: 0.2}"], lambda c: c.model.layers[1]["alpha"] == 0.2),
        (["model.input_shape=[1, 8, 8]"], lambda c: c.model.input_shape == (1, 8, 8)),
        (["dtype=float64"], lambda c: c.dtype == "float64"),
        (["name= other "], lambda c: c.name == "other"),
    ],
)
def test_override_forms(tmp_path, overrides, check):
    assert check(load(tmp_path, overrides=overrides))


def test_override_max_steps_when_epochs_left_out(tmp_path):
    config = load(tmp_path, edit("  epochs: 2\n", ""), ["train.max_steps=30"])
    assert config.train.max_steps == 30 and config.train.epochs is None


def test_overrides_apply_in_order(tmp_path):
    config = load(tmp_path, overrides=["train.epochs=3", "train.epochs=4", "model.hidden.name=fc", "model.fc.units=5"])
    assert config.train.epochs == 4 and config.model.layers[0]["name"] == "fc" and config.model.layers[0]["units"] == 5


def test_override_errors_name_the_override(tmp_path):
    message = error(tmp_path, overrides=["model.hidden.units=0"])
    assert message.startswith("--set model.hidden.units=0: model.layers[0].units: Input should be greater than 0")
    message = error(tmp_path, overrides=["train.epocs=3"])
    assert "--set train.epocs=3: train.epocs: unknown key 'epocs' (did you mean 'epochs'?)" in message
    message = error(tmp_path, overrides=["optimizer.lr=-1e-3"])
    assert "--set optimizer.lr=-1e-3: optimizer.lr: Input should be greater than 0 (got -0.001)" in message
    # the sibling keys of a changed `type` belong to the override too
    text = edit("  lr: 0.001\n", "  lr: 0.001\n  schedule: {type: step, every: 2}\n")
    message = error(tmp_path, text, overrides=["optimizer.schedule.type=cosine"])
    assert "--set optimizer.schedule.type=cosine: optimizer.schedule.every: unknown key 'every'" in message
    # an error the override did not cause keeps its file line
    message = error(tmp_path, edit("rate: 0.1", "rate: 1.5"), overrides=["train.epochs=3"])
    assert "run.yaml:9: model.layers[2].rate" in message and "--set" not in message
    message = error(tmp_path, overrides=["train.max_steps=10"])
    assert "--set train.max_steps=10: train: give either epochs (2) or max_steps (10)" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "model.layers.7.units=3",
            "index 7 is out of range: model.layers has 4 entries (0..3); layers: 0 hidden (dense), 1 relu",
        ),
        ("model.layers[-9].units=3", "index -9 is out of range"),
        ("model.hiden.units=3", "the model has no key or layer named 'hiden' (did you mean 'hidden'?)"),
        ("model.layers.fc.units=3", "the model has no key or layer named 'fc'"),
        ("train.epochs", "an override must look like key.path=value"),
        ("=3", "an override must look like key.path=value"),
        ("train..epochs=3", "malformed key path 'train..epochs'"),
        ("train.epochs.x=3", "train.epochs is an integer (2), it has no key 'x'"),
        ("model.input_shape.x=3", "model.input_shape is a list; give an index from 0 to 0, not 'x'"),
        ("train.epochs=[1", "the value is not valid YAML"),
    ],
)
def test_override_path_errors(tmp_path, override, expected):
    message = error(tmp_path, overrides=[override])
    assert message.startswith(f"--set {override}: ")
    assert expected in message
    if "no key or layer named" in expected:
        assert "layers: 0 hidden (dense), 1 relu, 2 dropout, 3 dense" in message


def test_override_of_missing_key_is_created_then_reported(tmp_path):
    message = error(tmp_path, overrides=["model.weight_int=he_normal"])
    assert (
        "--set model.weight_int=he_normal: model.weight_int: unknown key 'weight_int' (did you mean 'weight_init'?)"
        in message
    )


def test_overrides_on_config_from_dict():
    config = config_from_dict(yaml.safe_load(BASE), overrides=["model.hidden.units=12"])
    assert config.model.layers[0]["units"] == 12


# --- reference -------------------------------------------------------------------------------------------


def test_reference_mentions_every_field():
    text = config_reference()
    for section in (Config, ModelConfig, OptimizerConfig, TrainConfig, EarlyStoppingConfig):
        for key, field in section.model_fields.items():
            if key == "args":
                continue
            assert f"| `{key}` |" in text, key
            assert field.description, f"{section.__name__}.{key} has no description"
    for registry in (LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, INITIALIZERS, DATASETS):
        for name in registry.names():
            assert f"### `{name}`" in text
            for key in registry.schema(name).model_fields:
                if key != "type":
                    assert f"| `{key}` |" in text, (name, key)
    assert "| `dataset` | string | required |" in text
    assert "| `units` | int (> 0) | required | output features |" in text
    assert "| `rate` | float (>= 0, < 1) | `0.5` |" in text


@pytest.mark.parametrize(
    "path, value",
    [
        ("model.hidden.units", 500),
        ("optimizer.lr", 1.0e-4),
        ("optimizer.schedule", {"type": "step", "every": 2, "gamma": 0.5}),
        ("data.classes", [3, 8]),
        ("name", "it's: a run"),
        ("train.early_stopping", None),
    ],
)
def test_an_override_from_a_value_is_the_override_its_text_gives(path, value):
    """The sweep builds overrides from values; `--set TEXT` with the text it records must give the same."""
    made = Override.of(path, value)
    parsed = Override.parse(made.text)
    assert (parsed.path, parsed.value) == (path, value)
    raw_a, raw_b = small_raw(), small_raw()
    assert apply_overrides(raw_a, [made])[0][1] == apply_overrides(raw_b, [made.text])[0][1]
    assert raw_a == raw_b


def small_raw():
    return {
        "name": "t",
        "data": {"dataset": "digits"},
        "model": {"input_shape": [64], "layers": [{"type": "dense", "units": 32, "name": "hidden"}, "relu"]},
        "optimizer": {"type": "adam", "lr": 0.001},
    }
