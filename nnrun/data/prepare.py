"""The preprocessing every dataset shares, from the published splits (`load_raw`) to the run's Dataset, and
what it makes of a dataset's shape and classes without the data (`prepared_shape`, for `Loader.peek`).

In order: keep `classes` -> `positive` relabelling -> hold out test (datasets without an official test
split) and val (without an official val split) from the training pool -> subsample `n_train` / `n_test`
-> `normalize` statistics from the train split -> `flatten` -> attach `augment`. Every random choice is
stratified by class and seeded from the run seed, each step from its own stream. Splits are tracked as
index arrays into the published arrays, so each split's images are copied once at most (not at all
when a split is used whole).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from nnrun.data.augment import Augment
from nnrun.data.dataset import (
    SPLIT,
    SPLIT_NAMES,
    SUBSAMPLE_TEST,
    SUBSAMPLE_TRAIN,
    Dataset,
    DataShape,
    Split,
    data_rng,
    split_count,
    stratified_split,
)
from nnrun.errors import ConfigError, DataError

# Rows of float64 per chunk when computing the standardisation statistics: a few MB at a time instead
# of a float copy of the whole train split (MNIST: 376 MB as float64).
STATS_CHUNK = 1 << 20


class Settings(Protocol):
    """The common data keys, as a Loader (nnrun.data.base) holds them; a dataset may add its own `test`."""

    classes: list[int] | None
    positive: list[int] | None
    val: int | float
    n_train: int | None
    n_test: int | None
    normalize: str
    flatten: bool
    augment: dict[str, Any] | None


@dataclass
class Part:
    """A split in the making: rows `index` of a published split (None: all of them, in order) and their labels.

    Labels are the fine classes (after `classes`); `positive` is applied when the split is materialised,
    so that splitting and subsampling stay stratified by the original classes.
    """

    source: Split
    index: np.ndarray | None
    y: np.ndarray

    def take(self, rows: np.ndarray) -> Part:
        """The sub-part of these rows (positions within this part, or a boolean mask)."""
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows
        index = rows if self.index is None else self.index[rows]
        return Part(self.source, index, self.y[rows])

    def __len__(self) -> int:
        return len(self.y)

    def x(self) -> np.ndarray:
        return self.source.x if self.index is None else np.take(self.source.x, self.index, axis=0)


def prepare(raw: Dataset, loader: Settings, seed: int) -> Dataset:
    """The Dataset a run trains on: `raw` (official splits as published) after the loader's common keys."""
    data_rng(seed, SPLIT)  # checks the seed before any work
    parts = {name: Part(split, None, split.y) for name, split in raw.splits.items()}
    notes = list(raw.notes)  # what the loader noticed (skipped unreadable files, ...)
    notes.append(f"published splits: {', '.join(f'{n} {len(s)}' for n, s in raw.splits.items())}")
    class_names = list(raw.class_names)

    if loader.classes is not None:
        parts, class_names = keep_classes(parts, class_names, loader.classes, notes)
    to_final = np.arange(len(class_names))
    if loader.positive is not None:
        to_final, class_names = binary_labels(raw.class_names, loader.classes, loader.positive, notes)

    hold_out(parts, loader, seed, notes)
    subsample(parts, "train", loader.n_train, data_rng(seed, SUBSAMPLE_TRAIN), notes)
    subsample(parts, "test", loader.n_test, data_rng(seed, SUBSAMPLE_TEST), notes)

    splits = {}
    for name in SPLIT_NAMES:
        if name in parts:
            part = parts[name]
            splits[name] = Split(part.x(), to_final[part.y], part.source.scale)

    input_shape = raw.input_shape
    image_shape = input_shape if len(input_shape) == 3 else None
    normalise(splits, loader.normalize, notes)
    if loader.flatten and len(input_shape) > 1:
        input_shape = (math.prod(input_shape),)
        for split in splits.values():
            split.x = split.x.reshape(len(split.x), *input_shape)  # a view: x is contiguous
            if split.mean is not None:
                split.mean = np.broadcast_to(split.mean, raw.input_shape).reshape(input_shape)
                split.std = np.broadcast_to(split.std, raw.input_shape).reshape(input_shape)
        notes.append(f"flatten: examples {raw.input_shape} -> {input_shape}")

    augment = None
    if loader.augment is not None:
        augment = Augment(**loader.augment, image_shape=raw.input_shape)
        notes.append(
            f"augment (training batches): random crop with padding {augment.crop_padding}"
            + (", random horizontal flip" if augment.flip else "")
        )
    return Dataset(
        raw.name,
        splits,
        input_shape,
        len(class_names),
        class_names,
        augment=augment,
        image_shape=image_shape,
        notes=notes,
    )


