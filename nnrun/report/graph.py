"""A network drawn as a chain of boxes (as Caffe's draw_net and Keras' plot_model do), from a config alone:
a reader sees the architecture, each layer's output shape and parameters, before anything is trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nnrun.config import load_config
from nnrun.model import Sequential
from nnrun.report.style import pyplot, save
from nnrun.results import load_run

# kind -> (legend label, face colour, edge colour), one colour family each
KINDS = {
    "weights": ("weights", "#c6dbef", "#3b75af"),
    "activation": ("activation", "#fdd9b5", "#d9822b"),
    "shape": ("pooling / reshape", "#c7e9c0", "#3d8f3d"),
    "regular": ("normalisation / dropout", "#e2d4f0", "#7a5aa6"),
    "input": ("input", "#eeeeee", "#666666"),
}
KIND_OF = {"conv2d": "weights", "dense": "weights", "dense_stack": "weights",
           "relu": "activation", "leaky_relu": "activation", "sigmoid": "activation", "tanh": "activation",
           "softmax": "activation", "identity": "activation", "maxpool2d": "shape", "avgpool2d": "shape",
           "flatten": "shape", "batchnorm": "regular", "dropout": "regular"}  # fmt: skip
BOX_HEIGHT, GAP, TOP, MARGIN = 0.56, 0.3, 0.8, 0.25  # inches: the axes' data units are inches
HEAD_SIZE, DETAIL_SIZE = 9.5, 8.5  # points
LEGEND_WIDTH = 2.0  # inches beside the chain
ARROW = {"arrowstyle": "-|>", "color": "0.35", "linewidth": 1.2, "shrinkA": 1, "shrinkB": 1}


def plot_graph(
    config_path: str | Path, overrides: Sequence[str] = (), out: str | Path | None = None, fmt: str = "png"
) -> Path:
    """Draw CONFIG's network into `out` as <name>_graph.<fmt>; returns the file.

    `out` defaults to results/<name>/, the folder that holds the config's runs (nnrun.runs.folder.RESULTS_ROOT).
    """
    cfg = load_config(config_path, overrides)
    model = Sequential.from_config(cfg.resolved()["model"], dtype=cfg.dtype, seed=cfg.seed)
    folder = Path(out) if out is not None else Path("results") / cfg.name
    return save(graph_figure(model, cfg.name), folder / f"{cfg.name}_graph.{fmt}")


def plot_model_graph(run_dir: str | Path, out: str | Path | None = None, fmt: str = "png") -> Path:
    """Draw a run's network, from its resolved config.yaml, as graph.<fmt> in `out` (default: the run folder)."""
    run = load_run(run_dir)
    model = Sequential.from_config(run.config["model"], dtype=run.config["dtype"], seed=run.config["seed"])
    return save(graph_figure(model, run.config["name"]), Path(out or run.path) / f"graph.{fmt}")


