"""dense_stack: shapes, keys shared with its child layers, validation, saving, and results bit for bit equal to
the explicit layer list it stands for (dense -> [batchnorm] -> activation -> [dropout] per entry of units)."""

from __future__ import annotations

import numpy as np
import pytest

import nnrun
from nnrun.checks.gradcheck import TOLERANCE, check_layer
from nnrun.config import config_from_dict, load_config
from nnrun.errors import ConfigError, ShapeError
from nnrun.layers.activations import ReLU, Tanh
from nnrun.layers.dense import Dense
from nnrun.layers.dropout import Dropout
from nnrun.layers.fused import DenseReLU
from nnrun.layers.norm import BatchNorm
from nnrun.layers.stack import DenseStack
from nnrun.losses import SoftmaxCrossEntropy
from nnrun.model import Sequential, load_model, save_model
from nnrun.registry import LAYERS, OPTIMIZERS
from tests.helpers import ROOT, small_config
from tests.helpers.layers import build_context

OUT = {"type": "dense", "units": 4}


def explicit(units, activation="relu", batchnorm=False, dropout=0.0, **dense):
    """The layer list a dense_stack stands for."""
    layers = []
    for width in units:
        layers.append({"type": "dense", "units": width, **dense})
        layers += [{"type": "batchnorm"}] if batchnorm else []
        layers.append({"type": activation})
        layers += [{"type": "dropout", "rate": dropout}] if dropout else []
    return layers


def stack(units, **keys):
    return {"type": "dense_stack", "units": units, "name": "hidden", **keys}


def built(input_shape=(6,), dtype=np.float64, **keys) -> DenseStack:
    layer = LAYERS.build({"type": "dense_stack", **keys})
    layer.build(input_shape, build_context(dtype))
    return layer


# --- shapes, keys and accounting ------------------------------------------------------------------------------


def test_shapes_and_children():
    layer = built(units=[5, 3], batchnorm=True, dropout=0.2)
    assert layer.output_shape == (3,)
    assert [type(child).__name__ for child in layer.layers] == [
        "Dense", "BatchNorm", "ReLU", "Dropout", "Dense", "BatchNorm", "ReLU", "Dropout",
    ]  # fmt: skip
    x = np.random.default_rng(0).standard_normal((7, 6))
    assert layer.forward(x, train=True).shape == (7, 3)
    assert layer.backward(np.ones((7, 3))).shape == (7, 6)


def test_dense_relu_blocks_are_fused():
    layer = built(units=[5, 3])
    assert [type(step) for _, step in layer._steps] == [DenseReLU, DenseReLU]
    assert [type(step) for _, step in built(units=[5], activation="tanh")._steps] == [Dense, Tanh]


def test_a_model_without_fusion_runs_the_stack_unfused_to_the_same_numbers():
    model = Sequential.from_config({"input_shape": [6], "layers": [stack([5, 3]), OUT]}, dtype="float64")
    x = np.random.default_rng(0).normal(size=(4, 6))
    fused_logits = model.forward(x).copy()
    model.set_fusion(False)
    assert [type(step) for _, step in model.layers[0]._steps] == [Dense, ReLU, Dense, ReLU]
    np.testing.assert_array_equal(model.forward(x), fused_logits)


def test_no_units_is_the_identity():
    layer = built(units=[])
    assert layer.output_shape == (6,)
    assert layer.params == layer.grads == layer.buffers == {} and layer.decayed == ()
    assert layer.num_params() == 0 and layer.flops() == 0
    x = np.ones((2, 6))
    assert layer.forward(x, train=True) is x
    dy = np.ones((2, 6))
    assert layer.backward(dy) is dy
    assert layer.describe() == "dense_stack, no blocks"


