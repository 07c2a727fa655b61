"""CIFAR-10 from the official "python version": cifar-10-python.tar.gz or its extracted cifar-10-batches-py/.

The batches are Python pickles. They are read with an unpickler that builds nothing but plain data and
inert stand-ins for the few numpy names an array pickle refers to, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any

import numpy as np
from pydantic import Field

from nnrun.data import download, locate
from nnrun.data.base import Loader
from nnrun.data.dataset import Dataset, Split
from nnrun.errors import DataError
from nnrun.registry import DATASETS

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
MD5 = "c58f30108f718f92721af3b95e74349a"
SIZE = 170_498_071

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
MEMBERS = (*TRAIN_BATCHES, TEST_BATCH, META)
ROW = 3 * 32 * 32
REDOWNLOAD = f"delete it and download {ARCHIVE} again from {URL}"

Where = Annotated[
    str | None,
    Field(description=f"{ARCHIVE}, the extracted {FOLDER}/ folder, or a folder holding either; null = search"),
]
Mirrors = Annotated[
    list[str] | None,
    Field(min_length=1, description=f"base URLs holding {ARCHIVE}, tried in turn; null = the official site"),
]


@DATASETS.register("cifar10")
class Cifar10(Loader):
    """CIFAR-10 photos, 32x32 colour, 10 classes (50000 train, 10000 test), input (3, 32, 32).

    Reads the official python version, the tar.gz without extracting it or the extracted folder.
    Downloaded (170 MB, checked against its SHA-256) into the user cache when not found.
    """

    shape = (3, 32, 32)
    classes = 10
    downloadable = True
    # as batches.meta names them (`load_raw` reads them from there); `peek` answers with these
    class_names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, path: Where = None, mirrors: Mirrors = None, **common: Any):
        self.path = path
        self.mirrors = mirrors
        super().__init__(**common)

    def locate(self) -> Path | None:
        place = locate.find(self.type_name, present, self.path)
        return None if place is None else resolve(place)

    def fetch(self) -> Path:
        bases = self.mirrors or [URL.removesuffix(ARCHIVE)]
        remote = download.RemoteFile(
            ARCHIVE, [base.rstrip("/") + "/" + ARCHIVE for base in bases], sha256=SHA256, md5=MD5, size=SIZE
        )
        expected = f"{ARCHIVE} or the extracted folder {FOLDER}/"
        return resolve(download.fetch(self.type_name, [remote], present, path=self.path, expected=expected))

    def load_raw(self, seed: int) -> Dataset:
        source = self.fetch()
        x_train, y_train, x_test, y_test, names = read(source)
        splits = {"train": Split(x_train, y_train), "test": Split(x_test, y_test)}
        return Dataset(self.type_name, splits, self.shape, len(names), names)


def present(place: Path) -> bool:
    return resolve(place) is not None


def resolve(place: Path) -> Path | None:
    """The archive or batches folder at `place` (itself, or inside it), or None."""
    if place.is_file():
        return place
    if (place / TRAIN_BATCHES[0]).is_file():
        return place
    if (place / FOLDER / TRAIN_BATCHES[0]).is_file():
        return place / FOLDER
    if (place / ARCHIVE).is_file():
        return place / ARCHIVE
    return None


def read(source: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """x_train (N, 3, 32, 32) uint8, y_train (N,) int64, x_test, y_test, class names from a folder or archive.

    The training batches are copied one at a time into a preallocated array, so the peak is the final
    arrays plus about two batches, where concatenating them would need twice the final arrays (figures in
    benchmarks/README.md).
    The first batch read fixes the rows per batch (10000 in the official files).
    """
    train = TrainBatches()
    x_test = y_test = names = None
    seen = set()
    for name, file in members(source):
        where = f"{source}/{name}" if source.is_dir() else f"{name} in {source}"
        content = unpickle(file, where)
        if name == META:
            names = label_names(content, where)
        else:
            x, y = batch_arrays(content, where)
            if name == TEST_BATCH:
                x_test, y_test = x.copy(), y  # own the memory rather than view the pickle's bytes
            else:
                train.add(name, x, y, where)
        del content
        seen.add(name)
    missing = [name for name in MEMBERS if name not in seen]
    if missing:
        kind = "folder" if source.is_dir() else "archive"
        raise DataError(
            f"the CIFAR-10 {kind} {source} has no {', '.join(missing)}",
            hint=f"it may be truncated or not the CIFAR-10 python version: {REDOWNLOAD}",
        )
    return train.x, train.y, x_test, y_test, names


class TrainBatches:
    """The five training batches, written into one array allocated when the first arrives."""

    def __init__(self) -> None:
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None
        self.rows = 0

    def add(self, name: str, x: np.ndarray, y: np.ndarray, where: str) -> None:
        if self.x is None:
            self.rows = len(x)
            self.x = np.empty((len(TRAIN_BATCHES) * self.rows, 3, 32, 32), dtype=np.uint8)
            self.y = np.empty(len(TRAIN_BATCHES) * self.rows, dtype=np.int64)
        if len(x) != self.rows:
            raise DataError(
                f"{where} has {len(x)} images but the other training batches have {self.rows}",
                hint=f"the training batches are not from the same copy of CIFAR-10: {REDOWNLOAD}",
            )
        start = TRAIN_BATCHES.index(name) * self.rows
        self.x[start : start + self.rows] = x
        self.y[start : start + self.rows] = y


def members(source: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """(member name, open binary file) for each CIFAR file in a batches folder or a tar archive."""
    if source.is_dir():
        for name in MEMBERS:
            if (source / name).is_file():
                with open(source / name, "rb") as file:
                    yield name, file
        return
    try:
        with tarfile.open(source, "r:*") as tar:
            # In archive order: going back in a .tar.gz would decompress it again from the start
            for member in tar:
                name = PurePosixPath(member.name).name
                if member.isfile() and name in MEMBERS:
                    file = tar.extractfile(member)
                    if file is not None:
                        yield name, file
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DataError(
            f"cannot read the archive {source}: {error}",
            hint=f"it may be truncated or corrupt, or not a tar archive: {REDOWNLOAD}",
        ) from None


# --- the restricted unpickler -------------------------------------------------------------------------
# numpy pickles an array as _reconstruct(ndarray, (0,), b"b") followed by BUILD with
# (version, shape, dtype, fortran_order, raw_bytes), and the dtype as dtype("u1", False, True) + BUILD.
# (Protocol 5 uses _frombuffer(buffer, dtype, shape, order) instead.) These names resolve to the inert
# classes below, which only record their arguments; `to_array` then checks them and views the raw bytes.


class ArrayStub:
    """What `_reconstruct` / `_frombuffer` build (`kind`): the recorded arguments and BUILD state of an array."""

    def __init__(self, kind: str, args: tuple[Any, ...]):
        self.kind = kind
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class DtypeStub:
    """What `numpy.dtype(...)` builds: its recorded arguments and BUILD state."""

    def __init__(self, *args: Any):
        self.args = args
        self.state = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


NDARRAY = object()  # stands for numpy.ndarray, which a pickle only passes to _reconstruct


def reconstruct(*args: Any) -> ArrayStub:
    return ArrayStub("reconstruct", args)


def frombuffer(*args: Any) -> ArrayStub:
    return ArrayStub("frombuffer", args)


def latin1(text: Any, encoding: Any = None) -> bytes:
    # Python 3 writes bytes in protocol 2 as _codecs.encode(str, "latin1")
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("_codecs.encode is only allowed as encode(str, 'latin1')")
    return text.encode("latin1")


ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): reconstruct,
    ("numpy.core.numeric", "_frombuffer"): frombuffer,
    ("numpy._core.numeric", "_frombuffer"): frombuffer,
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): DtypeStub,
    ("_codecs", "encode"): latin1,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Builds plain data (dicts, lists, tuples, bytes, str, numbers) and the inert stand-ins in ALLOWED."""

    def __init__(self, file: IO[bytes], where: str):
        # encoding="bytes" as in the official loader: the batches were written by Python 2, whose str
        # holds the raw pixel bytes
        super().__init__(file, encoding="bytes")
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED:
            return ALLOWED[module, name]
        raise DataError(
            f"refusing to load {module}.{name} from {self.where}: "
            "CIFAR batches contain only plain data and uint8 numpy arrays",
            hint=f"the file is not an official CIFAR-10 batch and may be malicious: {REDOWNLOAD}",
        )


