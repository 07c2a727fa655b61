"""notMNIST letters A-J (28x28 grey): the notMNIST.npz that courses hand out, or the notMNIST_small PNG folders.

There is no official download to fetch: the files are found (data.path, $NNRUN_DATA/notmnist, the cache,
the system dataset folders) or the error says where to put them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from nnrun.data import images, locate
from nnrun.data.base import Loader, SplitSize
from nnrun.data.dataset import SPLIT_NAMES, Dataset, Split
from nnrun.data.files import npz_array, open_npz
from nnrun.errors import DataError
from nnrun.registry import DATASETS

LETTERS = "ABCDEFGHIJ"
NPZ = "notMNIST.npz"
FOLDER = "notMNIST_small"
SIDE = 28
# (images, labels) array names seen in the notMNIST.npz files courses hand out, tried in turn
PAIRS = (("images", "labels"), ("x", "y"), ("X", "y"), ("data", "labels"), ("features", "labels"))
CHUNK = 4096
HOW = (
    f"notMNIST has no official download: put {NPZ} (arrays images and labels, or x_train, y_train, "
    f"x_test, y_test) or the extracted {FOLDER}/ folder (from notMNIST_small.tar.gz, see "
    "http://yaroslavvb.blogspot.com/2011/09/notmnist-dataset.html) in one of these places, or point data.path at it"
)

Where = Annotated[
    str | None,
    Field(description=f"{NPZ}, the {FOLDER}/ folder of letter folders A..J, or a folder holding either; null = search"),
]
Val = Annotated[SplitSize, Field(description="validation examples taken from the training set: a fraction or a count")]
Test = Annotated[
    SplitSize,
    Field(description="test examples taken from the whole set when the file has no test split: a fraction or a count"),
]


@DATASETS.register("notmnist")
class NotMnist(Loader):
    """notMNIST letters A-J, 28x28 grey, 10 classes, input (1, 28, 28), from notMNIST.npz or notMNIST_small/.

    A file or folder without its own test split gives the usual 15,000 / 1,000 / 2,724 train / val / test
    split of notMNIST_small's 18,724 readable images. A PNG that cannot be decoded (notMNIST_small has
    two) is skipped with a warning and a line in the dataset's notes; `skipped` lists them after loading.
    """

    shape = (1, SIDE, SIDE)
    classes = 10
    class_names = list(LETTERS)

    def __init__(self, path: Where = None, val: Val = 1000, test: Test = 2724, **common: Any):
        self.path = path
        self.val = val
        self.test = test
        self.skipped: list[str] = []
        super().__init__(val=val, **common)

    def locate(self) -> Path | None:
        place = locate.find(self.type_name, lambda p: resolve(p) is not None, self.path)
        return None if place is None else resolve(place)

    def fetch(self) -> Path:
        found = self.locate()
        if found is None:
            raise locate.not_found(
                self.type_name, self.path, f"{NPZ} or the folder {FOLDER}/ (letter folders A..J)", HOW
            )
        return found

    def load_raw(self, seed: int) -> Dataset:
        source = self.fetch()
        notes = []
        if source.is_dir():
            x, y, skipped = read_folder(source)
            self.skipped = [str(path) for path in skipped]
            splits = {"train": Split(x, y)}
            if skipped:
                names = ", ".join(str(p.relative_to(source)) for p in skipped[:3])
                more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
                notes.append(f"skipped {len(skipped)} unreadable image(s) in {source}: {names}{more}")
                warnings.warn(f"notMNIST: {notes[-1]}", stacklevel=2)
        elif source.name.endswith((".tar.gz", ".tgz", ".tar")):
            raise DataError(
                f"{source} is a tar archive, not {NPZ}",
                hint=f"extract it (tar xzf {source.name}) and point data.path at the {FOLDER}/ folder it holds",
            )
        else:
            splits = read_npz(source)
        return Dataset(self.type_name, splits, self.shape, len(LETTERS), list(LETTERS), notes=notes)


def resolve(place: Path) -> Path | None:
    """The npz file or letters folder at `place` (itself, or inside it), or None."""
    if place.is_file():
        return place
    if is_letters_folder(place):
        return place
    if (place / NPZ).is_file():
        return place / NPZ
    if is_letters_folder(place / FOLDER):
        return place / FOLDER
    return None


def is_letters_folder(place: Path) -> bool:
    # any letter: a folder missing some gets an error naming them rather than "not found"
    return place.is_dir() and any((place / letter).is_dir() for letter in LETTERS)


def read_npz(path: Path) -> dict[str, Split]:
    """The official splits of an npz with x_train, y_train, ... or all of it as "train"."""
    with open_npz(path) as archive:
        keys = set(archive.files)
        if {"x_train", "y_train"} <= keys:
            pairs = {split: (f"x_{split}", f"y_{split}") for split in SPLIT_NAMES}
            for x_key, y_key in pairs.values():
                if (x_key in keys) != (y_key in keys):
                    given, lacking = (x_key, y_key) if x_key in keys else (y_key, x_key)
                    raise DataError(f"{path} has {given} but no {lacking}")
            pairs = {split: pair for split, pair in pairs.items() if pair[0] in keys}
        else:
            pair = next((pair for pair in PAIRS if set(pair) <= keys), None)
            if pair is None:
                raise DataError(
                    f"{path} has neither images and labels nor x_train and y_train "
                    f"(found: {', '.join(sorted(keys)) or 'no arrays'})",
                    hint="save the letters as np.savez(file, images=..., labels=...)",
                )
            pairs = {"train": pair}
        splits = {}
        for split, (x_key, y_key) in pairs.items():
            x = letter_images(npz_array(archive, x_key, path), f"{path}: {x_key}")
            y = letter_labels(npz_array(archive, y_key, path), f"{path}: {y_key}", len(x))
            splits[split] = Split(x, y)
    return splits


def letter_images(x: np.ndarray, where: str) -> np.ndarray:
    """(N, 1, 28, 28) uint8 from (N, 28, 28), (N, 784), (N, 1, 28, 28) or (N, 28, 28, 1) pixels."""
    flat = x.ndim == 2 and x.shape[1] == SIDE * SIDE
    one_channel = x.ndim == 4 and x.shape[1:] in ((1, SIDE, SIDE), (SIDE, SIDE, 1))
    if flat or one_channel:
        x = x.reshape(len(x), SIDE, SIDE)
    if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE):
        raise DataError(f"{where}: shape {x.shape}, expected (N, {SIDE}, {SIDE}) images")
    return to_uint8(x, where).reshape(len(x), 1, SIDE, SIDE)


def to_uint8(x: np.ndarray, where: str) -> np.ndarray:
    """Pixels as uint8 0..255: floats in [0, 1], in [-0.5, 0.5] (Udacity's (p - 127.5) / 255) or in [0, 255]."""
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "iu":
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(f"{where}: integer pixels span {x.min()}..{x.max()}, expected 0..255")
        return x.astype(np.uint8)
    if x.dtype.kind != "f":
        raise DataError(f"{where}: pixels of dtype {x.dtype}, expected uint8 or floating point")
    if not np.isfinite(x).all():
        raise DataError(f"{where}: pixels include NaN or infinite values")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    tol = 1e-6  # float32 rounding of values computed as p / 255
    if lo >= -tol and hi <= 1 + tol:
        scale, shift = 255.0, 0.0
    elif lo >= -0.5 - tol and hi <= 0.5 + tol:
        scale, shift = 255.0, 127.5
    elif lo >= -tol and hi <= 255 + 255 * tol:
        scale, shift = 1.0, 0.0
    else:
        raise DataError(f"{where}: pixels span {lo:g}..{hi:g}, expected [0, 1], [-0.5, 0.5] or [0, 255]")
    out = np.empty(x.shape, dtype=np.uint8)
    # in chunks, so converting 18,724 float64 images needs a few MB of temporaries rather than 2 copies
    for start in range(0, len(x), CHUNK):
        chunk = x[start : start + CHUNK] * scale + shift
        out[start : start + CHUNK] = np.clip(np.rint(chunk), 0, 255)
    return out


def letter_labels(y: np.ndarray, where: str, n: int) -> np.ndarray:
    """(n,) int64 class indices from integers 0..9, letters "A".."J" or one-hot (n, 10) rows."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    elif (
        y.ndim == 2
        and y.shape[1] == 10
        and y.dtype.kind in "iuf"
        and np.isin(y, (0, 1)).all()
        and (y.sum(1) == 1).all()
    ):
        y = y.argmax(axis=1)
    if y.shape != (n,):
        raise DataError(f"{where}: shape {y.shape}, expected ({n},) labels to match the images")
    if y.dtype.kind in "US":
        text = np.char.upper(np.char.strip(y.astype(str)))
        index = np.array([LETTERS.find(t) if len(t) == 1 else -1 for t in text.tolist()], dtype=np.int64)
        if n and index.min() < 0:
            bad = str(text[index < 0][0])
            raise DataError(f"{where}: label {bad!r} is not one of the letters {', '.join(LETTERS)}")
        return index
    if y.dtype.kind == "f":
        if not np.array_equal(y, np.round(y)):
            raise DataError(f"{where}: labels are not whole numbers")
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise DataError(f"{where}: labels of dtype {y.dtype}, expected integers 0..9 or letters A..J")
    if n and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{where}: labels span {y.min()}..{y.max()}, expected 0..9 (A..J)")
    return y.astype(np.int64)


def read_folder(root: Path) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """x (N, 1, 28, 28) uint8, y (N,) int64 and the skipped files, from letter folders A..J of PNGs."""
    missing = [letter for letter in LETTERS if not (root / letter).is_dir()]
    if missing:
        raise DataError(
            f"{root} has no folder {', '.join(missing)}; notMNIST needs one folder of PNGs per letter A..J",
            hint=f"extract notMNIST_small.tar.gz whole and point data.path at {FOLDER}/",
        )
    files = []
    for label, letter in enumerate(LETTERS):
        found = images.image_files(root / letter)
        if not found:
            raise DataError(f"{root / letter} holds no PNG images", hint="extract notMNIST_small.tar.gz again")
        files += [(path, label) for path in found]
    loaded = images.read_labelled_images(files, mode="grey", size=(SIDE, SIDE), skip_unreadable=True)
    counts = np.bincount(loaded.y, minlength=len(LETTERS))
    for letter, count in zip(LETTERS, counts):
        if count == 0:
            raise DataError(
                f"none of the images in {root / letter} can be read", hint="extract notMNIST_small.tar.gz again"
            )
    return loaded.x, loaded.y, loaded.skipped