def test_params_grads_and_buffers_are_the_childrens_arrays():
    layer = built(units=[5, 3], batchnorm=True)
    dense0, norm0, _, dense1, norm1, _ = layer.layers
    assert list(layer.params) == ["0.weight", "0.bias", "0.batchnorm.gamma", "0.batchnorm.beta",
                                  "1.weight", "1.bias", "1.batchnorm.gamma", "1.batchnorm.beta"]  # fmt: skip
    assert list(layer.grads) == list(layer.params)
    assert list(layer.buffers) == ["0.batchnorm.running_mean", "0.batchnorm.running_var",
                                   "1.batchnorm.running_mean", "1.batchnorm.running_var"]  # fmt: skip
    for key, owner, name in [("0.weight", dense0, "weight"), ("1.bias", dense1, "bias"),
                             ("0.batchnorm.gamma", norm0, "gamma"), ("1.batchnorm.beta", norm1, "beta")]:  # fmt: skip
        assert layer.params[key] is owner.params[name]
        assert layer.grads[key] is owner.grads[name]
    assert layer.buffers["1.batchnorm.running_var"] is norm1.buffers["running_var"]
    assert layer.params["1.weight"].shape == (5, 3)
    assert layer.decayed == ("0.weight", "1.weight")
    assert layer.num_params() == 6 * 5 + 5 + 2 * 5 + 5 * 3 + 3 + 2 * 3
    assert list(built(units=[4], use_bias=False).params) == ["0.weight"]


def test_backward_writes_the_grads_the_model_reads():
    model = Sequential.from_config({"input_shape": [6], "layers": [stack([5, 3]), OUT]}, dtype="float64")
    params = {p.key: p for p in model.params(weight_decay=0.1)}
    assert list(params) == ["00.hidden.0.weight", "00.hidden.0.bias", "00.hidden.1.weight", "00.hidden.1.bias",
                            "01.dense.weight", "01.dense.bias"]  # fmt: skip
    assert [key for key, p in params.items() if p.weight_decay] == [
        "00.hidden.0.weight", "00.hidden.1.weight", "01.dense.weight",
    ]  # fmt: skip
    x = np.random.default_rng(1).standard_normal((4, 6))
    before = params["00.hidden.0.weight"].grad.copy()
    _, dlogits = SoftmaxCrossEntropy().value_and_grad(model.forward(x, train=True), np.arange(4))
    model.backward(dlogits)
    assert params["00.hidden.0.weight"].grad is model.layers[0].layers[0].grads["weight"]
    assert not np.array_equal(params["00.hidden.0.weight"].grad, before)


def test_describe_summary_and_flops():
    layers = [{"type": "dense_stack", "units": [400, 400, 400], "name": "hidden"}, {"type": "dense", "units": 10}]
    model = Sequential.from_config({"input_shape": [64], "layers": layers})
    assert model.summary()[0].label == "hidden (dense_stack 400-400-400 relu)"
    assert model.summary()[0].output_shape == (400,)
    reference = Sequential.from_config({"input_shape": [64], "layers": explicit([400, 400, 400]) + layers[1:]})
    assert model.num_params() == reference.num_params()
    assert sum(r.flops for r in model.summary()) == sum(r.flops for r in reference.summary())
    assert built(units=[4, 2], activation="tanh", batchnorm=True, dropout=0.5).describe() == (
        "dense_stack 4-2 tanh, batchnorm, dropout 0.5"
    )


def test_fixed_noise_reaches_the_dropout_children():
    layer = DenseStack(units=[8, 8], activation="identity", dropout=0.5)
    layer.fixed_noise = True  # before build too
    layer.build((6,), build_context())
    dropouts = [child for child in layer.layers if isinstance(child, Dropout)]
    assert len(dropouts) == 2 and all(child.fixed_noise for child in dropouts)
    x = np.random.default_rng(2).standard_normal((5, 6))
    np.testing.assert_array_equal(layer.forward(x, train=True), layer.forward(x, train=True))
    layer.fixed_noise = False
    assert not any(child.fixed_noise for child in dropouts)
    assert not np.array_equal(layer.forward(x, train=True), layer.forward(x, train=True))


@pytest.mark.parametrize(
    "keys", [{"activation": "tanh"}, {"batchnorm": True, "dropout": 0.3, "activation": "sigmoid"}, {"use_bias": False}]
)
def test_gradcheck(keys):
    layer = built(units=[4, 3], weight_init={"type": "normal", "std": 0.5}, **keys)
    x = np.random.default_rng(3).standard_normal((5, 6))
    results = check_layer(layer, x)
    assert [r.param for r in results] == ["input", *layer.params]
    for result in results:
        assert result.max_rel_error <= TOLERANCE, result