def unpickle(file: IO[bytes], where: str) -> Any:
    try:
        return RestrictedUnpickler(file, where).load()
    except DataError:
        raise
    except Exception as error:  # a damaged pickle can fail in any of a dozen ways; each means "bad file"
        raise DataError(
            f"cannot read {where}: {type(error).__name__}: {error}",
            hint=f"the file may be truncated or corrupt: {REDOWNLOAD}",
        ) from None


def get(content: Any, key: str, where: str) -> Any:
    """content[b"key"] (Python 2 str keys arrive as bytes) or content["key"]."""
    if not isinstance(content, dict):
        raise DataError(f"{where} holds a {type(content).__name__}, expected a dict", hint=REDOWNLOAD)
    for k in (key.encode(), key):
        if k in content:
            return content[k]
    raise DataError(f"{where} has no '{key}' entry (keys: {sorted(map(str, content))})", hint=REDOWNLOAD)


def batch_arrays(content: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """x (n, 3, 32, 32) uint8 (a view of the pickle's bytes) and y (n,) int64 from one unpickled batch."""
    data = to_array(get(content, "data", where), where)
    if data.ndim != 2 or data.shape[1] != ROW:
        raise DataError(f"{where}: data has shape {data.shape}, expected (10000, {ROW})", hint=REDOWNLOAD)
    labels = get(content, "labels", where)
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise DataError(f"{where}: labels must be a list of ints, got {type(labels).__name__}", hint=REDOWNLOAD)
    if len(labels) != len(data):
        raise DataError(f"{where}: {len(labels)} labels for {len(data)} images", hint=REDOWNLOAD)
    y = np.array(labels, dtype=np.int64)
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{where}: labels span {y.min()}..{y.max()}, expected 0..9", hint=REDOWNLOAD)
    # Each row is 1024 red, 1024 green, 1024 blue values, each plane 32x32 row-major: exactly NCHW
    return data.reshape(-1, 3, 32, 32), y


def label_names(content: Any, where: str) -> list[str]:
    names = get(content, "label_names", where)
    if not isinstance(names, list) or len(names) != 10 or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{where}: label_names must be a list of 10 strings, got {names!r:.200}", hint=REDOWNLOAD)
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names]


