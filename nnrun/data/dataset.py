"""What every dataset loader returns (Dataset, Split), the minibatch iterator, and seeded stratified splits.

Images stay uint8 in memory and are scaled (or standardised) into the run's float dtype one batch at a
time by `batches` (figures in benchmarks/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnrun.data.augment import Augment
from nnrun.errors import ConfigError, DataError

Shape = tuple[int, ...]
SPLIT_NAMES = ("train", "val", "test")

# Mixed into the run seed so the data streams differ from the weight-init and dropout streams of the
# same seed. Generating examples, splitting them and subsampling each split use separate streams, so a
# loader that adds draws to one (more noise, another split) never shifts the others.
DATA_STREAM = 0xDA7A
GENERATE, SPLIT, SUBSAMPLE_TRAIN, SUBSAMPLE_TEST = 0, 1, 2, 3


@dataclass
class Split:
    """One split. x: (N, *input_shape) uint8 images or float features; y: (N,) int64 class labels.

    `batches` yields (x * scale - mean) / std in the requested float dtype; scale defaults to 1/255 for
    uint8 and 1 for float features (the 0..16 sklearn digits use 1/16); mean and std are None (no
    standardisation) or float64 arrays that broadcast against input_shape, e.g. (C, 1, 1) per channel.
    """

    x: np.ndarray
    y: np.ndarray
    scale: float | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.x = np.ascontiguousarray(self.x)
        if self.x.dtype != np.uint8 and self.x.dtype.kind != "f":
            raise DataError(f"features must be uint8 or floating point, got {self.x.dtype}")
        if self.x.ndim < 2:
            raise DataError(f"features must be (N, *input_shape), got shape {self.x.shape}")
        y = np.asarray(self.y)
        if y.dtype.kind not in "iu":
            raise DataError(f"labels must be integer class indices, got dtype {y.dtype}")
        if y.shape != (len(self.x),):
            raise DataError(f"labels must be (N,) = ({len(self.x)},) to match the features, got shape {y.shape}")
        self.y = np.ascontiguousarray(y, dtype=np.int64)
        if self.scale is None:
            self.scale = 1 / 255 if self.x.dtype == np.uint8 else 1.0
        if (self.mean is None) != (self.std is None):
            raise DataError("give both mean and std for standardisation, or neither")
        if self.mean is not None:
            self.mean = np.asarray(self.mean, dtype=np.float64)
            self.std = np.asarray(self.std, dtype=np.float64)
            for label, stat in (("mean", self.mean), ("std", self.std)):
                try:
                    fits = np.broadcast_shapes(stat.shape, self.x.shape[1:]) == self.x.shape[1:]
                except ValueError:
                    fits = False
                if not fits:
                    raise DataError(f"{label} of shape {stat.shape} does not broadcast to examples {self.x.shape[1:]}")
            if not np.all(self.std > 0):
                raise DataError("std must be > 0 everywhere")

    def __len__(self) -> int:
        return len(self.y)

    def class_counts(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.y, minlength=num_classes)


@dataclass
class Dataset:
    """A loaded dataset: splits {"train", and optionally "val", "test"}, per-example input_shape, classes.

    After `Loader.load`: `augment` is the training-batch augmentation (or None), `image_shape` the
    (C, H, W) of image data even when flattened (None for features), and `notes` says, one line per
    step, what the preprocessing did (which splits are official, what was split off, subsampled, ...).
    """

    name: str
    splits: dict[str, Split]
    input_shape: Shape
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    augment: Augment | None = None
    image_shape: Shape | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(d) for d in self.input_shape)
        if self.image_shape is not None:
            self.image_shape = tuple(int(d) for d in self.image_shape)
        if not self.class_names:
            self.class_names = [str(k) for k in range(self.num_classes)]
        if len(self.class_names) != self.num_classes:
            raise DataError(f"{self.name}: {len(self.class_names)} class names for {self.num_classes} classes")
        if "train" not in self.splits:
            raise DataError(f"{self.name}: no train split")
        for split_name, split in self.splits.items():
            where = f"{self.name} {split_name} split"
            if split_name not in SPLIT_NAMES:
                raise DataError(f"{where}: unknown split name; splits are {', '.join(SPLIT_NAMES)}")
            if split.x.shape[1:] != self.input_shape:
                raise DataError(f"{where}: examples have shape {split.x.shape[1:]}, expected {self.input_shape}")
            if len(split) and (split.y.min() < 0 or split.y.max() >= self.num_classes):
                raise DataError(
                    f"{where}: labels span {split.y.min()}..{split.y.max()}, "
                    f"expected 0..{self.num_classes - 1} for {self.num_classes} classes"
                )

    def summary(self) -> dict[str, int]:
        """Examples per split, in train/val/test order."""
        return {name: len(self.splits[name]) for name in SPLIT_NAMES if name in self.splits}

    def describe(self) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in self.summary().items())
        return f"{self.name}: input {self.input_shape}, {self.num_classes} classes; {counts}"


@dataclass
class DataShape:
    """A dataset described without loading it (`Loader.peek`): the input_shape and class_names that
    `Loader.load` would give, from the catalog or from the files' headers.

    `where` is where the files are ("built in" for bundled and generated data), or None when they are not
    on this machine and the shape is the catalog's; `downloads` is true when `train` would fetch them.
    """

    name: str
    input_shape: Shape
    class_names: list[str]
    where: str | None
    downloads: bool = False

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(d) for d in self.input_shape)
        self.class_names = [str(name) for name in self.class_names]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def data_rng(seed: int, stream: int) -> np.random.Generator:
    """The generator for one data stream (GENERATE, SPLIT, SUBSAMPLE_TRAIN, SUBSAMPLE_TEST) of a run seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"the seed must be an integer >= 0, got {seed!r}")
    return np.random.default_rng([int(seed), DATA_STREAM, stream])


