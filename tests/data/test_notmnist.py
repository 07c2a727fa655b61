"""Tests for the notMNIST loader: the npz layouts courses hand out (float and uint8 pixels, letter or
number labels, with or without official splits) and the notMNIST_small folders of PNGs, corrupt files included."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from nnrun.data import get_loader
from nnrun.data.notmnist import LETTERS, NotMnist
from nnrun.errors import DataError
from nnrun.registry import DATASETS

PIL = pytest.importorskip("PIL.Image")


pytestmark = pytest.mark.usefixtures("isolated")  # tests/data/conftest.py


def letters(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random 28x28 uint8 letter images and labels 0..9 (every class present when n >= 10)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def load(path) -> object:
    return NotMnist(path=str(path)).load_raw(0)


# --- npz ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda x: x, id="uint8"),
        pytest.param(lambda x: (x / 255).astype(np.float32), id="float32 in [0, 1]"),
        pytest.param(lambda x: x / 255, id="float64 in [0, 1]"),
        pytest.param(lambda x: x.astype(np.float32), id="float in [0, 255]"),
        pytest.param(lambda x: ((x - 127.5) / 255).astype(np.float32), id="udacity [-0.5, 0.5]"),
        pytest.param(lambda x: x.reshape(len(x), 784).astype(np.int64), id="int64 flat"),
        pytest.param(lambda x: x[:, None] / 255, id="(N, 1, 28, 28)"),
    ],
)
def test_npz_images_and_labels_becomes_the_train_split(tmp_path, encode):
    x, y = letters(30)
    np.savez(tmp_path / "notMNIST.npz", images=encode(x), labels=y)
    ds = load(tmp_path / "notMNIST.npz")
    assert ds.summary() == {"train": 30}
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10 and ds.class_names == list("ABCDEFGHIJ")
    train = ds.splits["train"]
    assert train.x.dtype == np.uint8 and train.x.shape == (30, 1, 28, 28)
    assert np.array_equal(train.x[:, 0], x)  # round(x * 255) recovers every pixel exactly
    assert np.array_equal(train.y, y)


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda y: np.array(list(LETTERS))[y], id="letters"),
        pytest.param(lambda y: np.array([c.lower().encode() for c in LETTERS])[y], id="lowercase bytes"),
        pytest.param(lambda y: np.eye(10, dtype=np.float32)[y], id="one-hot"),
        pytest.param(lambda y: y.astype(np.float64)[:, None], id="float (N, 1)"),
    ],
)
def test_npz_label_encodings(tmp_path, encode):
    x, y = letters(20)
    np.savez(tmp_path / "n.npz", x=x, y=encode(y))
    assert np.array_equal(load(tmp_path / "n.npz").splits["train"].y, y)


def test_npz_with_official_splits(tmp_path):
    x, y = letters(40)
    np.savez(tmp_path / "notMNIST.npz", x_train=x[:30], y_train=y[:30], x_test=x[30:] / 255.0, y_test=y[30:])
    ds = load(tmp_path)  # a folder holding notMNIST.npz
    assert ds.summary() == {"train": 30, "test": 10}
    assert np.array_equal(ds.splits["test"].x[:, 0], x[30:])


def test_load_makes_the_usual_split_when_the_file_has_none(tmp_path):
    x, y = letters(200)
    np.savez(tmp_path / "notMNIST.npz", images=x, labels=y)
    loader = get_loader({"dataset": "notmnist", "path": str(tmp_path), "val": 20, "test": 30})
    ds = loader.load(0)
    assert ds.summary() == {"train": 150, "val": 20, "test": 30}
    for split in ds.splits.values():  # stratified: 10 classes of 20
        assert (split.class_counts(10) == len(split) // 10).all()
    defaults = get_loader({"dataset": "notmnist"})
    assert (defaults.val, defaults.test) == (1000, 2724)


def test_load_keeps_an_official_test_split(tmp_path):
    x, y = letters(60)
    np.savez(tmp_path / "notMNIST.npz", x_train=x[:50], y_train=y[:50], x_test=x[50:], y_test=y[50:])
    ds = get_loader({"dataset": "notmnist", "path": str(tmp_path), "val": 10}).load(0)
    assert ds.summary() == {"train": 40, "val": 10, "test": 10}


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"pixels": np.zeros((2, 28, 28)), "targets": [0, 1]}, "has neither images and labels nor x_train.*found: pixels, targets"),
        ({"images": np.zeros((2, 32, 32)), "labels": [0, 1]}, r"images: shape \(2, 32, 32\), expected \(N, 28, 28\)"),
        ({"images": np.full((2, 28, 28), 300.0), "labels": [0, 1]}, r"images: pixels span 300..300"),
        ({"images": np.full((2, 28, 28), np.nan), "labels": [0, 1]}, "images: pixels include NaN"),
        ({"images": np.zeros((2, 28, 28)), "labels": [0, 10]}, r"labels: labels span 0..10, expected 0..9"),
        ({"images": np.zeros((2, 28, 28)), "labels": ["A", "K"]}, "labels: label 'K' is not one of the letters"),
        ({"images": np.zeros((2, 28, 28)), "labels": [0, 1, 2]}, r"labels: shape \(3,\), expected \(2,\)"),
        ({"x_train": np.zeros((2, 28, 28)), "y_train": [0, 1], "x_test": np.zeros((1, 28, 28))}, "has x_test but no y_test"),
    ],
)  # fmt: skip
def test_npz_errors_name_the_file(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as info:
        load(tmp_path / "bad.npz")
    assert str(tmp_path / "bad.npz") in info.value.what


def test_npz_object_array_is_refused(tmp_path):
    np.savez(tmp_path / "n.npz", images=np.zeros((2, 28, 28)), labels=np.array([0, "A"], dtype=object))
    with pytest.raises(DataError, match="labels is an array of Python objects"):
        load(tmp_path / "n.npz")


def test_not_an_npz(tmp_path):
    (tmp_path / "notMNIST.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="cannot read .*notMNIST.npz as an .npz file"):
        load(tmp_path)
    (tmp_path / "notMNIST_small.tar.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(DataError, match="notMNIST_small.tar.gz is a tar archive") as info:
        load(tmp_path / "notMNIST_small.tar.gz")
    assert "extract it" in info.value.hint


# --- the notMNIST_small folders -----------------------------------------------------------------------


def write_folders(root: Path, per_letter: int = 3, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """notMNIST_small-style folders A..J of 28x28 grey PNGs; returns the pixels by letter in file-name order."""
    rng = np.random.default_rng(seed)
    written = {}
    for letter in LETTERS:
        (root / letter).mkdir(parents=True)
        written[letter] = []
        for i in range(per_letter):
            pixels = rng.integers(0, 256, (28, 28), dtype=np.uint8)
            PIL.fromarray(pixels, mode="L").save(root / letter / f"font{i}.png")
            written[letter].append(pixels)
    return written


def test_folders_load_in_letter_and_name_order(tmp_path):
    written = write_folders(tmp_path / "notMNIST_small")
    (tmp_path / "notMNIST_small" / "A" / "notes.txt").write_text("not an image")  # ignored
    for path in (tmp_path / "notMNIST_small", tmp_path):  # the folder, or a folder holding it
        ds = load(path)
        train = ds.splits["train"]
        assert ds.summary() == {"train": 30} and train.x.shape == (30, 1, 28, 28) and train.x.dtype == np.uint8
        assert np.array_equal(train.y, np.repeat(np.arange(10), 3))
        assert np.array_equal(train.x[:, 0], np.stack([p for letter in LETTERS for p in written[letter]]))


def test_corrupt_pngs_are_skipped_with_a_warning(tmp_path):
    root = tmp_path / "notMNIST_small"
    write_folders(root)
    (root / "A" / "empty.png").write_bytes(b"")  # notMNIST_small has such files
    good = (root / "F" / "font0.png").read_bytes()
    (root / "F" / "truncated.png").write_bytes(good[: len(good) // 2])
    loader = NotMnist(path=str(root))
    with pytest.warns(UserWarning, match="skipped 2 unreadable image"):
        ds = loader.load_raw(0)
    assert ds.summary() == {"train": 30}
    assert sorted(Path(p).name for p in loader.skipped) == ["empty.png", "truncated.png"]
    assert ds.notes == [f"skipped 2 unreadable image(s) in {root}: A/empty.png, F/truncated.png"]


def test_a_letter_without_readable_images_is_an_error(tmp_path):
    root = tmp_path / "notMNIST_small"
    write_folders(root)
    for path in (root / "C").iterdir():
        path.write_bytes(b"\x89PNG broken")
    with warnings.catch_warnings(), pytest.raises(DataError, match=r"none of the images in .*notMNIST_small/C"):
        warnings.simplefilter("ignore")
        load(root)
    for path in (root / "C").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"notMNIST_small/C holds no PNG images"):
        load(root)
    (root / "C").rmdir()
    with pytest.raises(DataError, match="notMNIST_small has no folder C"):
        load(root)


def test_wrong_image_size_is_an_error(tmp_path):
    root = tmp_path / "notMNIST_small"
    write_folders(root)
    PIL.fromarray(np.zeros((32, 28), np.uint8), mode="L").save(root / "D" / "font1.png")
    with pytest.raises(DataError, match=r"D/font1.png is 28x32 pixels, expected 28x28"):
        load(root)


def test_colour_pngs_are_converted_to_grey(tmp_path):
    root = tmp_path / "notMNIST_small"
    write_folders(root, per_letter=1)
    PIL.fromarray(np.full((28, 28, 3), 200, np.uint8), mode="RGB").save(root / "B" / "font0.png")
    assert (load(root).splits["train"].x[1] == 200).all()


def test_not_found_says_where_to_put_the_files(tmp_path):
    with pytest.raises(DataError, match="dataset 'notmnist' not found") as info:
        NotMnist().load_raw(0)
    assert "no official download" in info.value.hint and "notMNIST_small" in info.value.hint
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not found"):
        load(tmp_path / "empty")


def test_config_round_trip_and_list_attributes():
    loader = DATASETS.build({"type": "notmnist", "path": "/x", "val": 0.1})
    assert DATASETS.build(loader.get_config()).get_config() == loader.get_config()
    assert NotMnist.shape == (1, 28, 28) and NotMnist.classes == 10
