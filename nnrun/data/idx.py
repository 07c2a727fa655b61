"""IDX files (the format of MNIST and Fashion-MNIST) and the `mnist` and `fashion_mnist` loaders.

An IDX file is a magic number (two zero bytes, a type code, the number of dimensions), one big-endian
uint32 per dimension, then the values in row-major order, big-endian; the published files are gzipped.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field

from nnrun.data import download, locate
from nnrun.data.base import Loader
from nnrun.data.dataset import Dataset, Split
from nnrun.errors import DataError
from nnrun.registry import DATASETS

TYPE_CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
_REPLACE = "replace the file with a good copy (a corrupt download: delete it and run again)"


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, gzipped or not (told by the gzip magic bytes, not by the name).

    Values are read straight into the returned array (native byte order, writeable), so reading the
    47 MB of Fashion-MNIST's training images takes 47 MB plus a 1 MB chunk. Any fault (bad magic, unknown
    type code, payload shorter or longer than the dimensions say, broken gzip) is a DataError naming the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            if not compressed:
                return _read(raw, path, os.fstat(raw.fileno()).st_size)
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read(stream, path, None)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{path}: corrupt gzip data ({error})", hint=_REPLACE) from None
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or error})") from None


def _read(stream, path: Path, file_size: int | None) -> np.ndarray:
    """Parse the header, then fill the array; file_size (uncompressed files) allows checking before reading."""
    head = _read_some(stream, 4)
    if len(head) < 4:
        raise DataError(f"{path}: {len(head)} bytes, too short for an IDX header (4 bytes + 4 per dimension)")
    if head[:2] != b"\x00\x00":
        raise DataError(
            f"{path}: not an IDX file: it starts with bytes {head[:4].hex(' ')}, expected 00 00 <type> <ndim>",
            hint="check the path; IDX files are named like train-images-idx3-ubyte (or .gz)",
        )
    code, ndim = head[2], head[3]
    if code not in TYPE_CODES:
        known = ", ".join(f"0x{c:02X} ({np.dtype(t).name})" for c, t in TYPE_CODES.items())
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X}; known codes: {known}")
    if ndim == 0:
        raise DataError(f"{path}: the IDX header says 0 dimensions")
    dims_bytes = _read_some(stream, 4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise DataError(f"{path}: the IDX header is cut short ({ndim} dimensions need {4 * ndim} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(dims_bytes, ">u4"))
    dtype = np.dtype(TYPE_CODES[code])
    expected = math.prod(dims) * dtype.itemsize
    what = f"dims {dims} of {dtype.name} need {expected:,} bytes of data after the {4 + 4 * ndim}-byte header"

    if file_size is not None and file_size != 4 + 4 * ndim + expected:
        found = file_size - 4 - 4 * ndim
        fault = "truncated" if found < expected else "followed by extra bytes"
        raise DataError(f"{path}: {what}, found {found:,}: the file is {fault}", hint=_REPLACE)
    try:
        out = np.empty(dims, dtype)
    except (MemoryError, ValueError):
        raise DataError(f"{path}: {what}: too large to be real, so the header is corrupt", hint=_REPLACE) from None

    view = memoryview(out.reshape(-1).view(np.uint8))
    got = 0
    try:
        while got < expected:
            # Chunked: GzipFile.readinto reads into a temporary bytes object of the requested size.
            n = stream.readinto(view[got : got + CHUNK])
            if not n:
                break
            got += n
        if got < expected:
            raise DataError(f"{path}: {what}, found {got:,}: the file is truncated", hint=_REPLACE)
        extra = 0
        while chunk := stream.read(CHUNK):
            extra += len(chunk)
    except EOFError:  # gzip: the compressed stream stops before its end marker
        raise DataError(
            f"{path}: {what}; the compressed data stops after {got:,}: the .gz file is truncated", hint=_REPLACE
        ) from None
    if extra:
        raise DataError(f"{path}: {what}, found {expected + extra:,}: extra bytes follow the data", hint=_REPLACE)
    if dtype.itemsize > 1:
        out = out.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return out


def _read_some(stream, n: int) -> bytes:
    """Up to n bytes; fewer only at end of file."""
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


@dataclass(frozen=True)
class Published:
    """What a published .gz file must be."""

    size: int
    sha256: str
    md5: str


# train and test: (images, labels) file stems; each may be stored with or without .gz
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
STEMS = [stem for pair in SPLIT_FILES.values() for stem in pair]

FolderPath = Annotated[
    str | None,
    Field(
        description="folder holding the four IDX files (gzipped or not); null = look in $NNRUN_DATA, "
        "the cache and the system dataset folders, then download"
    ),
]
Mirrors = Annotated[
    list[str] | None,
    Field(min_length=1, description="base URLs to download from, tried in turn; null = the official mirrors"),
]


class IdxLoader(Loader):
    """MNIST-format datasets: four IDX files, official train (60,000) and test (10,000) splits."""

    shape = (1, 28, 28)
    classes = 10
    downloadable = True
    class_names: ClassVar[list[str]]
    official_mirrors: ClassVar[list[str]]
    published: ClassVar[dict[str, Published]]  # keyed by file stem

    def __init__(self, path: FolderPath = None, mirrors: Mirrors = None, **common):
        self.path = path
        self.mirrors = mirrors
        super().__init__(**common)

    def remote_files(self) -> list[download.RemoteFile]:
        bases = self.mirrors or self.official_mirrors
        files = []
        for stem, pub in self.published.items():
            name = f"{stem}.gz"
            urls = [base.rstrip("/") + "/" + name for base in bases]
            files.append(download.RemoteFile(name, urls, sha256=pub.sha256, md5=pub.md5, size=pub.size))
        return files

    def locate(self) -> Path | None:
        return locate.find(self.type_name, self.present, self.path)

    def fetch(self) -> Path:
        expected = "the four IDX files " + ", ".join(f"{stem}[.gz]" for stem in STEMS)
        return download.fetch(self.type_name, self.remote_files(), self.present, path=self.path, expected=expected)

    @staticmethod
    def present(folder: Path) -> bool:
        return all(idx_file(folder, stem) is not None for stem in STEMS)

    def load_raw(self, seed: int) -> Dataset:
        folder = self.fetch()
        splits = {}
        for split, (images, labels) in SPLIT_FILES.items():
            x, y = self.read_split(idx_file(folder, images), idx_file(folder, labels))
            splits[split] = Split(x, y)
        return Dataset(self.type_name, splits, self.shape, type(self).classes, list(self.class_names))

    def read_split(self, images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
        """x: (N, 1, 28, 28) uint8, y: (N,) int64 in 0..9, from an images file and a labels file."""
        x = read_idx(images)
        if x.dtype != np.uint8 or x.shape[1:] != self.shape[1:]:
            rows, cols = self.shape[1:]
            raise DataError(
                f"{images}: expected uint8 images of shape (N, {rows}, {cols}), found {x.dtype} of shape {x.shape}"
            )
        y = read_idx(labels)
        if y.dtype != np.uint8 or y.ndim != 1:
            raise DataError(f"{labels}: expected uint8 labels of shape (N,), found {y.dtype} of shape {y.shape}")
        if len(y) != len(x):
            raise DataError(
                f"{labels}: {len(y):,} labels for the {len(x):,} images in {images.name}",
                hint="the two files come from different releases or one is damaged; replace them",
            )
        num_classes = type(self).classes  # self.classes is the config key (classes to keep)
        if len(y) and y.max() >= num_classes:
            bad = int(np.count_nonzero(y >= num_classes))
            raise DataError(
                f"{labels}: {bad:,} labels outside 0..{num_classes - 1} (largest {int(y.max())})",
                hint="this is not a labels file of this dataset, or it is damaged; replace it",
            )
        return x.reshape(len(x), *self.shape), y.astype(np.int64)


def idx_file(folder: Path, stem: str) -> Path | None:
    """folder/stem.gz or folder/stem, whichever exists (the published .gz first)."""
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


@DATASETS.register("mnist")
class Mnist(IdxLoader):
    """MNIST handwritten digits, 28x28 grey, 10 classes: 60,000 train + 10,000 test images (11 MB download).

    Read from data.path, $NNRUN_DATA/mnist, the cache or /usr/share/datasets/mnist, else downloaded into
    the cache. Images stay uint8 (N, 1, 28, 28).
    """

    class_names = [str(digit) for digit in range(10)]
    # yann.lecun.com often refuses downloads now; the S3 copy is torchvision's and the GCS copy TensorFlow's.
    official_mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ]
    # md5s as torchvision lists them; sha256s and sizes as tensorflow_datasets lists them (the same files)
    published = {
        "train-images-idx3-ubyte": Published(
            9912422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ),
        "train-labels-idx1-ubyte": Published(
            28881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "d53e105ee54ea40749a09fcbcd1e9432",
        ),
        "t10k-images-idx3-ubyte": Published(
            1648877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "9fb629c4189551a2d022fa330f9573f3",
        ),
        "t10k-labels-idx1-ubyte": Published(
            4542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    }


@DATASETS.register("fashion_mnist")
class FashionMnist(IdxLoader):
    """Fashion-MNIST clothing images, 28x28 grey, 10 classes: 60,000 train + 10,000 test (30 MB download).

    Read from data.path, $NNRUN_DATA/fashion_mnist, the cache or /usr/share/datasets/fashion-mnist (Debian's
    dataset-fashion-mnist), else downloaded into the cache. Images stay uint8 (N, 1, 28, 28).
    """

    class_names = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
    # The S3 site is the one the Fashion-MNIST README links; the GitHub copy is the repository's data/fashion.
    official_mirrors = [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ]
    # md5s as the Fashion-MNIST README (and torchvision) publish them; sha256s and sizes as tensorflow_datasets
    # lists them. Debian's package recompressed the files (no name in the gzip header), so its .gz files differ
    # from these while their contents are the same.
    published = {
        "train-images-idx3-ubyte": Published(
            26421880,
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        ),
        "train-labels-idx1-ubyte": Published(
            29515,
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "25c81989df183df01b3e8a0aad5dffbe",
        ),
        "t10k-images-idx3-ubyte": Published(
            4422102,
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "bef4ecab320f06d8554ea6380940ec79",
        ),
        "t10k-labels-idx1-ubyte": Published(
            5148,
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
    }