def split_count(size: int | float, n: int, what: str) -> int:
    """Examples held out for `size` (a fraction of n, rounded half up, or a count) out of n examples."""
    if isinstance(size, float):
        if not 0 <= size < 1:
            raise ConfigError(f"{what}: a fraction must be in [0, 1), got {size}", where="data")
        return math.floor(size * n + 0.5)
    if size < 0:
        raise ConfigError(f"{what}: a count of examples must be >= 0, got {size}", where="data")
    return int(size)


def stratified_split(y: np.ndarray, counts: dict[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Partition range(len(y)) into the named held-out splits of the given sizes plus "train" (the rest).

    Each class is split in proportion to its size, to within two examples per split: examples are
    shuffled, grouped by class (classes in random order), and the held-out splits take evenly spaced
    positions along that order. Returned indices are in random order.
    """
    n = len(y)
    held_out = sum(counts.values())
    if held_out >= n:
        sizes = ", ".join(f"{name} {c}" for name, c in counts.items())
        raise ConfigError(
            f"the held-out splits ({sizes}) leave no training examples out of {n}",
            where="data",
            hint="make val and test smaller",
        )
    order = rng.permutation(n)
    class_rank = rng.permutation(int(y.max()) + 1 if n else 0)
    order = order[np.argsort(class_rank[y[order]], kind="stable")]

    result: dict[str, np.ndarray] = {}
    remaining = order
    for name, count in counts.items():
        taken = evenly_spaced(len(remaining), count)
        result[name] = remaining[taken]
        remaining = remaining[~taken]
    result["train"] = remaining
    # Undo the grouping by class so that an unshuffled pass over a split does not see one class at a time.
    return {name: rng.permutation(idx) for name, idx in result.items()}


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """Boolean mask of length n with exactly k True entries spread evenly (Bresenham-style)."""
    i = np.arange(n)
    return (i + 1) * k // n > i * k // n if n else np.zeros(0, dtype=bool)


def batches(
    split: Split,
    batch_size: int,
    dtype: Any,
    rng: np.random.Generator | None = None,
    *,
    augment: Augment | None = None,
    augment_rng: np.random.Generator | None = None,
    start: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Minibatches (xb, yb) covering the split once; xb: (B, *input_shape) in `dtype`, yb: (B,) int64.

    xb = (x * scale - mean) / std (see Split), then `augment(xb, augment_rng)` when augment is given
    (training batches only: the caller passes dataset.augment and its own generator).
    With rng, the order is one permutation drawn from rng when `batches` is called (one per epoch);
    without, examples come in stored order. The last batch is smaller when batch_size does not divide N.
    `start` skips that many batches, drawing nothing for them: a run paused mid-epoch continues its epoch
    by drawing the same permutation again and starting where it stopped.
    Each batch is a fresh array that the caller may keep or modify: reused buffers (np.take(..., out=))
    were measured no faster (figures in benchmarks/README.md).
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"batches are floating point, got dtype {dtype}")
    if augment is not None and augment_rng is None:
        raise ValueError("augment needs augment_rng, the generator its random crops and flips are drawn from")
    order = rng.permutation(len(split)) if rng is not None else None
    return _iterate(split, batch_size, dtype, order, augment, augment_rng, start * batch_size)


def _iterate(
    split: Split,
    batch_size: int,
    dtype: np.dtype,
    order: np.ndarray | None,
    augment: Augment | None,
    augment_rng: np.random.Generator | None,
    first: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    x, y = split.x, split.y
    # (x * scale - mean) / std == x * (scale / std) - mean / std: one multiply and one subtract a batch
    if split.mean is None:
        factor, shift = dtype.type(split.scale), None
    else:
        factor = (split.scale / split.std).astype(dtype)
        shift = (split.mean / split.std).astype(dtype)
    plain = shift is None and factor == 1
    for start in range(first, len(y), batch_size):
        if order is None:
            xs, yb = x[start : start + batch_size], y[start : start + batch_size].copy()
        else:
            idx = order[start : start + batch_size]
            xs, yb = np.take(x, idx, axis=0), np.take(y, idx)
        xb = xs.astype(dtype) if plain else np.multiply(xs, factor, dtype=dtype)
        if shift is not None:
            xb -= shift
        if augment is not None:
            xb = augment(xb, augment_rng)
        yield xb, yb


def num_batches(split: Split, batch_size: int) -> int:
    """Batches per epoch of `batches(split, batch_size, ...)`."""
    return -(-len(split) // batch_size)