def prepared_shape(raw: DataShape, loader: Settings) -> DataShape:
    """What `prepare` makes of a dataset of this shape and these classes, checked as `prepare` checks them:
    `classes`, `positive`, `augment` (it needs images) and `flatten`. The splits' sizes are not known here."""
    class_names = list(raw.class_names)
    if loader.classes is not None:
        check_classes(loader.classes, len(class_names), "classes")
        class_names = [class_names[c] for c in loader.classes]
    if loader.positive is not None:
        _, class_names = binary_labels(raw.class_names, loader.classes, loader.positive, [])
    if loader.augment is not None:
        Augment(**loader.augment, image_shape=raw.input_shape)
    input_shape = raw.input_shape
    if loader.flatten and len(input_shape) > 1:
        input_shape = (math.prod(input_shape),)
    return DataShape(raw.name, input_shape, class_names, raw.where, raw.downloads)


def check_classes(values: list[int], num_classes: int, key: str) -> None:
    if len(set(values)) != len(values):
        raise ConfigError(f"each class may be listed once, got {values}", where=f"data.{key}")
    outside = [c for c in values if not 0 <= c < num_classes]
    if outside:
        raise ConfigError(
            f"class {outside[0]} does not exist: the dataset has {num_classes} classes, 0..{num_classes - 1}",
            where=f"data.{key}",
            hint="`nnrun data info <dataset>` lists the classes",
        )


def keep_classes(
    parts: dict[str, Part], names: list[str], classes: list[int], notes: list[str]
) -> tuple[dict[str, Part], list[str]]:
    """Only the examples of `classes`, relabelled 0..k-1 in the order given."""
    check_classes(classes, len(names), "classes")
    relabel = np.full(len(names), -1, dtype=np.int64)
    relabel[classes] = np.arange(len(classes))
    kept = {}
    for name, part in parts.items():
        new = relabel[part.y]
        keep = new >= 0
        part = part.take(keep) if not keep.all() else part
        kept[name] = Part(part.source, part.index, new[keep])
    new_names = [names[c] for c in classes]
    notes.append(
        f"classes: kept {', '.join(f'{c} ({n})' for c, n in zip(classes, new_names))} as 0..{len(classes) - 1}"
    )
    return kept, new_names


def binary_labels(
    names: list[str], classes: list[int] | None, positive: list[int], notes: list[str]
) -> tuple[np.ndarray, list[str]]:
    """Map fine label -> 0/1 for a binary task, and the two class names ["rest", "a+b"]."""
    check_classes(positive, len(names), "positive")
    if classes is not None:
        missing = [c for c in positive if c not in classes]
        if missing:
            raise ConfigError(
                f"positive class {missing[0]} is not among the kept classes {classes}",
                where="data.positive",
                hint="add it to data.classes, or leave data.classes out",
            )
        fine = [classes.index(c) for c in positive]
        count = len(classes)
    else:
        fine, count = list(positive), len(names)
    if len(fine) == count:
        raise ConfigError(
            "every class is positive, so no example would have label 0",
            where="data.positive",
            hint="list only the classes of label 1",
        )
    to_final = np.zeros(count, dtype=np.int64)
    to_final[fine] = 1
    joined = "+".join(names[c] for c in positive)
    notes.append(f"positive: label 1 = {joined} (classes {positive}), label 0 = the rest")
    return to_final, ["rest", joined]


