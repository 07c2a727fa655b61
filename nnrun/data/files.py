"""A user's own data: the `npz`, `csv` and `image_folder` datasets, read from data.path (nothing to download).

Where a file holds no official test split, the `test` key holds one out (stratified, seeded) when the
common preprocessing runs.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from nnrun.data import images, locate
from nnrun.data.base import Loader, SplitSize
from nnrun.data.csv_table import label_values, read_csv, read_layout
from nnrun.data.dataset import SPLIT_NAMES, Dataset, DataShape, Shape, Split
from nnrun.data.locate import DataNotFound
from nnrun.errors import DataError
from nnrun.registry import DATASETS

Test = Annotated[
    SplitSize, Field(description="test examples held out when the files have no test split: a fraction or a count")
]
NPZ_KEYS = "x_train, y_train (and optionally x_val, y_val, x_test, y_test, class_names)"


# --- npz --------------------------------------------------------------------------------------------


class UserFiles(Loader):
    """A dataset the user provides at data.path (no download): `present` tests it, `expected` describes it."""

    present: ClassVar[Callable[[Path], bool]] = Path.is_file
    expected: ClassVar[str] = "a file"

    def locate(self) -> Path | None:
        return locate.find(self.type_name, type(self).present, self.path)

    def fetch(self) -> Path:
        found = self.locate()
        if found is None:
            raise locate.not_found(self.type_name, self.path, self.expected, "check data.path")
        return found


@DATASETS.register("npz")
class Npz(UserFiles):
    """Arrays in a NumPy .npz file: x_train, y_train, optional x_val/y_val, x_test/y_test and class_names.

    x: uint8 images (N, H, W) or (N, C, H, W) (N, H, W, C with C = 1 or 3 is transposed), or float
    features (N, D). y: integer labels 0..K-1 (or strings, numbered in sorted order). Loaded with
    allow_pickle=False: object arrays are refused.
    """

    expected = f"an .npz file with {NPZ_KEYS}"

    shape = None
    classes = None

    def __init__(
        self,
        path: Annotated[str, Field(description="the .npz file")],
        test: Test = 0,
        **common: Any,
    ):
        self.path = path
        self.test = test
        super().__init__(**common)

    def load_raw(self, seed: int) -> Dataset:
        path = self.fetch()
        raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        with open_npz(path) as archive:
            keys = set(archive.files)
            for split in npz_splits(keys, path):
                x = features(npz_array(archive, f"x_{split}", path), f"{path}: x_{split}")
                raw[split] = (x, npz_labels(archive, split, len(x), path))
            names = npz_array(archive, "class_names", path) if "class_names" in keys else None
        same_examples(path, {split: (x.shape, x.dtype) for split, (x, _) in raw.items()})
        labels, class_names = encode_labels({split: y for split, (_, y) in raw.items()}, str(path), names)
        splits = {split: Split(x, labels[split]) for split, (x, _) in raw.items()}
        return Dataset(self.type_name, splits, raw["train"][0].shape[1:], len(class_names), class_names)

    def peek_raw(self) -> DataShape:
        """The examples' shape from the .npy headers of x_train, ... (not their data), and the classes from
        the labels, which are read: y_train, ... and class_names, far smaller than the examples."""
        path = self.fetch()
        headers = npz_headers(path)
        xs = {}
        for split in npz_splits(set(headers), path):
            shape, dtype = headers[f"x_{split}"]
            if dtype.hasobject:
                raise python_objects(path, f"x_{split}")
            example, dtype = feature_layout(shape, dtype, f"{path}: x_{split}")
            xs[split] = ((shape[0], *example), dtype)
        same_examples(path, xs)
        with open_npz(path) as archive:
            ys = {split: npz_labels(archive, split, shape[0], path) for split, (shape, _) in xs.items()}
            names = npz_array(archive, "class_names", path) if "class_names" in headers else None
        _, class_names = encode_labels(ys, str(path), names)
        return DataShape(self.type_name, xs["train"][0][1:], class_names, str(path))


def npz_splits(keys: set[str], path: Path) -> list[str]:
    """The splits an .npz file holds, x_<split> with y_<split>, train first."""
    if not {"x_train", "y_train"} <= keys:
        raise DataError(
            f"{path} has no x_train and y_train arrays (found: {', '.join(sorted(keys)) or 'none'})",
            hint="save the arrays with np.savez(file, x_train=..., y_train=..., x_test=..., y_test=...)",
        )
    for split in SPLIT_NAMES:
        x_key, y_key = f"x_{split}", f"y_{split}"
        if (x_key in keys) != (y_key in keys):
            given, lacking = (x_key, y_key) if x_key in keys else (y_key, x_key)
            raise DataError(f"{path} has {given} but no {lacking}")
    return [split for split in SPLIT_NAMES if f"x_{split}" in keys]


def npz_labels(archive: Any, split: str, n: int, path: Path) -> np.ndarray:
    """y_<split> as (n,) labels for the split's n examples; Keras-style (n, 1) labels are flattened."""
    y = npz_array(archive, f"y_{split}", path)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.shape != (n,):
        raise DataError(f"{path}: y_{split} has shape {y.shape}, expected ({n},) to match x_{split}")
    return y