def to_array(stub: Any, where: str) -> np.ndarray:
    """The uint8 array a stub stands for, checked field by field; no numpy code runs on the pickle's say-so."""
    bad = DataError(f"{where}: data is not a uint8 numpy array", hint=REDOWNLOAD)
    if not isinstance(stub, ArrayStub):
        raise bad
    if stub.kind == "frombuffer":  # _frombuffer(buffer, dtype, shape, order)
        if len(stub.args) != 4 or stub.state is not None:
            raise bad
        raw, dtype, shape, order = stub.args
    else:  # _reconstruct(ndarray, (0,), b"b") + BUILD (version, shape, dtype, fortran, raw)
        if len(stub.args) != 3 or stub.args[0] is not NDARRAY or not isinstance(stub.state, tuple):
            raise bad
        state = stub.state[1:] if len(stub.state) == 5 else stub.state
        if len(state) != 4:
            raise bad
        shape, dtype, fortran, raw = state
        order = "F" if fortran is True else "C"
    if not is_uint8(dtype) or not isinstance(raw, (bytes, bytearray)):
        raise bad
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape) or order not in ("C", "F"):
        raise bad
    if len(raw) != int(np.prod(shape, dtype=np.int64)):
        raise DataError(f"{where}: data holds {len(raw)} bytes for shape {shape}", hint=REDOWNLOAD)
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape, order=order)


def is_uint8(dtype: Any) -> bool:
    if not isinstance(dtype, DtypeStub) or not dtype.args or dtype.args[0] not in ("u1", b"u1"):
        return False
    # BUILD state (version, byteorder, subarray, names, fields, ...): a plain dtype has no fields
    state = dtype.state
    return state is None or (isinstance(state, tuple) and len(state) >= 5 and state[2:5] == (None, None, None))
