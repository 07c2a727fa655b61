"""The real Fashion-MNIST files from Debian's dataset-fashion-mnist (skipped where they are not installed)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import nnrun
from nnrun.data import idx, load_dataset, locate
from tests.helpers import ROOT

SYSTEM = Path("/usr/share/datasets/fashion-mnist")
# CI installs the package and sets NNRUN_REQUIRE_REAL_DATA=1, so there a missing folder fails instead of skipping.
pytestmark = pytest.mark.skipif(
    not SYSTEM.is_dir() and not os.environ.get("NNRUN_REQUIRE_REAL_DATA"),
    reason=f"{SYSTEM} is absent (apt-get install dataset-fashion-mnist)",
)

# md5 of the uncompressed IDX files as published: Debian recompressed the .gz files, so their own md5s
# differ from the official archive md5s, but what they hold must not.
RAW_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}


def isolate(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    """Nothing in $NNRUN_DATA or the cache, downloads off: the files can only come from the system folder."""
    monkeypatch.setenv("NNRUN_DATA", str(tmp / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp / "cache"))
    monkeypatch.setenv("NNRUN_OFFLINE", "1")


@pytest.fixture(autouse=True)
def system_only(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    # module scope is set up before the autouse function fixture, so it isolates itself
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, tmp_path_factory.mktemp("isolated"))
        assert idx.FashionMnist().locate() == SYSTEM
        return idx.FashionMnist().load_raw(0)


def test_found_in_the_system_folder():
    assert idx.FashionMnist().locate() == SYSTEM
    assert locate.offline()


def test_official_splits(dataset):
    assert dataset.name == "fashion_mnist" and dataset.input_shape == (1, 28, 28) and dataset.num_classes == 10
    assert dataset.class_names == [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
    assert set(dataset.splits) == {"train", "test"}
    for name, n in [("train", 60_000), ("test", 10_000)]:
        split = dataset.splits[name]
        assert split.x.shape == (n, 1, 28, 28) and split.x.dtype == np.uint8
        assert split.y.shape == (n,) and split.y.dtype == np.int64
        np.testing.assert_array_equal(split.class_counts(10), [n // 10] * 10)
        assert split.x.min() == 0 and split.x.max() == 255
        # the published mean pixel is 0.286 of full scale (72.9 / 255) for train and test alike
        assert 70 < split.x.mean() < 76


def test_labels_agree_with_the_pictures(dataset):
    """A cheap semantic check: trousers are narrow, pullovers and bags wide (columns with ink on average)."""
    x, y = dataset.splits["train"].x[:6000, 0], dataset.splits["train"].y[:6000]
    ink_width = {k: int((x[y == k].mean(axis=(0, 1)) > 40).sum()) for k in (1, 2, 8)}
    assert ink_width[1] + 6 < ink_width[2] and ink_width[1] + 6 < ink_width[8], ink_width


def test_contents_match_the_published_files():
    for stem, md5 in RAW_MD5.items():
        array = idx.read_idx(SYSTEM / f"{stem}.gz")
        ndim = array.ndim
        header = bytes([0, 0, 0x08, ndim]) + np.array(array.shape, ">u4").tobytes()
        digest = hashlib.md5(header, usedforsecurity=False)
        digest.update(array.tobytes())
        assert digest.hexdigest() == md5, stem


def test_train_images_read_in_at_most_twice_their_size():
    tracemalloc.start()
    try:
        images = idx.read_idx(SYSTEM / "train-images-idx3-ubyte.gz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert images.nbytes == 47_040_000
    assert peak <= 2 * images.nbytes, f"peak {peak:,} bytes"


def test_through_load_dataset():
    data = load_dataset({"dataset": "fashion_mnist", "val": 5000}, seed=0)
    assert data.summary() == {"train": 55_000, "val": 5_000, "test": 10_000}
    assert data.class_names[0] == "T-shirt/top"


def test_fashion_mlp_config_learns_on_a_subsample(tmp_path):
    run = nnrun.train(
        ROOT / "configs" / "fashion_mlp.yaml",
        ["data.n_train=6000", "data.n_test=2000", "model.hidden.units=[256]", "train.epochs=2"],
        out=tmp_path / "run",
    )
    assert run.summary["last"]["test_acc"] >= 0.8


@pytest.mark.slow
def test_fashion_cnn_reaches_90_percent_in_3_epochs(tmp_path):
    """The issue's acceptance run: `nnrun train configs/fashion_cnn.yaml --set train.epochs=3`."""
    run = nnrun.train(ROOT / "configs" / "fashion_cnn.yaml", ["train.epochs=3"], out=tmp_path / "run")
    assert run.summary["last"]["test_acc"] >= 0.9
