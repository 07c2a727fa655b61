"""IDX reading and the mnist / fashion_mnist loaders, on small IDX files written by the tests (no network)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from nnrun.data import idx, locate
from nnrun.errors import ConfigError, DataError
from nnrun.registry import DATASETS
from tests.helpers.idx_files import CODES, STEMS, check_loaded, idx_bytes, make_dataset, published_for, write

pytestmark = pytest.mark.usefixtures("isolated")  # tests/data/conftest.py


# ---------------------------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (0, 4)])
def test_read_idx_round_trip(tmp_path, gz, dtype, shape):
    rng = np.random.default_rng(1)
    array = (rng.normal(size=shape) * 100).astype(dtype)
    path = write(tmp_path / "a.idx", idx_bytes(array), gz)
    got = idx.read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == shape
    np.testing.assert_array_equal(got, array)
    assert got.flags.writeable and got.flags.c_contiguous


def test_gzip_told_by_magic_not_name(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    plain_named_gz = write(tmp_path / "x.gz", idx_bytes(array), gz=False)
    gz_named_plain = write(tmp_path / "x-idx3-ubyte", idx_bytes(array), gz=True)
    np.testing.assert_array_equal(idx.read_idx(plain_named_gz), array)
    np.testing.assert_array_equal(idx.read_idx(gz_named_plain), array)


def test_read_idx_reads_multibyte_values_big_endian(tmp_path):
    path = tmp_path / "a"
    path.write_bytes(b"\x00\x00\x0c\x01" + struct.pack(">I", 2) + struct.pack(">2i", 1, -2))
    np.testing.assert_array_equal(idx.read_idx(path), [1, -2])


GOOD = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "data, message",
    [
        (idx_bytes(GOOD, magic=b"\x08\x03"), "not an IDX file"),
        (idx_bytes(GOOD, magic=b"\x00\x01"), "not an IDX file"),
        (idx_bytes(GOOD, code=0x07), "unknown IDX type code 0x07"),
        (idx_bytes(GOOD, code=0x0A), "unknown IDX type code 0x0A"),
        (idx_bytes(GOOD, dims=()), "0 dimensions"),
        (idx_bytes(GOOD)[:10], "header is cut short"),
        (b"\x00\x00", "too short for an IDX header"),
        (idx_bytes(GOOD)[:-7], "need 60 bytes of data after the 16-byte header, found 53: the file is truncated"),
        (idx_bytes(GOOD) + b"\x00" * 3, "found 63"),
        (idx_bytes(GOOD, dims=(3, 4, 6)), "need 72 bytes"),
        (idx_bytes(GOOD, dims=(3, 4, 4)), "extra"),
        (idx_bytes(GOOD, dims=(4_000_000_000, 4_000_000_000, 4_000_000_000)), "x.idx"),
    ],
)
def test_header_and_payload_faults(tmp_path, gz, data, message):
    path = write(tmp_path / "x.idx", data, gz)
    with pytest.raises(DataError, match="x.idx") as info:
        idx.read_idx(path)
    assert message in str(info.value)


def test_broken_gzip_streams(tmp_path):
    data = gzip.compress(idx_bytes(np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.gz.*the \.gz file is truncated"):
        idx.read_idx(cut)
    flipped = bytearray(data)
    flipped[-6] ^= 0xFF  # inside the CRC32 trailer
    bad_crc = tmp_path / "crc.gz"
    bad_crc.write_bytes(bytes(flipped))
    with pytest.raises(DataError, match=r"crc\.gz: corrupt gzip data"):
        idx.read_idx(bad_crc)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope: no such file"):
        idx.read_idx(tmp_path / "nope")


# ---------------------------------------------------------------------------------------------- loaders


def test_registered_with_shape_classes_and_config():
    for name, cls in [("mnist", idx.Mnist), ("fashion_mnist", idx.FashionMnist)]:
        assert DATASETS.get(name) is cls
        assert cls.shape == (1, 28, 28) and cls.classes == 10
    loader = DATASETS.build({"type": "mnist", "path": "/x", "mirrors": ["http://h/"]})
    assert loader.path == "/x" and loader.mirrors == ["http://h/"]
    assert {"type": "mnist", "path": "/x", "mirrors": ["http://h/"]}.items() <= loader.get_config().items()
    with pytest.raises(ConfigError, match="mirrors"):
        DATASETS.build({"type": "mnist", "mirrors": []})
    with pytest.raises(ConfigError, match="unknown key"):
        DATASETS.build({"type": "mnist", "mirror": ["http://h/"]})


def test_fashion_class_names():
    assert idx.FashionMnist.class_names == [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
    assert idx.Mnist.class_names == [str(k) for k in range(10)]


def test_official_mirrors_and_checksums_are_well_formed():
    for cls in (idx.Mnist, idx.FashionMnist):
        files = cls().remote_files()
        assert [f.name for f in files] == [f"{stem}.gz" for stem in STEMS]
        for f in files:
            assert len(f.sha256) == 64 and len(f.md5) == 32 and f.size > 0
            int(f.sha256, 16), int(f.md5, 16)
            assert [u.rsplit("/", 1)[1] for u in f.urls] == [f.name] * len(cls.official_mirrors)
    assert idx.Mnist.published["train-labels-idx1-ubyte"].md5 == "d53e105ee54ea40749a09fcbcd1e9432"
    custom = idx.Mnist(mirrors=["http://a/b", "http://c/"]).remote_files()[0]
    assert custom.urls == ["http://a/b/train-images-idx3-ubyte.gz", "http://c/train-images-idx3-ubyte.gz"]


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_data_path(tmp_path, gz):
    arrays = make_dataset(tmp_path / "files", gz=gz)
    loader = idx.Mnist(path=str(tmp_path / "files"))
    assert loader.locate() == tmp_path / "files"
    dataset = loader.load_raw(0)
    check_loaded(dataset, arrays)
    assert dataset.class_names == [str(k) for k in range(10)]


def test_mixed_gz_and_raw_names(tmp_path):
    arrays = make_dataset(tmp_path / "files", gz=True)
    stem = "t10k-labels-idx1-ubyte"
    (tmp_path / "files" / f"{stem}.gz").unlink()
    write(tmp_path / "files" / stem, idx_bytes(arrays[stem]), gz=False)
    check_loaded(idx.Mnist(path=str(tmp_path / "files")).load_raw(0), arrays)


def test_load_from_nnrun_data(tmp_path, monkeypatch):
    arrays = make_dataset(tmp_path / "data" / "fashion_mnist")
    monkeypatch.setenv("NNRUN_DATA", str(tmp_path / "data"))
    dataset = idx.FashionMnist().load_raw(0)
    check_loaded(dataset, arrays, name="fashion_mnist")
    assert dataset.class_names[0] == "T-shirt/top" and dataset.class_names[9] == "Ankle boot"


def test_nnrun_data_comes_before_the_cache(tmp_path, monkeypatch):
    first = make_dataset(tmp_path / "data" / "mnist", seed=1)
    make_dataset(tmp_path / "xdg" / "nnrun" / "mnist", seed=2)
    monkeypatch.setenv("NNRUN_DATA", str(tmp_path / "data"))
    check_loaded(idx.Mnist().load_raw(0), first)


def test_load_from_the_cache_checks_published_checksums(tmp_path, monkeypatch):
    cache = tmp_path / "xdg" / "nnrun" / "mnist"
    arrays = make_dataset(cache)
    monkeypatch.setattr(idx.Mnist, "published", published_for(cache))
    assert idx.Mnist().locate() == cache
    check_loaded(idx.Mnist().load_raw(0), arrays)

    # the real checksums do not match these files: offline, that is an error naming the file to delete
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("NNRUN_OFFLINE", "1")
    monkeypatch.setattr(locate, "SYSTEM_DIRS", (tmp_path / "system",))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz is corrupt or incomplete.*\n.*delete it"):
        idx.Mnist().load_raw(0)
    assert (cache / "train-images-idx3-ubyte.gz").exists()  # offline, nothing is deleted


def test_uncompressed_files_put_in_the_cache_by_hand_are_read(tmp_path):
    arrays = make_dataset(tmp_path / "xdg" / "nnrun" / "mnist", gz=False)
    check_loaded(idx.Mnist().load_raw(0), arrays)


@pytest.mark.parametrize("spelling", ["fashion_mnist", "fashion-mnist"])
def test_load_from_system_folder(tmp_path, spelling):
    arrays = make_dataset(tmp_path / "system" / spelling)
    loader = idx.FashionMnist()
    assert loader.locate() == tmp_path / "system" / spelling
    check_loaded(loader.load_raw(0), arrays, name="fashion_mnist")


def test_a_folder_missing_one_file_is_skipped(tmp_path, monkeypatch):
    make_dataset(tmp_path / "data" / "mnist")
    (tmp_path / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    arrays = make_dataset(tmp_path / "system" / "mnist", seed=3)
    monkeypatch.setenv("NNRUN_DATA", str(tmp_path / "data"))
    check_loaded(idx.Mnist().load_raw(0), arrays)


def test_missing_everywhere_offline_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("NNRUN_DATA", str(tmp_path / "data"))
    with pytest.raises(DataError) as info:
        idx.Mnist().load_raw(0)
    text = str(info.value)
    assert "dataset 'mnist' not found" in text
    for place in [tmp_path / "data" / "mnist", tmp_path / "xdg" / "nnrun" / "mnist", tmp_path / "system" / "mnist"]:
        assert str(place) in text
    assert "train-images-idx3-ubyte[.gz]" in text
    assert "NNRUN_OFFLINE" in text and "ossci-datasets" in text


def test_missing_at_data_path_names_only_it(tmp_path, monkeypatch):
    monkeypatch.delenv("NNRUN_OFFLINE")  # even online, nothing is downloaded for an explicit data.path
    with pytest.raises(DataError) as info:
        idx.Mnist(path=str(tmp_path / "mine")).load_raw(0)
    text = str(info.value)
    assert f"data.path: {tmp_path / 'mine'}" in text and "user cache" not in text


def write_split(folder: Path, images: np.ndarray, labels: np.ndarray, **images_kw):
    make_dataset(folder)
    write(folder / "train-images-idx3-ubyte.gz", idx_bytes(images, **images_kw), gz=True)
    write(folder / "train-labels-idx1-ubyte.gz", idx_bytes(labels), gz=True)


@pytest.mark.parametrize(
    "images, labels, bad_file, message",
    [
        (np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 2, 10], np.uint8), "train-labels", "1 labels outside 0..9"),
        (np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 2], np.uint8), "train-labels", "3 labels for the 4 images"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros((4, 1), np.uint8), "train-labels", "shape (N,)"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.int32), "train-labels", "uint8 labels"),
        (np.zeros((4, 784), np.uint8), np.zeros(4, np.uint8), "train-images", "(N, 28, 28)"),
        (np.zeros((4, 28, 27), np.uint8), np.zeros(4, np.uint8), "train-images", "(N, 28, 28)"),
        (np.zeros((4, 28, 28), np.float32), np.zeros(4, np.uint8), "train-images", "found float32"),
    ],
)
def test_loader_rejects_inconsistent_files(tmp_path, images, labels, bad_file, message):
    write_split(tmp_path / "f", images, labels)
    with pytest.raises(DataError, match=bad_file) as info:
        idx.Mnist(path=str(tmp_path / "f")).load_raw(0)
    assert message in str(info.value)


def test_loader_reports_a_truncated_images_file_by_name(tmp_path):
    make_dataset(tmp_path / "f")
    target = tmp_path / "f" / "t10k-images-idx3-ubyte.gz"
    data = gzip.decompress(target.read_bytes())
    write(target, data[:-100], gz=True)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: .*found 3,820: the file is truncated"):
        idx.Mnist(path=str(tmp_path / "f")).load_raw(0)