# --- config ----------------------------------------------------------------------------------------------------


def test_config_round_trip_and_resolved_inits():
    layer = LAYERS.build({"type": "dense_stack", "units": [8, 4], "activation": "tanh", "dropout": 0.1, "name": "h"})
    for state in ("unbuilt", "built"):
        config = layer.get_config()
        assert DenseStack(**{k: v for k, v in config.items() if k != "type"}).get_config() == config
        if state == "unbuilt":
            assert config == {"type": "dense_stack", "units": [8, 4], "activation": "tanh", "batchnorm": False,
                              "dropout": 0.1, "use_bias": True, "weight_init": None, "bias_init": None, "name": "h"}  # fmt: skip
            layer.build((3,), build_context())
    assert layer.get_config()["weight_init"] == "xavier_uniform"  # the resolved default is recorded, as dense does
    assert all(child.weight_init == "xavier_uniform" for child in layer.layers if isinstance(child, Dense))


@pytest.mark.parametrize(
    "keys, expected",
    [
        ({"units": [0]}, "model.layers[0].units[0]: Input should be greater than 0 (got 0)"),
        ({"units": [100, -1]}, "model.layers[0].units[1]: Input should be greater than 0 (got -1)"),
        ({"units": "100"}, "model.layers[0].units: Input should be a valid list"),
        ({"activation": "relux"}, "model.layers[0].activation: unknown activation, got 'relux' (did you mean 'relu'?)"),
        ({"activation": "dense"}, "activations: identity, leaky_relu, relu, sigmoid, softmax, tanh"),
        ({"dropout": 1.0}, "model.layers[0].dropout: Input should be less than 1 (got 1.0)"),
        ({"dropout": -0.1}, "model.layers[0].dropout: Input should be greater than or equal to 0"),
        ({"weight_init": "he_unifrom"}, "model.layers[0].weight_init.type: unknown initializer type 'he_unifrom'"),
        ({"unit": [3]}, "unknown key 'unit' (did you mean 'units'?)"),
    ],
)
def test_validation_errors(keys, expected):
    layers = [{**stack([10]), **keys}, {"type": "dense", "units": 10}]
    with pytest.raises(ConfigError) as info:
        config_from_dict(small_config(model={"input_shape": [64], "layers": layers}))
    assert expected in str(info.value)


def test_input_must_be_flat():
    with pytest.raises(ShapeError) as info:
        Sequential.from_config({"input_shape": [1, 8, 8], "layers": [stack([4]), OUT]})
    assert info.value.where == "model.layers[0] hidden (dense_stack 4 relu)"
    assert "flatten" in info.value.what and "(1, 8, 8)" in info.value.what
    with pytest.raises(ShapeError, match="dense_stack, no blocks"):
        Sequential.from_config({"input_shape": [1, 8, 8], "layers": [{"type": "dense_stack", "units": []}, OUT]})


def test_set_addresses_the_widths_as_one_value():
    config = load_config(ROOT / "configs" / "quickstart.yaml", ["model.hidden.units=[64,32,16]"])
    assert config.model.layers[0]["type"] == "dense_stack" and config.model.layers[0]["units"] == [64, 32, 16]
    assert load_config(ROOT / "configs" / "quickstart.yaml", ["model.hidden.units=[]"]).model.layers[0]["units"] == []


def test_save_and_load_round_trip(tmp_path):
    raw = small_config(model={"input_shape": [64], "layers": [stack([6, 5], batchnorm=True, dropout=0.2), OUT]})
    model_config = config_from_dict(raw).resolved()["model"]
    model = Sequential.from_config(model_config, seed=4)
    x = np.random.default_rng(5).standard_normal((8, 64)).astype(np.float32)
    model.forward(x, train=True)  # moves the batchnorm running statistics off their initial values
    save_model(model, tmp_path / "model.npz", model_config)
    with np.load(tmp_path / "model.npz") as saved:
        assert "00.hidden.1.batchnorm.running_mean" in saved.files and "00.hidden.0.weight" in saved.files
    loaded = load_model(tmp_path / "model.npz")
    state, restored = model.state_arrays(), loaded.state_arrays()
    assert list(state) == list(restored)
    for key in state:
        np.testing.assert_array_equal(restored[key], state[key], err_msg=key)
    np.testing.assert_array_equal(loaded.predict_logits(x), model.predict_logits(x))


