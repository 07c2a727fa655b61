"""Small MNIST-style IDX files written by the tests, and the check that a loader read them back."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

from nnrun.data import idx

CODES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D, "float64": 0x0E}
STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_bytes(array: np.ndarray, *, code: int | None = None, magic: bytes = b"\x00\x00", dims=None) -> bytes:
    """A tiny IDX writer: header (magic, type code, ndim, big-endian dims) + big-endian values."""
    array = np.asarray(array)
    code = CODES[array.dtype.name] if code is None else code
    dims = array.shape if dims is None else dims
    header = magic + bytes([code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def make_dataset(folder: Path, *, gz: bool = True, n_train: int = 12, n_test: int = 5, seed: int = 0) -> dict:
    """The four MNIST-named files in folder; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    for stem, array in arrays.items():
        write(folder / (stem + ".gz" if gz else stem), idx_bytes(array), gz)
    return arrays


def published_for(folder: Path) -> dict[str, idx.Published]:
    """Published entries matching the .gz files in folder, to stand in for the official checksums."""
    result = {}
    for stem in STEMS:
        data = (folder / f"{stem}.gz").read_bytes()
        result[stem] = idx.Published(
            len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()
        )
    return result


def check_loaded(dataset, arrays, name="mnist"):
    """The dataset holds what make_dataset wrote (its default sizes: 12 train, 5 test)."""
    assert dataset.name == name
    assert dataset.input_shape == (1, 28, 28) and dataset.num_classes == 10
    train, test = dataset.splits["train"], dataset.splits["test"]
    assert set(dataset.splits) == {"train", "test"}
    assert train.x.dtype == np.uint8 and train.x.shape == (12, 1, 28, 28)
    assert test.x.shape == (5, 1, 28, 28)
    assert train.y.dtype == np.int64
    np.testing.assert_array_equal(train.x[:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(train.y, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(test.x[:, 0], arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(test.y, arrays["t10k-labels-idx1-ubyte"])