def same_examples(path: Path, xs: dict[str, tuple[Shape, np.dtype]]) -> None:
    """Every split's examples have one shape and one kind (uint8 images or floats), given (N, ...) and dtype."""
    if len({(shape[1:], dtype.kind) for shape, dtype in xs.values()}) > 1:
        found = ", ".join(f"x_{split} {dtype} {shape}" for split, (shape, dtype) in xs.items())
        raise DataError(f"{path}: the splits' examples differ in shape or type ({found})")


def npz_headers(path: Path) -> dict[str, tuple[Shape, np.dtype]]:
    """Each array's shape and dtype in an .npz file, from its .npy header alone: no array is read.

    (np.load's mmap_mode cannot map a member of a zip file; the headers are read from each member instead.)
    """
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as file:
                    version = np.lib.format.read_magic(file)
                    # a 3.0 header is 2.0's with UTF-8 field names, which no feature array has
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read(file)
                headers[member.removesuffix(".npy")] = (tuple(shape), dtype)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"cannot read {path} as an .npz file: {error}", hint="save it with numpy.savez") from None
    return headers


def open_npz(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"cannot read {path} as an .npz file: {error}", hint="save it with numpy.savez") from None


def npz_array(archive: Any, key: str, path: Path) -> np.ndarray:
    """archive[key]; a pickled object array or a damaged member is a DataError naming the file."""
    try:
        return archive[key]
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise python_objects(path, key) from None
        raise DataError(f"{path}: cannot read {key}: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"{path}: cannot read {key}: {error}", hint="the file may be truncated") from None


def python_objects(path: Path, key: str) -> DataError:
    return DataError(
        f"{path}: {key} is an array of Python objects, which nnrun does not unpickle",
        hint="save numbers or strings (np.array(..., dtype=str)), not dtype=object arrays",
    )


def feature_layout(shape: Shape, dtype: np.dtype, where: str) -> tuple[Shape, np.dtype]:
    """The example shape and dtype that `features` makes of an array of this shape and dtype, and the errors
    that these alone show."""
    if dtype.kind in "iu" and dtype != np.uint8:
        # integer features (counts, codes) are numbers, other integer arrays pixels
        dtype = np.dtype(np.float64 if len(shape) == 2 else np.uint8)
    elif dtype.kind == "f" and dtype.itemsize < 4:
        dtype = np.dtype(np.float32)
    elif dtype.kind != "f" and dtype != np.uint8:
        raise DataError(f"{where}: dtype {dtype}; expected uint8 images or float features")
    if len(shape) == 3:
        return (1, *shape[1:]), dtype
    if len(shape) == 4 and shape[-1] in (1, 3) and shape[1] not in (1, 3):
        # channels last (Keras, PIL): nnrun's layers take (C, H, W)
        return (shape[3], shape[1], shape[2]), dtype
    if len(shape) in (2, 4):
        return tuple(shape[1:]), dtype
    raise DataError(f"{where}: shape {shape}; expected (N, D) features or (N, H, W) / (N, C, H, W) images")


def features(x: np.ndarray, where: str) -> np.ndarray:
    """x as uint8 images (N, C, H, W), or float features (N, D) or (N, C, H, W).

    Integer images (other than uint8) must hold 0..255 and become uint8; integer (N, D) features become
    float64; float16 becomes float32.
    """
    feature_layout(x.shape, x.dtype, where)
    if x.dtype.kind in "iu" and x.dtype != np.uint8:
        if x.ndim == 2:  # integer features (counts, codes): numbers, not pixels
            x = x.astype(np.float64)
        elif x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(f"{where}: integer pixels span {x.min()}..{x.max()}; expected 0..255 (or uint8)")
        else:
            x = x.astype(np.uint8)
    elif x.dtype.kind == "f":
        if x.dtype.itemsize < 4:
            x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError(f"{where}: contains NaN or infinite values")
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):  # channels last
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def encode_labels(
    ys: dict[str, np.ndarray], where: str, names: np.ndarray | None = None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Integer labels 0..K-1 per split and the K class names.

    Integer labels keep their values (K = largest + 1, names "0".."K-1", or the given names); string
    labels (in any split) are numbered in sorted order and name their classes.
    """
    kinds = {y.dtype.kind for y in ys.values()}
    if kinds & set("US") and kinds - set("US"):  # names in one split, numbers in another: all names
        ys = {split: y.astype(str) for split, y in ys.items()}
        kinds = {"U"}
    if kinds <= set("iu"):
        ints = ys
    elif kinds <= set("f"):
        ints = {}
        for split, y in ys.items():
            if not np.array_equal(y, np.round(y)):
                raise DataError(f"{where}: {split} labels are not whole numbers")
            ints[split] = y.astype(np.int64)
    elif kinds <= set("US"):
        text = {split: y.astype(str) for split, y in ys.items()}
        classes = sorted(set().union(*(np.unique(y).tolist() for y in text.values())))
        if names is not None:
            raise DataError(f"{where}: string labels name their own classes; drop class_names")
        return {split: np.searchsorted(classes, y).astype(np.int64) for split, y in text.items()}, classes
    else:
        raise DataError(f"{where}: labels of dtype {'/'.join(sorted(kinds))}; expected integers or strings")
    for split, y in ints.items():
        if len(y) and y.min() < 0:
            raise DataError(f"{where}: {split} labels include {y.min()}; class labels are 0..K-1")
    largest = max((int(y.max()) for y in ints.values() if len(y)), default=-1)
    if names is None:
        class_names = [str(k) for k in range(largest + 1)]
    else:
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(f"{where}: class_names must be a 1-D array of strings, got {names.dtype} {names.shape}")
        class_names = names.astype(str).tolist()
        if largest >= len(class_names):
            raise DataError(f"{where}: label {largest} but only {len(class_names)} class_names")
    return {split: y.astype(np.int64) for split, y in ints.items()}, class_names


# --- csv --------------------------------------------------------------------------------------------


@DATASETS.register("csv")
class Csv(UserFiles):
    """Rows of numeric features and a label column in a CSV file (header optional), float64 features (N, D).

    Labels are integers 0..K-1, or strings numbered in sorted order. A second file (test_path) gives an
    official test split; otherwise `test` holds one out.
    """

    expected = "a CSV file"

    shape = None
    classes = None

    def __init__(
        self,
        path: Annotated[str, Field(description="the CSV file")],
        label: Annotated[
            str | int | None,
            Field(
                description="label column: a header name or a 0-based index; "
                "null = 'label' if the header has it, else the first column"
            ),
        ] = None,
        header: Annotated[
            bool | None, Field(description="whether the first row names the columns; null = detect")
        ] = None,
        delimiter: Annotated[str, Field(min_length=1, max_length=1, description="field separator")] = ",",
        test_path: Annotated[
            str | None, Field(description="a second CSV file (same columns) used as the test split")
        ] = None,
        test: Test = 0.2,
        **common: Any,
    ):
        self.path = path
        self.label = label
        self.header = header
        self.delimiter = delimiter
        self.test_path = test_path
        self.test = test
        super().__init__(**common)

    def load_raw(self, seed: int) -> Dataset:
        files = self.files()
        tables = {"train": read_csv(files["train"], self.label, self.header, self.delimiter)}
        if "test" in files:
            # the training file decides whether there is a header row: a short test file cannot
            train = tables["train"]
            test = tables["test"] = read_csv(files["test"], self.label, train.header, self.delimiter)
            same_columns(files, train.columns, test.columns)
        ys = {split: table.labels for split, table in tables.items()}
        labels, class_names = encode_labels(ys, " and ".join(map(str, files.values())))
        splits = {split: Split(tables[split].x, labels[split]) for split in tables}
        return Dataset(self.type_name, splits, splits["train"].x.shape[1:], len(class_names), class_names)

    def peek_raw(self) -> DataShape:
        """The features from the header row, the classes from the label column: the one column read."""
        files = self.files()
        layouts = {"train": read_layout(files["train"], self.label, self.header, self.delimiter)}
        if "test" in files:
            train = layouts["train"]
            test = layouts["test"] = read_layout(files["test"], self.label, train.header, self.delimiter)
            same_columns(files, train.names, test.names)
        ys = {split: label_values(files[split], layout, self.delimiter) for split, layout in layouts.items()}
        _, class_names = encode_labels(ys, " and ".join(map(str, files.values())))
        return DataShape(self.type_name, (len(layouts["train"].names) - 1,), class_names, str(files["train"]))

    def files(self) -> dict[str, Path]:
        """The training file, and the test file where test_path gives one."""
        files = {"train": self.fetch()}
        if self.test_path is not None:
            test = Path(self.test_path).expanduser()
            if not test.is_file():
                raise DataNotFound(f"data.test_path: no such file {test}", where="data", hint="check data.test_path")
            files["test"] = test
        return files


def same_columns(files: dict[str, Path], train: list[str], test: list[str]) -> None:
    if test != train:
        raise DataError(
            f"{files['test']} has columns {test}, but {files['train']} has {train}",
            hint="the test file must have the same columns in the same order",
        )


@DATASETS.register("image_folder")
class ImageFolder(UserFiles):
    """PNG/JPEG images in one sub-folder per class (the folder names are the classes), as uint8 (N, C, H, W).

    Optional train/, val/ and test/ sub-folders, each holding the class folders, are official splits.
    All images must have the same size; grey images give C=1, colour C=3.
    """

    present = Path.is_dir
    expected = "a folder with one sub-folder of images per class"

    shape = None
    classes = None

    def __init__(
        self,
        path: Annotated[str, Field(description="the folder of class folders (or of train/ and test/ folders)")],
        mode: Annotated[
            Literal["auto", "grey", "rgb"],
            Field(description="auto: keep the images' own colour (all must agree); grey or rgb: convert every image"),
        ] = "auto",
        test: Test = 0.2,
        **common: Any,
    ):
        self.path = path
        self.mode = mode
        self.test = test
        super().__init__(**common)

    def load_raw(self, seed: int) -> Dataset:
        class_names, files = self.listing(self.fetch())
        # One pass over all files so every split gets the same mode and size as the first image
        everything = [pair for split in files for pair in files[split]]
        loaded = images.read_labelled_images(everything, mode=self.mode)
        splits, start = {}, 0
        for split in files:
            stop = start + len(files[split])
            splits[split] = Split(loaded.x[start:stop], loaded.y[start:stop])
            start = stop
        return Dataset(self.type_name, splits, loaded.x.shape[1:], len(class_names), class_names)

    def peek_raw(self) -> DataShape:
        """The classes from the folder names, the shape from the first image (the one all others must match)."""
        root = self.fetch()
        class_names, files = self.listing(root)
        shape = images.image_shape(files["train"][0][0], self.mode)
        return DataShape(self.type_name, shape, class_names, str(root))

    def listing(self, root: Path) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
        """The class names and each split's (image file, label), train first; lists folders, opens no image."""
        split_roots = {split: root / split for split in SPLIT_NAMES if (root / split).is_dir()}
        if split_roots and "train" not in split_roots:
            found = ", ".join(f"{split}/" for split in split_roots)
            raise DataError(f"{root} has {found} but no train/ folder", hint="put the training images in train/")
        if not split_roots:
            split_roots = {"train": root}
        class_names = [folder.name for folder in images.class_folders(split_roots["train"])]
        if not class_names:
            raise DataError(
                f"{split_roots['train']} has no class folders", hint="put each class's images in a sub-folder"
            )
        files = {}
        for split, split_root in split_roots.items():
            files[split] = []
            for folder in images.class_folders(split_root):
                if folder.name not in class_names:
                    raise DataError(
                        f"{folder}: class '{folder.name}' has no folder in {split_roots['train']}",
                        hint="every class in val/ or test/ needs training images too",
                    )
                found = images.image_files(folder)
                if split == "train" and not found:
                    raise DataError(f"{folder} holds no PNG or JPEG images", hint="add images or remove the folder")
                files[split] += [(path, class_names.index(folder.name)) for path in found]
        return class_names, files
