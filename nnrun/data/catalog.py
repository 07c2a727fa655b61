"""What `nnrun data list | download | info` report: the registered datasets, where their files are, and a
loaded dataset's counts, value ranges and memory, plus a grid of sample images. The CLI only prints these.
"""

from __future__ import annotations

import inspect
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnrun.data.base import Loader
from nnrun.data.dataset import SPLIT_NAMES, Dataset, batches
from nnrun.data.load import get_loader
from nnrun.errors import ConfigError, DataError, NnrunError
from nnrun.io import atomic_write_bytes
from nnrun.registry import DATASETS

# Examples per split run through `batches` to show the value range after normalisation.
SAMPLE = 2000


@dataclass
class Entry:
    """One row of `nnrun data list`."""

    name: str
    shape: tuple[int, ...] | None
    classes: int | None
    description: str
    location: str


def entries() -> list[Entry]:
    """Every registered dataset with where its files are; looks on disk, never downloads."""
    rows = []
    for name, cls in DATASETS.items():
        shape = getattr(cls, "shape", None)
        classes = getattr(cls, "classes", None)
        rows.append(
            Entry(
                name,
                tuple(shape) if shape else None,
                classes if isinstance(classes, int) and not isinstance(classes, bool) else None,
                (inspect.getdoc(cls) or "").split("\n")[0],
                location(name),
            )
        )
    return rows


def needs_path(name: str) -> bool:
    """True for datasets that are just a user's file or folder: nothing to look for without data.path."""
    field_ = DATASETS.schema(name).model_fields.get("path")
    return bool(getattr(DATASETS.get(name), "needs_path", False) or (field_ is not None and field_.is_required()))


def location(name: str) -> str:
    """'built in', 'needs data.path', the folder or file found, or 'not present'."""
    cls = DATASETS.get(name)
    if getattr(cls, "builtin", False):
        return "built in"
    if needs_path(name):
        return "needs data.path"
    try:
        found = DATASETS.build({"type": name}).locate()
    except NnrunError as error:  # a present but broken file, say: show why rather than fail the listing
        return f"error: {error.what}"
    return str(found) if found is not None else "not present"


def fetch(name: str, path: str | Path | None = None) -> Path | None:
    """The dataset's files, downloaded into the cache if needed and allowed; None for a built-in dataset."""
    spec: dict[str, Any] = {"type": name}
    if path is not None:
        spec["path"] = str(path)
    cls = DATASETS.get(name, where="dataset")
    if getattr(cls, "builtin", False):
        if path is not None:
            raise ConfigError(f"{name} is built in and has no files to put in {path}", where="--path")
        return None
    if path is None and needs_path(name):
        raise ConfigError(
            f"{name} reads a file or folder of yours and has nothing to download",
            where="dataset",
            hint=f"give it with --path (or data.path in a config); `nnrun data info {name} --set path=...` checks it",
        )
    loader = DATASETS.build(spec, where="data")
    found = loader.fetch()
    if found is None:
        raise DataError(f"{name}: no files found, and this dataset cannot be downloaded", where="data")
    return found


# --- data info -----------------------------------------------------------------------------------


@dataclass
class SplitFacts:
    """One split as stored and as batched."""

    name: str
    n: int
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    raw_min: float
    raw_max: float
    # over the first SAMPLE examples after normalisation, in float64 (NaN for an empty split)
    sample: int = 0
    norm_min: float = float("nan")
    norm_max: float = float("nan")
    norm_mean: float = float("nan")
    norm_std: float = float("nan")


@dataclass
class Report:
    """Everything `nnrun data info` prints."""

    dataset: Dataset
    config: dict[str, Any]
    location: str
    splits: list[SplitFacts] = field(default_factory=list)
    # counts[class index][split name]
    counts: list[dict[str, int]] = field(default_factory=list)

    @property
    def split_names(self) -> list[str]:
        return [s.name for s in self.splits]

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.splits)


def inspect_dataset(spec: dict[str, Any], seed: int = 0) -> Report:
    """Load a dataset from its data section (`{dataset: name, ...}`) and gather its counts, ranges and memory."""
    loader: Loader = get_loader(spec)
    dataset = loader.load(seed)
    report = Report(dataset, {"dataset": loader.type_name, **loader.get_config()}, _where(loader))
    report.config.pop("type", None)
    for split_name in SPLIT_NAMES:
        if split_name in dataset.splits:
            report.splits.append(split_facts(split_name, dataset.splits[split_name]))
    for k in range(dataset.num_classes):
        report.counts.append({s: int(np.count_nonzero(dataset.splits[s].y == k)) for s in report.split_names})
    return report


