"""`peek_dataset`: a dataset's input shape and classes without loading it, as `load_dataset` gives them.

Each kind is peeked and loaded on small generated files, with the data keys that change the shape or the
classes (flatten, classes, positive, mode, test_path); the errors the headers show are the loader's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrun.data import DataNotFound, images, load_dataset, peek_dataset
from nnrun.errors import ConfigError, DataError
from tests.helpers.csv_cases import CSV_LAYOUT_ERRORS

PIL = pytest.importorskip("PIL.Image")


def save_image(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.fromarray(pixels).save(path)


def csv_file(tmp_path: Path) -> str:
    """The issue's table: 30 features and a `diagnosis` column of names, 40 rows."""
    rng = np.random.default_rng(0)
    names = [f"f{k}" for k in range(30)]
    rows = [",".join([*(f"{v:.3f}" for v in rng.normal(size=30)), ("benign", "malignant")[k % 2]]) for k in range(40)]
    path = tmp_path / "cancer.csv"
    path.write_text(",".join([*names, "diagnosis"]) + "\n" + "\n".join(rows) + "\n")
    return str(path)


def npz_images(tmp_path: Path) -> str:
    x = np.random.default_rng(1).integers(0, 256, (30, 6, 5, 3), dtype=np.uint8)  # channels last
    y = np.arange(30) % 4
    np.savez_compressed(tmp_path / "d.npz", x_train=x[:24], y_train=y[:24], x_test=x[24:], y_test=y[24:, None])
    return str(tmp_path / "d.npz")


def npz_features(tmp_path: Path) -> str:
    x = np.arange(40 * 7).reshape(40, 7)  # integer features become float64
    y = np.array(["pear", "apple", "fig", "plum"])[np.arange(40) % 4]
    np.savez(tmp_path / "f.npz", x_train=x, y_train=y)
    return str(tmp_path / "f.npz")


def image_folder(tmp_path: Path) -> str:
    rng = np.random.default_rng(2)
    for split, n in (("train", 6), ("test", 2)):
        for label in ("cat", "dog", "eel"):
            for i in range(n):
                save_image(tmp_path / "pics" / split / label / f"{i}.png", rng.integers(0, 256, (4, 7), np.uint8))
    return str(tmp_path / "pics")


CASES = [
    ("csv", csv_file, {"label": "diagnosis"}),
    ("csv", csv_file, {"label": -1, "normalize": "standardize", "classes": [1]}),
    ("npz", npz_images, {}),
    ("npz", npz_images, {"flatten": True, "classes": [3, 1], "augment": True}),
    ("npz", npz_images, {"positive": [2]}),
    ("npz", npz_features, {"classes": [0, 2, 3], "positive": [3]}),
    ("image_folder", image_folder, {}),
    ("image_folder", image_folder, {"mode": "rgb", "flatten": True}),
    ("digits", None, {"flatten": True}),
    ("moons", None, {}),
    ("spirals", None, {"arms": 5, "classes": [4, 0]}),
]


@pytest.mark.parametrize(("name", "files", "keys"), CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_peek_agrees_with_the_loader(tmp_path, name, files, keys):
    section = {"dataset": name, **({"path": files(tmp_path)} if files else {}), **keys}
    peeked = peek_dataset(section)
    loaded = load_dataset(section, seed=0)
    assert (peeked.input_shape, peeked.class_names) == (loaded.input_shape, loaded.class_names)
    assert peeked.num_classes == loaded.num_classes and peeked.where is not None


def test_a_csv_with_a_second_file_for_the_test_split(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("x;y;kind\n1;2;b\n3;4;a\n1;2;b\n3;4;a\n1;2;b\n3;4;a\n")
    test.write_text("x;y;kind\n5;6;0\n")
    section = {"dataset": "csv", "path": str(train), "test_path": str(test), "label": "kind", "delimiter": ";"}
    assert peek_dataset(section).class_names == load_dataset({**section, "val": 0}, 0).class_names == ["0", "a", "b"]


@pytest.mark.parametrize("text, options, message", CSV_LAYOUT_ERRORS)
def test_csv_errors_are_the_loaders(tmp_path, text, options, message):
    (tmp_path / "d.csv").write_text(text)
    section = {"dataset": "csv", "path": str(tmp_path / "d.csv"), **options}
    for look in (peek_dataset, lambda s: load_dataset(s, 0)):
        with pytest.raises(DataError, match=message):
            look(section)


def test_csv_peek_reads_the_label_column_only(tmp_path):
    """A feature that is not a number is the loader's to find: the peek parses no feature."""
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n1,x,1\n")
    assert peek_dataset({"dataset": "csv", "path": str(tmp_path / "d.csv")}).input_shape == (2,)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((2, 3)), "y": [0, 1]}, "has no x_train and y_train arrays .found: x, y."),
        ({"x_train": np.zeros((2, 3)), "y_train": [0, 1], "x_test": np.zeros((1, 3))}, "has x_test but no y_test"),
        ({"x_train": np.zeros((2, 3)), "y_train": [0, 1, 1]}, r"y_train has shape \(3,\), expected \(2,\)"),
        ({"x_train": np.zeros((2, 3)), "y_train": [0, -1]}, "train labels include -1"),
        ({"x_train": np.zeros((2, 3)), "y_train": [0, 2], "class_names": np.array(["a", "b"])}, "label 2 but only 2 class_names"),
        ({"x_train": np.zeros((2, 3)), "y_train": [0, 1], "x_test": np.zeros((1, 4)), "y_test": [0]}, "the splits' examples differ"),
        ({"x_train": np.zeros(2), "y_train": [0, 1]}, r"x_train: shape \(2,\); expected"),
        ({"x_train": np.zeros((2, 3), dtype=bool), "y_train": [0, 1]}, "x_train: dtype bool"),
        ({"x_train": np.array([{"a": 1}, None], dtype=object), "y_train": [0, 1]}, "x_train is an array of Python objects"),
    ],
)  # fmt: skip
def test_npz_errors_are_the_loaders(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    section = {"dataset": "npz", "path": str(tmp_path / "bad.npz")}
    for look in (peek_dataset, lambda s: load_dataset(s, 0)):
        with pytest.raises(DataError, match=message):
            look(section)


def test_npz_peek_reads_the_labels_and_only_the_headers_of_x(tmp_path, monkeypatch):
    path = npz_images(tmp_path)
    real, read = np.lib.format.read_array, []
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: read.append(real(*a, **k)) or read[-1])
    assert peek_dataset({"dataset": "npz", "path": path}).input_shape == (3, 6, 5)
    assert sorted(array.shape for array in read) == [(6, 1), (24,)]


