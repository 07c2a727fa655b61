"""Diagnostics of a trained run on one split (test by default): the confusion matrix, and the misclassified
examples as an image grid with their true and predicted labels.

The split is made again from the run's config and seed, and goes through the training batches' scaling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnrun.data import Dataset, load_dataset
from nnrun.errors import RunError
from nnrun.report.predict import predict
from nnrun.report.style import pyplot, save
from nnrun.results import Run, load_run

GRID = 6  # misclassified examples: up to GRID x GRID of them


def plot_diagnostics(run_dir: str | Path, out: str | Path | None = None, fmt: str = "png", split: str = "test"):
    """confusion.<fmt> and, for image data, misclassified.<fmt>, in `out` (default: the run folder)."""
    run = load_run(run_dir)
    if not (run.path / "model.npz").is_file():
        raise RunError(f"{run.path} has no model.npz to diagnose (status {run.status})")
    dataset = load_dataset(run.config["data"], run.config["seed"])
    if split not in dataset.splits or not len(dataset.splits[split].y):
        raise RunError(f"the data of {run.path} has no {split} split", hint=f"splits: {', '.join(dataset.splits)}")
    predicted = predict(run, dataset.splits[split])
    out = Path(out or run.path)
    written = [save(confusion_figure(run, dataset, split, predicted), out / f"confusion.{fmt}")]
    if dataset.image_shape is not None:
        written.append(save(misclassified_figure(run, dataset, split, predicted), out / f"misclassified.{fmt}"))
    return written


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
           title=f"{run.config['name']}: {split} confusion matrix (accuracy {accuracy:.4f}, n={len(truth)})")  # fmt: skip
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