def _where(loader: Loader) -> str:
    if loader.builtin:
        return "built in"
    try:
        found = loader.locate()
    except NnrunError:
        return "?"
    return str(found) if found is not None else "?"


def split_facts(name: str, split: Any) -> SplitFacts:
    x = split.x
    facts = SplitFacts(
        name,
        len(split),
        str(x.dtype),
        tuple(x.shape),
        int(x.nbytes + split.y.nbytes),
        float(x.min()) if x.size else float("nan"),
        float(x.max()) if x.size else float("nan"),
    )
    if len(split):
        xb, _ = next(batches(split, SAMPLE, np.float64))
        facts.sample = len(xb)
        facts.norm_min, facts.norm_max = float(xb.min()), float(xb.max())
        facts.norm_mean, facts.norm_std = float(xb.mean()), float(xb.std())
    return facts


# --- pictures ------------------------------------------------------------------------------------


def save_grid(dataset: Dataset, path: str | Path, per_class: int = 10, max_classes: int = 20) -> str:
    """A PNG of sample images (`per_class` per class, one row each) or, for 2-D points, a scatter plot.

    Images are drawn from the train split as stored, stretched to the split's value range (not standardised).
    Returns what was drawn.
    """
    import matplotlib  # imported here: it is slow to load, and only this verb draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if dataset.image_shape is not None:
        figure, what = _image_grid(plt, dataset, per_class, max_classes)
    elif dataset.input_shape == (2,):
        figure, what = _scatter(plt, dataset)
    else:
        raise ConfigError(
            f"--grid draws images (C, H, W) or 2-D points; {dataset.name} examples have shape {dataset.input_shape}",
            where="--grid",
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return what


def _image_grid(plt: Any, dataset: Dataset, per_class: int, max_classes: int) -> tuple[Any, str]:
    split = dataset.splits["train"]
    c, h, w = dataset.image_shape
    classes = list(range(min(dataset.num_classes, max_classes)))
    figure, axes = plt.subplots(
        len(classes), per_class, figsize=(0.8 * per_class + 1.2, 0.8 * len(classes) + 0.4), squeeze=False
    )
    # the split's own range (digits are 0..16, not 0..255); zero stays black for uint8 images
    high = float(split.x.max()) if len(split) else 1.0
    low = 0.0 if split.x.dtype == np.uint8 or not len(split) else float(split.x.min())
    drawn = 0
    for row, k in zip(axes, classes):
        picks = np.flatnonzero(split.y == k)[:per_class]
        for col, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col == 0:
                ax.set_ylabel(dataset.class_names[k], rotation=0, ha="right", va="center", fontsize=9)
            if col >= len(picks):
                continue
            image = split.x[picks[col]].reshape(c, h, w).astype(np.float64)
            image = np.clip((image - low) / ((high - low) or 1.0), 0, 1)
            if c == 3:
                ax.imshow(image.transpose(1, 2, 0), interpolation="nearest")
            else:
                ax.imshow(image[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            drawn += 1
    figure.suptitle(f"{dataset.name}: train split, up to {per_class} per class", fontsize=10)
    more = f" (first {len(classes)} of {dataset.num_classes} classes)" if len(classes) < dataset.num_classes else ""
    return figure, f"{drawn} images{more}"


def _scatter(plt: Any, dataset: Dataset) -> tuple[Any, str]:
    figure, ax = plt.subplots(figsize=(5.5, 5))
    markers = {"train": "o", "val": "s", "test": "^"}
    colours = plt.get_cmap("tab10")
    total = 0
    for split_name, split in dataset.splits.items():
        for k in range(dataset.num_classes):
            points = split.x[split.y == k]
            total += len(points)
            label = f"{dataset.class_names[k]} ({split_name})"
            ax.scatter(points[:, 0], points[:, 1], s=8, marker=markers[split_name], color=colours(k % 10),
                       alpha=0.7 if split_name == "train" else 0.9, label=label)  # fmt: skip
    ax.set(title=f"{dataset.name}", xlabel="x0", ylabel="x1")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    figure.tight_layout()
    return figure, f"scatter plot of {total} points"