# --- the same results as the explicit layer list ----------------------------------------------------------------

VARIANTS = {
    "relu": ([7, 5], {}),
    "one block": ([9], {}),
    "tanh": ([7, 5], {"activation": "tanh"}),
    "leaky_relu, no bias": ([7, 5], {"activation": "leaky_relu", "use_bias": False}),
    "batchnorm": ([7, 5], {"batchnorm": True}),
    "dropout": ([7, 5], {"dropout": 0.3}),
    "batchnorm and dropout, three blocks": ([8, 6, 5], {"batchnorm": True, "dropout": 0.25}),
    "own initializers": ([7, 5], {"weight_init": "he_normal", "bias_init": {"type": "constant", "value": 0.1}}),
}


def train_steps(model, x, labels, steps, input_grad):
    optimizer = OPTIMIZERS.build({"type": "adam", "lr": 0.01})
    optimizer.setup(model.params(weight_decay=1e-3))
    record = []
    for _ in range(steps):
        logits = model.forward(x, train=True)
        _, dlogits = SoftmaxCrossEntropy().value_and_grad(logits, labels)
        dx = model.backward(dlogits, input_grad=input_grad)
        record.append((logits.copy(), None if dx is None else dx.copy(), [p.grad.copy() for p in model.params()]))
        optimizer.step()
    return [*record, (model.predict_logits(x), None, saved_arrays(model))]


