"""The network diagram: one box per layer with its settings, output shape and parameters, nothing overlapping."""

from __future__ import annotations

from pathlib import Path

import matplotlib.text
import pytest
from matplotlib.patches import FancyBboxPatch

from nnrun.config import load_config
from nnrun.model import Sequential
from nnrun.report.graph import graph_figure, plot_graph
from nnrun.report.style import pyplot
from tests.helpers import ROOT
from tests.report.test_figures import looks_drawn

CONFIGS = ROOT / "configs"


def model_of(config_path, overrides=()):
    cfg = load_config(config_path, overrides)
    return Sequential.from_config(cfg.resolved()["model"], dtype=cfg.dtype, seed=cfg.seed)


def texts(figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(matplotlib.text.Text)]


def layer_boxes(figure) -> list[FancyBboxPatch]:
    """The boxes of the chain, top to bottom (the legend's invisible frame is one too, and white)."""
    return [patch for patch in figure.findobj(FancyBboxPatch) if patch.get_facecolor()[:3] != (1.0, 1.0, 1.0)]


def deep_model() -> Sequential:
    """25 layers with the longest labels the diagram makes: lists for sizes, a named dense_stack, no bias."""
    layers = []
    for filters in (8, 16, 32):
        layers += [
            {"type": "conv2d", "filters": filters, "kernel": [3, 5], "stride": [1, 1], "padding": [1, 2]},
            {"type": "batchnorm"},
            {"type": "leaky_relu", "alpha": 0.1},
            {"type": "conv2d", "filters": filters, "kernel": 3, "padding": "same", "use_bias": False},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 2},
        ]
    layers += [
        {"type": "avgpool2d", "size": 2, "stride": 1},
        {"type": "flatten"},
        {"type": "dense_stack", "units": [400, 400, 400], "batchnorm": True, "dropout": 0.5, "name": "hidden"},
        {"type": "dropout", "rate": 0.25},
        {"type": "dense", "units": 10, "name": "logits"},
        {"type": "softmax"},
        {"type": "identity"},
    ]
    return Sequential.from_config({"input_shape": [3, 32, 32], "layers": layers})


@pytest.mark.parametrize("name", ["quickstart", "cnn", "cifar10_cnn"])
def test_each_layer_shows_its_output_shape_and_parameters(name, tmp_path):
    path = plot_graph(CONFIGS / f"{name}.yaml", out=tmp_path)
    assert path == tmp_path / f"{name}_graph.png"
    looks_drawn(path)
    model = model_of(CONFIGS / f"{name}.yaml")
    drawn = texts(graph_figure(model, name))
    assert "input" in drawn and "×".join(map(str, model.input_shape)) in drawn
    for row in model.summary():
        shape = "×".join(map(str, row.output_shape))
        expected = f"{shape}  ·  {row.params:,} params" if row.params else shape
        assert expected in drawn, (row.label, drawn)
    total = sum(row.params for row in model.summary())
    assert f"{len(model.layers)} layers, {total:,} parameters, input {'×'.join(map(str, model.input_shape))}" in drawn
    pyplot().close("all")


def test_the_headings_give_each_layers_settings_and_its_name():
    drawn = texts(graph_figure(model_of(CONFIGS / "cnn.yaml"), "cnn"))
    for heading in ("conv2d  32@5×5, stride 1, pad same", "relu", "maxpool2d  2×2 / 2", "flatten",
                    "hidden: dense  512", "dropout  rate 0.3", "dense  10", "32×28×28  ·  832 params",
                    "512  ·  3,211,776 params"):  # fmt: skip
        assert heading in drawn
    drawn = texts(graph_figure(deep_model(), "deep"))
    for heading in ("conv2d  8@3×5, stride 1, pad (1, 2)", "conv2d  16@3×3, stride 1, pad same, no bias",
                    "leaky_relu  alpha 0.1", "avgpool2d  2×2 / 1",
                    "hidden: dense_stack  400-400-400 relu +batchnorm +dropout 0.5", "logits: dense  10"):  # fmt: skip
        assert heading in drawn
    pyplot().close("all")