def hold_out(parts: dict[str, Part], loader: Settings, seed: int, notes: list[str]) -> None:
    """Split val (and test, for datasets without one) off the training pool, stratified, in place.

    Fractions are of the training pool: the published train split, which for a dataset without an
    official test split (digits, synthetic sets) is every example. A loader declares `test` exactly
    when its dataset has no official test split.
    """
    pool = parts["train"]
    n = len(pool)
    counts: dict[str, int] = {}
    if "val" in parts:
        if split_count(loader.val, n, "val"):
            notes.append(f"val={loader.val} ignored: the dataset's official validation split is used")
    else:
        counts["val"] = split_count(loader.val, n, "val")
    test = getattr(loader, "test", None)
    official_test = "test" in parts
    if test is not None:
        if official_test:
            if split_count(test, n, "test"):
                notes.append(f"test={test} ignored: the dataset's official test split is used")
        else:
            counts["test"] = split_count(test, n, "test")
    counts = {name: c for name, c in counts.items() if c > 0}
    # a pool that is all the examples is shuffled even with nothing to hold out: generated sets come
    # grouped by class, which an unshuffled pass (train.shuffle: false) must not see
    if not counts and (test is None or official_test):
        return
    indices = stratified_split(pool.y, counts, data_rng(seed, SPLIT))
    for name, count in counts.items():
        parts[name] = pool.take(indices[name])
        notes.append(f"{name}: {count} examples held out of the {n} in the training pool (stratified)")
    parts["train"] = pool.take(indices["train"])


def subsample(parts: dict[str, Part], name: str, size: int | None, rng: np.random.Generator, notes: list[str]) -> None:
    """Keep a stratified random `size` examples of split `name` (n_train / n_test)."""
    if size is None:
        return
    key = f"n_{name}"
    if size < 1:
        raise ConfigError(f"{key} must be >= 1, got {size}", where=f"data.{key}")
    if name not in parts:
        raise ConfigError(
            f"{key}={size} but the dataset has no {name} split",
            where=f"data.{key}",
            hint="set data.test to hold out a test split" if name == "test" else None,
        )
    have = len(parts[name])
    if size > have:
        raise ConfigError(
            f"{key}={size} but the {name} split has only {have} examples",
            where=f"data.{key}",
            hint=f"set {key} to at most {have}" + (", or a smaller data.val" if name == "train" else ""),
        )
    if size < have:
        # the rest of a stratified split with `have - size` held out
        kept = stratified_split(parts[name].y, {"drop": have - size}, rng)["train"]
        parts[name] = parts[name].take(kept)
        notes.append(f"{key}: {size} of the {have} {name} examples (stratified subsample)")


def normalise(splits: dict[str, Split], normalize: str, notes: list[str]) -> None:
    """Set each split's scale, mean and std for `normalize` (scale, standardize or none)."""
    if normalize == "scale":
        return  # the published splits' scale: 1/255 for uint8 images, 1/16 for digits, 1 for features
    if normalize == "none":
        for split in splits.values():
            split.scale = 1.0
        notes.append("normalize none: raw values")
        return
    if normalize != "standardize":
        raise ConfigError(f"unknown normalize '{normalize}'; use scale, standardize or none", where="data.normalize")
    train = splits["train"]
    if len(train) == 0:
        raise DataError("normalize: standardize needs training examples to compute the statistics", where="data")
    mean, std = moments(train.x, train.scale)
    for name, split in splits.items():
        splits[name] = Split(split.x, split.y, train.scale, mean, std)
    what = "per channel" if train.x.ndim > 2 else "per feature"
    shown = ", ".join(f"{m:.4g}/{s:.4g}" for m, s in zip(mean.ravel()[:4], std.ravel()[:4]))
    more = ", ..." if mean.size > 4 else ""
    notes.append(f"normalize standardize ({what}, from the train split): mean/std {shown}{more}")


def moments(x: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of x * scale per channel (axis 1, for images) or per feature (for (N, D) vectors).

    Shapes (C, 1, ..., 1) or (D,), float64, broadcastable against x.shape[1:]. Two passes over chunks of
    rows (mean, then squared deviations: exact enough for floats, not only for uint8). Constant channels
    or features get std 1, so they come out as zeros rather than NaN.
    """
    n = len(x)
    axes = (0,) if x.ndim == 2 else (0, *range(2, x.ndim))
    rows = max(1, STATS_CHUNK // max(1, math.prod(x.shape[1:])))
    count = n * math.prod(x.shape[2:])
    total = 0.0
    for start in range(0, n, rows):
        chunk = x[start : start + rows].astype(np.float64) * scale
        total = total + chunk.sum(axis=axes, keepdims=True)
    mean = total / count
    squares = 0.0
    for start in range(0, n, rows):
        chunk = x[start : start + rows].astype(np.float64) * scale - mean
        squares = squares + np.square(chunk).sum(axis=axes, keepdims=True)
    std = np.sqrt(squares / count)
    std[std == 0] = 1.0
    return mean[0], std[0]