def test_image_folder_peek_opens_one_image(tmp_path, monkeypatch):
    path = image_folder(tmp_path)
    opened = []
    real = images.open_image
    monkeypatch.setattr(images, "open_image", lambda p: opened.append(p) or real(p))
    assert peek_dataset({"dataset": "image_folder", "path": path}).input_shape == (1, 4, 7)
    assert len(opened) == 1


def test_image_folder_errors_are_the_loaders(tmp_path):
    save_image(tmp_path / "a" / "1.png", np.zeros((3, 3), np.uint16))
    for look in (peek_dataset, lambda s: load_dataset(s, 0)):
        with pytest.raises(DataError, match=r"a/1.png: image mode 'I.*16-bit"):
            look({"dataset": "image_folder", "path": str(tmp_path)})
        with pytest.raises(DataError, match="has no class folders"):
            look({"dataset": "image_folder", "path": str(tmp_path / "a")})


def test_the_common_keys_are_checked_as_the_loader_checks_them():
    with pytest.raises(ConfigError, match="class 10 does not exist"):
        peek_dataset({"dataset": "digits", "classes": [10]})
    with pytest.raises(ConfigError, match="every class is positive"):
        peek_dataset({"dataset": "moons", "positive": [0, 1]})
    with pytest.raises(ConfigError, match="augmentation needs images"):
        peek_dataset({"dataset": "moons", "augment": True})


@pytest.mark.parametrize("name", ["csv", "npz", "image_folder"])
def test_a_users_file_that_is_not_there_is_not_found(tmp_path, name):
    with pytest.raises(DataNotFound, match=f"(?s)not found.*data.path: {tmp_path / 'none'}"):
        peek_dataset({"dataset": name, "path": str(tmp_path / "none")})


def test_a_missing_test_file_is_not_found(tmp_path):
    (tmp_path / "d.csv").write_text("a,label\n1,0\n")
    with pytest.raises(DataNotFound, match="data.test_path: no such file"):
        peek_dataset({"dataset": "csv", "path": str(tmp_path / "d.csv"), "test_path": str(tmp_path / "t.csv")})


def test_a_catalog_dataset_answers_without_its_files_and_never_downloads(isolated, monkeypatch):
    from nnrun.data import download

    monkeypatch.setattr(download, "download", lambda *a, **k: pytest.fail("downloaded"))
    mnist = peek_dataset({"dataset": "fashion_mnist", "classes": [0, 9]})
    assert mnist.input_shape == (1, 28, 28) and mnist.class_names == ["T-shirt/top", "Ankle boot"]
    assert mnist.where is None and not mnist.downloads  # `isolated` is offline
    monkeypatch.setenv("NNRUN_OFFLINE", "0")
    assert peek_dataset({"dataset": "cifar10", "flatten": True}).downloads
    assert peek_dataset({"dataset": "cifar10", "flatten": True}).input_shape == (3072,)
    notmnist = peek_dataset({"dataset": "notmnist"})
    assert notmnist.class_names == list("ABCDEFGHIJ") and not notmnist.downloads
    assert not peek_dataset({"dataset": "mnist", "path": "/nowhere"}).downloads  # a given path is not downloaded to


def test_a_catalog_dataset_on_this_machine_says_where(isolated, tmp_path):
    from tests.helpers.idx_files import make_dataset

    folder = tmp_path / "system" / "mnist"
    make_dataset(folder)
    assert peek_dataset({"dataset": "mnist"}).where == str(folder)