def test_overrides_reach_the_drawing(tmp_path):
    path = plot_graph(CONFIGS / "cnn.yaml", ["model.hidden.units=64"], out=tmp_path)
    looks_drawn(path)
    drawn = texts(graph_figure(model_of(CONFIGS / "cnn.yaml", ["model.hidden.units=64"]), "cnn"))
    assert "hidden: dense  64" in drawn and f"64  ·  {6272 * 64 + 64:,} params" in drawn


def test_the_height_grows_with_the_layers(tmp_path):
    heights = [looks_drawn(plot_graph(CONFIGS / f"{name}.yaml", out=tmp_path))[1]
               for name in ("quickstart", "cnn", "cifar10_cnn")]  # fmt: skip
    assert heights == sorted(heights) and len(set(heights)) == 3
    deep = graph_figure(deep_model(), "deep")
    assert deep.get_figheight() > heights[-1] / deep.dpi  # 25 layers against cifar10_cnn's 16
    pyplot().close("all")


@pytest.mark.parametrize("model", [lambda: model_of(CONFIGS / "cifar10_cnn.yaml"), deep_model], ids=["cifar", "deep"])
def test_text_stays_inside_its_box_and_boxes_never_overlap(model):
    network = model()
    figure = graph_figure(network, "a config name")
    figure.canvas.draw()  # lays out the legend
    renderer = figure.canvas.get_renderer()
    boxes = [patch.get_window_extent(renderer) for patch in layer_boxes(figure)]
    assert len(boxes) == len(network.layers) + 1
    for upper, lower in zip(boxes, boxes[1:]):
        assert upper.y0 > lower.y1  # drawn top to bottom, a gap between
    ax = figure.axes[0]  # findobj would also find the hidden axis' tick labels
    drawn = [text for text in [*ax.texts, *ax.get_legend().get_texts()] if text.get_text()]
    assert len(drawn) == 2 * len(boxes) + 2 + len(ax.get_legend().get_texts())  # the boxes', title, legend
    extents = [text.get_window_extent(renderer) for text in drawn]
    for index, extent in enumerate(extents):
        assert figure.bbox.x0 <= extent.x0 and extent.x1 <= figure.bbox.x1  # nothing clipped at the sides
        assert figure.bbox.y0 <= extent.y0 and extent.y1 <= figure.bbox.y1
        assert not any(extent.overlaps(other) for other in extents[index + 1 :])
    inside = 0
    for extent in extents:
        holder = [box for box in boxes if box.contains((extent.x0 + extent.x1) / 2, (extent.y0 + extent.y1) / 2)]
        if holder:
            inside += 1
            assert holder[0].x0 < extent.x0 and extent.x1 < holder[0].x1
            assert holder[0].y0 < extent.y0 and extent.y1 < holder[0].y1
    assert inside == 2 * len(boxes)  # a heading and a detail line in each
    pyplot().close("all")


def test_colours_follow_the_kind_of_layer_and_the_legend_names_the_kinds_present():
    figure = graph_figure(model_of(CONFIGS / "cnn.yaml"), "cnn")
    faces = [tuple(patch.get_facecolor()) for patch in layer_boxes(figure)]
    input_, conv, relu, pool, flatten, dense, relu2, dropout, logits = faces
    assert conv == dense == logits and relu == relu2 and pool == flatten
    assert len({input_, conv, relu, pool, dropout}) == 5
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == ["weights", "activation", "pooling / reshape", "normalisation / dropout", "input"]
    quick = graph_figure(model_of(CONFIGS / "quickstart.yaml"), "quickstart")
    assert [t.get_text() for t in quick.axes[0].get_legend().get_texts()] == ["weights", "input"]
    pyplot().close("all")


def test_svg_output_and_the_default_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = plot_graph(CONFIGS / "mlp.yaml", fmt="svg")
    assert path == Path("results") / "mlp" / "mlp_graph.svg"
    assert (tmp_path / path).read_bytes().lstrip().startswith(b"<?xml")
    assert b"hidden: dense_stack" in path.read_bytes()  # svg keeps the text as text
