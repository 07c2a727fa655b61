"""Tests for a user's own data: the npz, csv and image_folder datasets, happy paths and every error
path (each names the file, and for CSV the line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnrun.data import get_loader
from nnrun.data.files import Csv, ImageFolder, Npz
from nnrun.errors import DataError
from nnrun.registry import DATASETS
from tests.helpers.csv_cases import CSV_LAYOUT_ERRORS

PIL = pytest.importorskip("PIL.Image")


# --- npz ----------------------------------------------------------------------------------------------


def test_npz_uint8_images_get_a_channel_axis(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (12, 5, 6), dtype=np.uint8)
    y = np.arange(12) % 3
    np.savez(tmp_path / "d.npz", x_train=x[:8], y_train=y[:8], x_test=x[8:], y_test=y[8:])
    ds = Npz(path=str(tmp_path / "d.npz")).load_raw(0)
    assert ds.summary() == {"train": 8, "test": 4}
    assert ds.input_shape == (1, 5, 6) and ds.num_classes == 3 and ds.class_names == ["0", "1", "2"]
    assert ds.splits["train"].x.dtype == np.uint8
    assert np.array_equal(ds.splits["test"].x[:, 0], x[8:]) and np.array_equal(ds.splits["test"].y, y[8:])


def test_npz_float_features_val_split_and_class_names(tmp_path):
    x = np.random.default_rng(1).normal(size=(10, 4))
    np.savez(
        tmp_path / "d.npz",
        x_train=x[:6], y_train=[0, 1, 2, 0, 1, 2], x_val=x[6:], y_val=[[2], [1], [0], [0]],  # (N, 1) labels
        class_names=np.array(["cat", "dog", "eel"]),
    )  # fmt: skip
    ds = Npz(path=str(tmp_path / "d.npz")).load_raw(0)
    assert ds.summary() == {"train": 6, "val": 4} and ds.input_shape == (4,)
    assert ds.class_names == ["cat", "dog", "eel"] and ds.splits["train"].x.dtype == np.float64
    assert np.array_equal(ds.splits["val"].y, [2, 1, 0, 0])
    assert np.array_equal(ds.splits["val"].x, x[6:])


def test_npz_channels_last_images_are_transposed(tmp_path):
    x = np.random.default_rng(2).integers(0, 256, (4, 8, 7, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=[0, 1, 0, 1])
    train = Npz(path=str(tmp_path / "d.npz")).load_raw(0).splits["train"]
    assert train.x.shape == (4, 3, 8, 7)
    assert train.x[2, 1, 5, 6] == x[2, 5, 6, 1]


def test_npz_integer_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.array([[1000, 2], [3, 4]]), y_train=[0, 1], x_test=np.array([[5, 6]]), y_test=[1])  # fmt: skip
    ds = Npz(path=str(tmp_path / "d.npz")).load_raw(0)
    assert ds.splits["train"].x.dtype == np.float64 and ds.splits["train"].x[0, 0] == 1000
    np.savez(tmp_path / "i.npz", x_train=np.full((2, 3, 3), 255, dtype=np.int64), y_train=[0, 1])
    x = Npz(path=str(tmp_path / "i.npz")).load_raw(0).splits["train"].x
    assert x.dtype == np.uint8 and x.shape == (2, 1, 3, 3) and (x == 255).all()


def test_npz_string_labels_are_numbered_in_sorted_order(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((3, 2)), y_train=["pear", "apple", "fig"], x_test=np.zeros((1, 2)), y_test=["apple"])  # fmt: skip
    ds = Npz(path=str(tmp_path / "d.npz")).load_raw(0)
    assert ds.class_names == ["apple", "fig", "pear"]
    assert np.array_equal(ds.splits["train"].y, [2, 0, 1]) and np.array_equal(ds.splits["test"].y, [0])


def test_npz_test_fraction_applies_only_without_a_test_split(tmp_path):
    np.savez(tmp_path / "a.npz", x_train=np.zeros((40, 3)), y_train=np.arange(40) % 2)
    ds = get_loader({"dataset": "npz", "path": str(tmp_path / "a.npz"), "test": 0.25, "val": 0}).load(0)
    assert ds.summary() == {"train": 30, "test": 10}
    assert get_loader({"dataset": "npz", "path": str(tmp_path / "a.npz"), "val": 0}).load(0).summary() == {"train": 40}
    np.savez(tmp_path / "b.npz", x_train=np.zeros((40, 3)), y_train=np.arange(40) % 2, x_test=np.zeros((5, 3)), y_test=[0] * 5)  # fmt: skip
    ds = get_loader({"dataset": "npz", "path": str(tmp_path / "b.npz"), "test": 0.25, "val": 0}).load(0)
    assert ds.summary() == {"train": 40, "test": 5}


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((2, 3)), "y": [0, 1]}, "has no x_train and y_train arrays .found: x, y."),
        ({"x_train": np.zeros((2, 3)), "y_train": [0, 1], "x_test": np.zeros((1, 3))}, "has x_test but no y_test"),
        ({"x_train": np.zeros((2, 3)), "y_train": [0, 1, 1]}, r"y_train has shape \(3,\), expected \(2,\)"),
        ({"x_train": np.zeros((2, 3)), "y_train": [0, -1]}, "train labels include -1"),
        ({"x_train": np.zeros((2, 3)), "y_train": [0.5, 1]}, "train labels are not whole numbers"),
        ({"x_train": np.zeros((2, 3)), "y_train": [0, 2], "class_names": np.array(["a", "b"])}, "label 2 but only 2 class_names"),
        ({"x_train": np.zeros((2, 3)), "y_train": [0, 1], "x_test": np.zeros((1, 4)), "y_test": [0]}, "the splits' examples differ"),
        ({"x_train": np.full((2, 3), np.inf), "y_train": [0, 1]}, "x_train: contains NaN or infinite values"),
        ({"x_train": np.full((2, 3, 3), 256), "y_train": [0, 1]}, "x_train: integer pixels span 256..256"),
        ({"x_train": np.zeros(2), "y_train": [0, 1]}, r"x_train: shape \(2,\); expected"),
        ({"x_train": np.zeros((2, 3), dtype=bool), "y_train": [0, 1]}, "x_train: dtype bool"),
    ],
)  # fmt: skip
def test_npz_errors_name_the_file(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as info:
        Npz(path=str(tmp_path / "bad.npz")).load_raw(0)
    assert str(tmp_path / "bad.npz") in info.value.what


def test_npz_pickled_object_array_is_refused(tmp_path):
    proof = tmp_path / "ran"
    np.savez(tmp_path / "bad.npz", x_train=np.array([{"a": 1}, None], dtype=object), y_train=[0, 1])
    with pytest.raises(DataError, match=r"bad.npz: x_train is an array of Python objects"):
        Npz(path=str(tmp_path / "bad.npz")).load_raw(0)
    assert not proof.exists()


def test_npz_not_a_zip_and_missing(tmp_path):
    (tmp_path / "bad.npz").write_text("hello")
    with pytest.raises(DataError, match="cannot read .*bad.npz as an .npz file"):
        Npz(path=str(tmp_path / "bad.npz")).load_raw(0)
    with pytest.raises(DataError, match=f"(?s)not found.*data.path: {tmp_path / 'none.npz'}"):
        Npz(path=str(tmp_path / "none.npz")).load_raw(0)


# --- csv ----------------------------------------------------------------------------------------------


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_csv_header_with_a_label_column(tmp_path):
    path = write(tmp_path / "d.csv", "a,label,b\n1.5,1,2\n-3,0,4e2\n0,1, 7 \n")
    ds = Csv(path=path).load_raw(0)
    assert ds.summary() == {"train": 3} and ds.input_shape == (2,) and ds.class_names == ["0", "1"]
    train = ds.splits["train"]
    assert train.x.dtype == np.float64
    assert np.array_equal(train.x, [[1.5, 2], [-3, 400], [0, 7]]) and np.array_equal(train.y, [1, 0, 1])


def test_csv_without_header_takes_the_first_column_as_label(tmp_path):
    path = write(tmp_path / "d.csv", "2,0.5,1\n0,1.5,2\n")
    ds = Csv(path=path).load_raw(0)
    assert np.array_equal(ds.splits["train"].x, [[0.5, 1], [1.5, 2]]) and np.array_equal(ds.splits["train"].y, [2, 0])
    assert ds.num_classes == 3


def test_csv_string_labels_in_the_first_row_are_not_a_header(tmp_path):
    """Iris as published: no header, species names in the last column."""
    path = write(tmp_path / "iris.csv", "5.1,3.5,Iris-setosa\n7.0,3.2,Iris-versicolor\n6.3,3.3,Iris-virginica\n4.9,3.0,Iris-setosa\n")  # fmt: skip
    ds = Csv(path=path, label=-1).load_raw(0)
    assert ds.summary() == {"train": 4}
    assert ds.class_names == ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
    assert np.array_equal(ds.splits["train"].y, [0, 1, 2, 0])


def test_csv_label_by_name_delimiter_test_file_and_float_labels(tmp_path):
    train = write(tmp_path / "train.tsv", "x;y;kind\n1;2;b\n3;4;a\n")
    test = write(tmp_path / "test.tsv", "x;y;kind\n5;6;c\n")
    ds = Csv(path=train, test_path=test, label="kind", delimiter=";").load_raw(0)
    assert ds.summary() == {"train": 2, "test": 1} and ds.class_names == ["a", "b", "c"]
    assert np.array_equal(ds.splits["test"].x, [[5, 6]]) and np.array_equal(ds.splits["test"].y, [2])
    ds = Csv(
        path=train, test_path=write(tmp_path / "t.csv", "x;y;kind\n5;6;0\n"), label="kind", delimiter=";"
    ).load_raw(0)
    assert ds.class_names == ["0", "a", "b"]  # a number among names is a name too
    ds = Csv(path=write(tmp_path / "f.csv", "label,x\n1.0,3\n0.0,4\n")).load_raw(0)
    assert np.array_equal(ds.splits["train"].y, [1, 0]) and ds.class_names == ["0", "1"]


def test_csv_holds_out_a_test_split_by_default(tmp_path):
    rows = "".join(f"{k % 2},{k}\n" for k in range(50))
    ds = get_loader({"dataset": "csv", "path": write(tmp_path / "d.csv", "label,x\n" + rows), "val": 5}).load(0)
    assert ds.summary() == {"train": 35, "val": 5, "test": 10}


@pytest.mark.parametrize(
    "text, options, message",
    [
        ("a,label\n1,0\n2,1\n", {"header": False}, r"d.csv:1: column '1' holds 'label', expected a finite number"),
        ("a,b,label\n1,2,0\n1,x,1\n", {}, r"d.csv:3: column 'b' holds 'x', expected a finite number"),
        ("a,label\n1,0\nnan,1\n", {}, r"d.csv:3: column 'a' holds 'nan'"),
        ("a,label\n1,0\n,1\n", {}, r"d.csv:3: column 'a' holds ''"),
        *CSV_LAYOUT_ERRORS,
    ],
)  # fmt: skip
def test_csv_errors_name_the_file_and_line(tmp_path, text, options, message):
    path = write(tmp_path / "d.csv", text)
    with pytest.raises(DataError, match=message):
        Csv(path=path, **options).load_raw(0)


def test_csv_test_file_errors(tmp_path):
    train = write(tmp_path / "train.csv", "a,label\n1,0\n")
    with pytest.raises(DataError, match="has columns .'b', 'label'., but .*train.csv has .'a', 'label'."):
        Csv(path=train, test_path=write(tmp_path / "test.csv", "b,label\n1,0\n")).load_raw(0)
    with pytest.raises(DataError, match=r"test.csv:3: 1 fields, expected 2"):
        Csv(path=train, test_path=write(tmp_path / "test.csv", "a,label\n1,0\n1\n")).load_raw(0)
    with pytest.raises(DataError, match="data.test_path: no such file"):
        Csv(path=train, test_path=str(tmp_path / "none.csv")).load_raw(0)


def test_csv_not_utf8(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"a,label\n\xff\xfe,1\n")
    with pytest.raises(DataError, match="d.csv is not UTF-8 text"):
        Csv(path=str(tmp_path / "d.csv")).load_raw(0)


# --- image_folder -------------------------------------------------------------------------------------


def save(path: Path, pixels: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.fromarray(pixels).save(path)
    return pixels


def test_image_folder_grey_classes_in_sorted_order(tmp_path):
    rng = np.random.default_rng(0)
    cat = save(tmp_path / "cat" / "1.png", rng.integers(0, 256, (6, 5), dtype=np.uint8))
    dog = save(tmp_path / "dog" / "b.png", rng.integers(0, 256, (6, 5), dtype=np.uint8))
    dog2 = save(tmp_path / "dog" / "a.png", rng.integers(0, 256, (6, 5), dtype=np.uint8))
    (tmp_path / ".hidden").mkdir()
    ds = ImageFolder(path=str(tmp_path)).load_raw(0)
    assert ds.class_names == ["cat", "dog"] and ds.input_shape == (1, 6, 5)
    train = ds.splits["train"]
    assert np.array_equal(train.x[:, 0], np.stack([cat, dog2, dog])) and np.array_equal(train.y, [0, 1, 1])


def test_image_folder_rgb_is_channels_first(tmp_path):
    rng = np.random.default_rng(1)
    pixels = save(tmp_path / "a" / "x.png", rng.integers(0, 256, (4, 7, 3), dtype=np.uint8))
    save(tmp_path / "b" / "y.jpg", rng.integers(0, 256, (4, 7, 3), dtype=np.uint8))
    ds = ImageFolder(path=str(tmp_path)).load_raw(0)
    assert ds.input_shape == (3, 4, 7)
    x = ds.splits["train"].x
    assert x[0, 2, 3, 6] == pixels[3, 6, 2] and np.array_equal(x[0], pixels.transpose(2, 0, 1))


def test_image_folder_train_and_test_folders(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for label in ("a", "b"):
            for i in range(n):
                save(tmp_path / split / label / f"{i}.png", np.full((3, 3), i, np.uint8))
    ds = ImageFolder(path=str(tmp_path)).load_raw(0)
    assert ds.summary() == {"train": 6, "test": 4} and ds.class_names == ["a", "b"]
    assert np.array_equal(ds.splits["test"].y, [0, 0, 1, 1])
    ds = get_loader({"dataset": "image_folder", "path": str(tmp_path), "val": 2}).load(0)
    assert ds.summary() == {"train": 4, "val": 2, "test": 4}


def test_image_folder_mode_converts(tmp_path):
    save(tmp_path / "a" / "grey.png", np.full((3, 3), 50, np.uint8))
    save(tmp_path / "b" / "rgb.png", np.full((3, 3, 3), 90, np.uint8))
    with pytest.raises(DataError, match=r"b/rgb.png is a rgb image but .*a/grey.png is grey") as info:
        ImageFolder(path=str(tmp_path)).load_raw(0)
    assert "mode: grey" in info.value.hint
    grey = ImageFolder(path=str(tmp_path), mode="grey").load_raw(0)
    assert grey.input_shape == (1, 3, 3) and (grey.splits["train"].x[1] == 90).all()
    rgb = ImageFolder(path=str(tmp_path), mode="rgb").load_raw(0)
    assert rgb.input_shape == (3, 3, 3) and (rgb.splits["train"].x[0] == 50).all()


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda r: save(r / "b" / "big.png", np.zeros((4, 3), np.uint8)), r"b/big.png is 3x4 pixels, expected 3x3"),
        (lambda r: (r / "b" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken"), r"cannot read image .*b/bad.png"),
        (lambda r: (r / "c").mkdir(), r"/c holds no PNG or JPEG images"),
        (lambda r: save(r / "b" / "deep.png", np.zeros((3, 3), np.uint16)), r"b/deep.png: image mode 'I.*16-bit"),
        (lambda r: save(r / "test" / "z" / "1.png", np.zeros((3, 3), np.uint8)), r"has test/ but no train/ folder"),
    ],
)  # fmt: skip
def test_image_folder_errors_name_the_file(tmp_path, setup, message):
    save(tmp_path / "a" / "1.png", np.zeros((3, 3), np.uint8))
    (tmp_path / "b").mkdir()
    save(tmp_path / "b" / "2.png", np.zeros((3, 3), np.uint8))
    setup(tmp_path)
    with pytest.raises(DataError, match=message):
        ImageFolder(path=str(tmp_path)).load_raw(0)


def test_image_folder_test_class_must_exist_in_train(tmp_path):
    save(tmp_path / "train" / "a" / "1.png", np.zeros((3, 3), np.uint8))
    save(tmp_path / "test" / "b" / "1.png", np.zeros((3, 3), np.uint8))
    with pytest.raises(DataError, match=r"test/b: class 'b' has no folder in .*train"):
        ImageFolder(path=str(tmp_path)).load_raw(0)


def test_image_folder_without_class_folders(tmp_path):
    save(tmp_path / "1.png", np.zeros((3, 3), np.uint8))
    with pytest.raises(DataError, match="has no class folders"):
        ImageFolder(path=str(tmp_path)).load_raw(0)
    with pytest.raises(DataError, match="not found"):
        ImageFolder(path=str(tmp_path / "1.png")).load_raw(0)


@pytest.mark.parametrize("name", ["npz", "csv", "image_folder"])
def test_config_round_trip_and_path_is_required(name):
    loader = DATASETS.build({"type": name, "path": "/data/x"})
    assert DATASETS.build(loader.get_config()).get_config() == loader.get_config()
    assert DATASETS.get(name).shape is None and DATASETS.get(name).classes is None
    with pytest.raises(Exception, match="path"):
        DATASETS.build({"type": name})
