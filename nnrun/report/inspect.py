"""Inspecting a trained run on one split (test by default): the confusion matrix, the misclassified
examples as an image grid with their true and predicted labels, the first layer's filters, and t-SNE or PCA
maps of the last hidden layer's activations and of a dense layer's weights.

The split is made again from the run's config and seed, and goes through the training batches' scaling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnrun.data import Dataset, load_dataset
from nnrun.errors import RunError
from nnrun.report.embedding import METHODS, activations_points, describe, embedding_figure, find_layer, weights_points
from nnrun.report.filters import filters_figure
from nnrun.report.predict import predict
from nnrun.report.style import pyplot, save
from nnrun.results import Run, load_run, percent

GRID = 6  # misclassified examples: up to GRID x GRID of them
KINDS = ("confusion", "misclassified", "filters", "activations", "weights")


def plot_inspection(
    run_dir: str | Path,
    out: str | Path | None = None,
    fmt: str = "png",
    split: str = "test",
    kinds: list[str] | None = None,
    method: str = "tsne",
    layer: str | None = None,
) -> tuple[list[Path], list[str]]:
    """The figures of `kinds` (default: every kind that applies) in `out` (default: the run folder).

    Returns the files written and, for default kinds that do not apply to this run, why each was skipped.
    A kind asked for by name that does not apply is an error.
    """
    if method not in METHODS:
        raise RunError(f"no map method {method!r}", hint=f"methods: {', '.join(METHODS)}")
    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        raise RunError(f"no inspection figure {', '.join(unknown)}", hint=f"kinds: {', '.join(KINDS)}")
    run = load_run(run_dir)
    if not (run.path / "model.npz").is_file():
        raise RunError(f"{run.path} has no model.npz to inspect (status {run.status})")
    dataset = load_dataset(run.config["data"], run.config["seed"])
    if split not in dataset.splits or not len(dataset.splits[split].y):
        raise RunError(f"the data of {run.path} has no {split} split", hint=f"splits: {', '.join(dataset.splits)}")
    model = run.model()
    data = dataset.splits[split]
    name = run.config["name"]
    out = Path(out or run.path)
    predicted = None
    written, skipped = [], []
    for kind in kinds or KINDS:
        try:
            if kind in ("confusion", "misclassified") and predicted is None:
                predicted = predict(run, data)
            if kind == "confusion":
                figure = confusion_figure(run, dataset, split, predicted)
            elif kind == "misclassified":
                if dataset.image_shape is None:
                    raise RunError("its data are not images")
                figure = misclassified_figure(run, dataset, split, predicted)
            elif kind == "filters":
                figure = filters_figure(model, dataset.image_shape, name)
            elif kind == "activations":
                index = find_layer(model, layer, weights=False)
                points, labels = activations_points(model, data, index)
                title = f"{name}: {method_name(method)} of {describe(model, index)}\n{len(labels)} {split} examples"
                figure = embedding_figure(points, labels, names(dataset), title, method)
            else:
                points, labels, where = weights_points(model, find_layer(model, layer, weights=True))
                title = f"{name}: {method_name(method)} of {where}\n{len(points)} units, each by its input weights"
                legend = "class its largest\noutput weight favours"
                figure = embedding_figure(points, labels, names(dataset), title, method, legend)
        except RunError as error:
            if kinds:
                raise RunError(f"no {kind} figure for {run.path}: {error.what}", hint=error.hint) from None
            skipped.append(f"{kind}: {error.what}")
            continue
        file = f"{kind}_{method}.{fmt}" if kind in ("activations", "weights") else f"{kind}.{fmt}"
        written.append(save(figure, out / file))
    return written, skipped


def method_name(method: str) -> str:
    return {"tsne": "t-SNE", "pca": "PCA"}[method]


def names(dataset: Dataset) -> list[str]:
    return list(dataset.class_names) or [str(k) for k in range(dataset.num_classes)]


def confusion_figure(run: Run, dataset: Dataset, split: str, predicted: np.ndarray) -> Any:
    """Counts of (true, predicted) pairs; the colour is each row's share, so small classes read as well."""
    plt = pyplot()
    truth = dataset.splits[split].y
    k = max(dataset.num_classes, 2)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (truth, predicted), 1)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 2.5 + 0.45 * k
    figure, ax = plt.subplots(figsize=(size + 1, size), layout="constrained")
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if shares[i, j] > 0.5 else "black")  # fmt: skip
    labels = names(dataset)[:k]
    ax.set_xticks(range(k), labels, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), labels)
    ax.grid(False)
    accuracy = float(np.mean(truth == predicted))
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"{run.config['name']}: {split} confusion matrix (accuracy {percent(accuracy)}, n={len(truth)})")  # fmt: skip
    figure.colorbar(image, ax=ax, label="share of the true class")
    return figure


def misclassified_figure(run: Run, dataset: Dataset, split: str, predicted: np.ndarray) -> Any:
    """The first misclassified examples in the split's order, each titled `true → predicted`."""
    plt = pyplot()
    data = dataset.splits[split]
    wrong = np.flatnonzero(data.y != predicted)[: GRID * GRID]
    columns = min(GRID, max(len(wrong), 1))
    rows = max(1, -(-len(wrong) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows + 0.5), squeeze=False,
                                layout="constrained")  # fmt: skip
    labels = names(dataset)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, wrong):
        image = data.x[index].reshape(dataset.image_shape)
        image = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)  # (C, H, W) -> (H, W[, C])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.set_title(f"{labels[data.y[index]]} → {labels[predicted[index]]}", fontsize=8, color="#d62728")
    total = int(np.sum(data.y != predicted))
    figure.suptitle(f"{run.config['name']}: {total} of {len(data.y)} {split} examples misclassified "
                    f"(the first {len(wrong)}; true → predicted)", fontsize=10)  # fmt: skip
    return figure