def saved_arrays(model):
    """Copies of every parameter, then every buffer, in the model's order (the stack's keys are in its own)."""
    buffers = [array for layer in model.layers for array in layer.buffers.values()]
    return [p.value.copy() for p in model.params()] + [array.copy() for array in buffers]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("input_grad", [False, True], ids=["no-dx", "dx"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_same_as_the_explicit_layers(variant, input_grad, dtype):
    units, keys = VARIANTS[variant]
    dense_keys = {k: v for k, v in keys.items() if k in ("use_bias", "weight_init", "bias_init")}
    rest = {k: v for k, v in keys.items() if k not in dense_keys}
    mine = Sequential.from_config({"input_shape": [12], "layers": [stack(units, **keys), OUT]}, dtype=dtype, seed=7)
    theirs = Sequential.from_config(
        {"input_shape": [12], "layers": [*explicit(units, **rest, **dense_keys), OUT]}, dtype=dtype, seed=7
    )
    assert [p.value.shape for p in mine.params()] == [p.value.shape for p in theirs.params()]
    rng = np.random.default_rng(8)
    x = rng.standard_normal((10, 12)).astype(dtype)
    labels = rng.integers(0, 4, 10)
    steps = zip(train_steps(mine, x, labels, 4, input_grad), train_steps(theirs, x, labels, 4, input_grad))
    for step, (a, b) in enumerate(steps):  # 4 training steps, then eval logits and every saved array
        np.testing.assert_array_equal(a[0], b[0], err_msg=f"logits, step {step}")
        if input_grad and step < 4:
            np.testing.assert_array_equal(a[1], b[1], err_msg=f"dx, step {step}")
        else:
            assert a[1] is None and b[1] is None
        assert len(a[2]) == len(b[2])
        for index, (mine_array, their_array) in enumerate(zip(a[2], b[2])):
            np.testing.assert_array_equal(mine_array, their_array, err_msg=f"array {index}, step {step}")


def test_the_first_dense_skips_its_input_gradient():
    model = Sequential.from_config({"input_shape": [6], "layers": [stack([5, 3]), OUT]}, dtype="float64")
    x = np.random.default_rng(9).standard_normal((4, 6))
    _, dlogits = SoftmaxCrossEntropy().value_and_grad(model.forward(x, train=True), np.arange(4))
    assert model.backward(dlogits, input_grad=False) is None
    assert model.layers[0].layers[0].needs_input_grad is False
    assert model.backward(dlogits).shape == (4, 6)
    assert model.layers[0].layers[0].needs_input_grad is True
    # after another trained layer the stack's input gradient is needed, and its first dense computes it
    model = Sequential.from_config({"input_shape": [6], "layers": [OUT, stack([5, 3])]}, dtype="float64")
    model.forward(x, train=True)
    assert model.backward(np.ones((4, 3)), input_grad=False) is None
    assert model.layers[0].needs_input_grad is False
    assert model.layers[1].needs_input_grad is True and model.layers[1].layers[0].needs_input_grad is True


@pytest.mark.parametrize("keys", [{}, {"batchnorm": True, "dropout": 0.2}], ids=["relu", "batchnorm-dropout"])
def test_training_is_byte_identical_to_the_explicit_layers(tmp_path, keys):
    out = {"type": "dense", "units": 10}
    dense_keys = {k: v for k, v in keys.items() if k not in ("batchnorm", "dropout")}
    optimizer = {"type": "adam", "lr": 0.003, "weight_decay": 1e-3}
    mine = small_config(model={"input_shape": [64], "layers": [stack([32, 16], **keys), out]}, optimizer=optimizer)
    theirs = small_config(model={"input_shape": [64], "layers": [*explicit([32, 16], **keys, **dense_keys), out]},
                          optimizer=optimizer)  # fmt: skip
    a = nnrun.train(mine, out=tmp_path / "stack")
    b = nnrun.train(theirs, out=tmp_path / "explicit")
    assert (a.path / "metrics.csv").read_bytes() == (b.path / "metrics.csv").read_bytes()
    x = np.random.default_rng(10).random((30, 64)).astype(np.float32)
    assert np.array_equal(a.model().predict_logits(x), b.model().predict_logits(x))
    for mine_array, their_array in zip(saved_arrays(a.model()), saved_arrays(b.model()), strict=True):
        assert np.array_equal(mine_array, their_array)


def test_no_hidden_layer_trains_as_the_model_without_the_stack(tmp_path):
    out = {"type": "dense", "units": 10}
    empty = nnrun.train(small_config(model={"input_shape": [64], "layers": [stack([]), out]}), out=tmp_path / "a")
    plain = nnrun.train(small_config(model={"input_shape": [64], "layers": [out]}), out=tmp_path / "b")
    assert empty.status == "completed"
    assert (empty.path / "metrics.csv").read_bytes() == (plain.path / "metrics.csv").read_bytes()
    assert list(empty.model().state_arrays()) == ["01.dense.weight", "01.dense.bias"]


def test_batchnorm_children_use_their_defaults():
    layer = built(units=[3], batchnorm=True)
    norm = layer.layers[1]
    assert isinstance(norm, BatchNorm) and norm.get_config() == BatchNorm().get_config()


def test_a_number_is_one_block():
    """`units: 256` reads as [256], so a sweep can list plain widths: model.hidden.units: [100, 500]."""
    one = config_from_dict(
        small_config(model={"input_shape": [64], "layers": [stack(16), {"type": "dense", "units": 10}]})
    )
    assert one.resolved()["model"]["layers"][0]["units"] == [16]
    listed = config_from_dict(
        small_config(model={"input_shape": [64], "layers": [stack([16]), {"type": "dense", "units": 10}]})
    )
    assert one.resolved() == listed.resolved()


def test_the_summary_counts_every_childs_activations_as_the_explicit_layers():
    stacked = Sequential.from_config({"input_shape": [6], "layers": [stack([5, 3], batchnorm=True), OUT]})
    explicit_model = Sequential.from_config({"input_shape": [6], "layers": [*explicit([5, 3], batchnorm=True), OUT]})
    assert sum(r.activation_bytes for r in stacked.summary()) == sum(
        r.activation_bytes for r in explicit_model.summary()
    )
    assert sum(r.flops for r in stacked.summary()) == sum(r.flops for r in explicit_model.summary())