def graph_figure(model: Sequential, title: str) -> Any:
    """The input and one box per layer, top to bottom; the height grows with the layers so nothing overlaps."""
    plt = pyplot()
    from matplotlib.font_manager import FontProperties  # imported here with matplotlib itself (style.pyplot)
    from matplotlib.patches import FancyBboxPatch, Patch
    from matplotlib.textpath import TextPath

    rows = model.summary()
    boxes = [("input", shape_text(model.input_shape), "input")]
    for layer, row in zip(model.layers, rows):
        config = layer.get_config()
        detail = shape_text(row.output_shape) + (f"  ·  {row.params:,} params" if row.params else "")
        # a layer type registered after this module was written is coloured by whether it has weights
        boxes.append((heading(config), detail, KIND_OF.get(config["type"], "weights" if row.params else "shape")))

    def inches(text: str, size: float, weight: str) -> float:
        return TextPath((0, 0), text, size=size, prop=FontProperties(weight=weight)).get_extents().width / 72

    # measured before anything is drawn, so every box is as wide as the longest line and the figure fits them
    text_width = max(
        max(inches(head, HEAD_SIZE, "bold"), inches(detail, DETAIL_SIZE, "normal")) for head, detail, _ in boxes
    )
    box_width = max(2.6, text_width) + 0.5
    total = sum(row.params for row in rows)
    totals = f"{len(model.layers)} layers, {total:,} parameters, input {shape_text(model.input_shape)}"
    title_width = max(inches(title, 12, "bold"), inches(totals, 10, "normal")) + 2 * MARGIN
    width = max(MARGIN + box_width + MARGIN + LEGEND_WIDTH, title_width)
    height = TOP + len(boxes) * BOX_HEIGHT + (len(boxes) - 1) * GAP + MARGIN
    figure = plt.figure(figsize=(width, height))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, width), ylim=(height, 0))  # y grows downwards, as the network is read
    ax.axis("off")
    center = MARGIN + box_width / 2
    for index, (head, detail, kind) in enumerate(boxes):
        top = TOP + index * (BOX_HEIGHT + GAP)
        _, face, edge = KINDS[kind]
        ax.add_patch(FancyBboxPatch((MARGIN, top), box_width, BOX_HEIGHT, boxstyle="round,pad=0,rounding_size=0.08",
                                    facecolor=face, edgecolor=edge, linewidth=1.2))  # fmt: skip
        ax.text(center, top + 0.36 * BOX_HEIGHT, head, ha="center", va="center", fontsize=HEAD_SIZE, weight="bold")
        ax.text(center, top + 0.72 * BOX_HEIGHT, detail, ha="center", va="center", fontsize=DETAIL_SIZE, color="0.25")
        if index:
            ax.annotate("", xy=(center, top), xytext=(center, top - GAP), arrowprops=ARROW)
    kinds = [kind for kind in KINDS if any(box[2] == kind for box in boxes)]
    handles = [Patch(facecolor=KINDS[k][1], edgecolor=KINDS[k][2], label=KINDS[k][0]) for k in kinds]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=((2 * MARGIN + box_width) / width, 1 - TOP / height),
              frameon=False, fontsize=DETAIL_SIZE)  # fmt: skip
    ax.text(width / 2, 0.32 * TOP, title, ha="center", va="center", fontsize=12, weight="bold")
    ax.text(width / 2, 0.62 * TOP, totals, ha="center", va="center", fontsize=10, color="0.25")
    return figure


def heading(config: dict[str, Any]) -> str:
    """'conv2d  32@5×5, stride 1, pad same', with a user's name first: 'hidden: dense  512'."""
    settings = layer_settings(config)
    if config["type"] in ("dense", "conv2d", "dense_stack") and not config.get("use_bias", True):
        settings += ", no bias"
    text = f"{config['type']}  {settings}" if settings else config["type"]
    return f"{config['name']}: {text}" if config.get("name") else text


def layer_settings(config: dict[str, Any]) -> str:
    """The settings that tell one layer of a type from another; defaults and initializers are left out."""
    kind = config["type"]
    if kind == "conv2d":
        kernel = pair_text(config["kernel"], window=True)
        return f"{config['filters']}@{kernel}, stride {pair_text(config['stride'])}, pad {pair_text(config['padding'])}"
    if kind in ("maxpool2d", "avgpool2d"):
        stride = config["stride"] if config["stride"] is not None else config["size"]
        return f"{pair_text(config['size'], window=True)} / {pair_text(stride)}"
    if kind == "dense":
        return str(config["units"])
    if kind == "dense_stack":
        parts = ["-".join(map(str, config["units"])) or "no blocks", config["activation"]]
        parts += ["+batchnorm"] if config["batchnorm"] else []
        parts += [f"+dropout {config['dropout']}"] if config["dropout"] else []
        return " ".join(parts)
    if kind == "dropout":
        return f"rate {config['rate']}"
    if kind == "leaky_relu":
        return f"alpha {config['alpha']}"
    return ""


def pair_text(value: Any, window: bool = False) -> str:
    """A window: 5 or [5, 5] -> '5×5'; a stride or padding: 2 or [2, 2] -> '2', [1, 2] -> '(1, 2)'; 'same' stays."""
    if isinstance(value, (list, tuple)) and len(set(value)) == 1:
        value = value[0]
    if isinstance(value, (list, tuple)):
        return "×".join(map(str, value)) if window else f"({', '.join(map(str, value))})"
    return f"{value}×{value}" if window and isinstance(value, int) else str(value)


def shape_text(shape: Sequence[int]) -> str:
    return "×".join(map(str, shape))
