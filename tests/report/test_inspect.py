"""Inspecting a trained run (`nnrun plot --inspect`): confusion matrix, misclassified examples, first-layer filters, and maps of a
hidden layer's activations and of a dense layer's weights. Each renders, and each shows the right numbers."""

from __future__ import annotations

import numpy as np
import pytest

import nnrun
from nnrun.data import batches, load_dataset
from nnrun.errors import RunError
from nnrun.report.embedding import SAMPLE, activations_points, find_layer, project, weights_points
from nnrun.report.filters import GRID, filters_figure, first_filters
from nnrun.report.inspect import plot_inspection
from tests.helpers import small_config
from tests.report.test_figures import looks_drawn

CNN = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "conv2d", "filters": 6, "kernel": 3, "padding": "same"},
        {"type": "relu"},
        {"type": "maxpool2d", "size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 16, "name": "hidden"},
        {"type": "relu"},
        {"type": "dropout", "rate": 0.2},
        {"type": "dense", "units": 10},
    ],
}


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return nnrun.train(small_config(train={"epochs": 2, "batch_size": 64}), out=tmp_path_factory.mktemp("d") / "mlp")


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    config = small_config(model=CNN, train={"epochs": 2, "batch_size": 64})
    return nnrun.train(config, out=tmp_path_factory.mktemp("d") / "cnn")


def test_every_kind_that_applies_is_drawn_through_the_cli(mlp, tmp_path, cli):
    result = cli("plot", mlp.path, "--inspect", "--out", "figs")
    assert result.returncode == 0, result.stderr
    figures = tmp_path / "figs"
    looks_drawn(figures / "confusion.png", min_width=400, min_height=400)
    looks_drawn(figures / "misclassified.png", min_width=300, min_height=150)
    looks_drawn(figures / "filters.png", min_width=300, min_height=300)
    looks_drawn(figures / "activations_tsne.png", min_width=600, min_height=500)
    looks_drawn(figures / "weights_tsne.png", min_width=600, min_height=500)
    assert mlp.summary["last"]["test_acc"] < 1  # two epochs leave some to show
    result = cli("plot", mlp.path, "--inspect", "--split", "nope", "--out", "figs")
    assert result.returncode == 0, result.stderr  # the curves are drawn; the inspection says why not
    assert "skipped the inspection" in result.stdout and "has no nope split" in result.stdout
    result = cli("plot", mlp.path, "--diagnostics", "--out", "old")  # the flag's old name still works
    assert result.returncode == 0 and (tmp_path / "old" / "confusion.png").is_file(), result.stderr


def test_a_conv_net_shows_its_first_conv_filters(cnn, tmp_path):
    model = cnn.model()
    weights, what = first_filters(model, (1, 8, 8))
    assert weights is model.layers[0].params["weight"] and "6 filters 3×3" in what
    figure = filters_figure(model, (1, 8, 8), "cnn")
    assert sum(bool(ax.images) for ax in figure.axes) == 6
    drawn = [ax.images[0].get_array() for ax in figure.axes if ax.images]
    np.testing.assert_allclose(drawn[2], weights[2, 0])


def test_an_mlp_shows_its_units_input_weights_as_images(mlp):
    model = mlp.model()
    weights, what = first_filters(model, (1, 8, 8))
    assert weights.shape == (32, 1, 8, 8) and "32 units' input weights" in what
    np.testing.assert_array_equal(weights[5, 0].ravel(), model.layers[0].params["weight"][:, 5])
    assert sum(bool(ax.images) for ax in filters_figure(model, (1, 8, 8), "mlp").axes) == min(32, GRID * GRID)
    with pytest.raises(RunError, match="neither a conv2d nor a dense layer on image pixels"):
        first_filters(model, None)  # not image data: nothing to draw the weights as


def test_the_activations_are_the_last_hidden_layers_output(cnn):
    model = cnn.model()
    index = find_layer(model, None, weights=False)
    assert index == 6  # through the dropout: all that reaches the output layer
    split = load_dataset(cnn.config["data"], cnn.config["seed"]).splits["test"]
    points, labels = activations_points(model, split, index)
    assert len(points) == min(SAMPLE, len(split.y)) and points.shape[1] == 16
    # a NumPy reference: the whole model's logits from these activations equal the model's own
    dense = model.layers[7].params
    chosen = np.sort(np.random.default_rng(0).permutation(len(split.y))[:SAMPLE])
    x = np.concatenate([xb for xb, _ in batches(split, 4096, model.dtype)])[chosen]
    np.testing.assert_allclose(points @ dense["weight"] + dense["bias"], model.forward(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(labels, split.y[chosen])
    assert np.all(points >= 0)  # after the relu


def test_the_weights_map_colours_each_unit_by_the_class_it_favours(cnn):
    model = cnn.model()
    index = find_layer(model, None, weights=True)
    assert index == 4
    points, favoured, where = weights_points(model, index)
    np.testing.assert_array_equal(points, model.layers[4].params["weight"].T)
    np.testing.assert_array_equal(favoured, np.argmax(model.layers[7].params["weight"], axis=1))
    assert "hidden" in where
    assert find_layer(model, "hidden", weights=True) == find_layer(model, "4", weights=True) == 4
    with pytest.raises(RunError, match="no layer 'nope'") as error:
        find_layer(model, "nope", weights=True)
    assert "4 hidden" in error.value.hint
    with pytest.raises(RunError, match="is not a dense layer"):
        weights_points(model, 0)


def test_projections_are_seeded_and_pca_is_the_leading_components():
    points = np.random.default_rng(1).normal(size=(60, 8)) * np.array([10, 5, 1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(project(points, "tsne"), project(points, "tsne"))
    xy = project(points, "pca")
    centred = points - points.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(np.abs(xy), np.abs(centred @ components[:2].T), rtol=1e-6, atol=1e-9)


def test_kinds_asked_for_by_name_must_apply(tmp_path, cli):
    linear = small_config(model={"input_shape": [64], "layers": [{"type": "dense", "units": 10}]},
                          train={"epochs": 1, "batch_size": 64})  # fmt: skip
    run = nnrun.train(linear, out=tmp_path / "linear")
    written, skipped = plot_inspection(run.path, tmp_path / "all")
    assert {path.name for path in written} == {"confusion.png", "misclassified.png", "filters.png"}
    assert any(reason.startswith("activations: the model has no hidden layer") for reason in skipped)
    result = cli("plot", "linear", "--kind", "weights")
    assert result.returncode == 2 and "no weights figure" in result.stderr and "no hidden layer" in result.stderr
    result = cli("plot", "linear", "--kind", "pictures")
    assert result.returncode == 2 and "no inspection figure pictures" in result.stderr
    result = cli("plot", "linear", "--kind", "confusion", "--embedding", "umap")
    assert result.returncode == 2 and "no map method 'umap'" in result.stderr
