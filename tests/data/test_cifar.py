"""Tests for the CIFAR-10 loader: folder and tar.gz layouts, the official pixel layout, the restricted
unpickler (a pickle that would run code is refused and nothing runs), damaged files, and the download path."""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from nnrun.data import cifar, download, get_loader
from nnrun.data.cifar import Cifar10
from nnrun.errors import DataError
from nnrun.registry import DATASETS

NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
# the order of the members in the official cifar-10-python.tar.gz
TAR_ORDER = ["data_batch_4", "readme.html", "test_batch", "data_batch_3", "batches.meta", "data_batch_2", "data_batch_5", "data_batch_1"]  # fmt: skip


pytestmark = pytest.mark.usefixtures("isolated")  # tests/data/conftest.py


# --- writing CIFAR-style files ------------------------------------------------------------------------


def py2_pickle(obj) -> bytes:
    """obj pickled as Python 2's cPickle.dump(obj, f, 2) wrote the official batches: str as BINSTRING and
    numpy arrays through numpy.core.multiarray._reconstruct, with the dtype's Python 2 state."""
    out = bytearray(b"\x80\x02")

    def put(o):
        if isinstance(o, dict):
            out.extend(b"}(")
            for k, v in o.items():
                put(k)
                put(v)
            out.extend(b"u")
        elif isinstance(o, list):
            out.extend(b"](")
            for v in o:
                put(v)
            out.extend(b"e")
        elif isinstance(o, tuple):
            out.extend(b"(")
            for v in o:
                put(v)
            out.extend(b"t")
        elif isinstance(o, bytes):
            out.extend((b"U" + bytes([len(o)]) if len(o) < 256 else b"T" + struct.pack("<I", len(o))) + o)
        elif o is None:
            out.extend(b"N")
        elif isinstance(o, bool):
            out.extend(b"\x88" if o else b"\x89")
        elif isinstance(o, int):
            out.extend(b"J" + struct.pack("<i", o))
        elif isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
            put((0,))
            put(b"b")
            out.extend(b"\x87R(")  # TUPLE3 REDUCE, then MARK for the BUILD state
            put(1)
            put(tuple(o.shape))
            out.extend(b"cnumpy\ndtype\n")
            put((b"u1", 0, 1))
            out.extend(b"R")
            put((3, b"|", None, None, None, -1, -1, 0))
            out.extend(b"b")  # BUILD the dtype
            put(False)
            put(o.tobytes())
            out.extend(b"tb")  # the state tuple, BUILD the array
        else:
            raise TypeError(type(o))

    put(obj)
    return bytes(out + b".")


def dump(obj, protocol) -> bytes:
    return py2_pickle(obj) if protocol == "py2" else pickle.dumps(obj, protocol=protocol)


def make_batches(n: int = 4, seed: int = 0) -> dict[str, dict]:
    """The seven CIFAR files' contents (unpickled form), n images per batch."""
    rng = np.random.default_rng(seed)
    files = {}
    for name in [*cifar.TRAIN_BATCHES, "test_batch"]:
        files[name] = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        }
    files["batches.meta"] = {b"label_names": list(NAMES), b"num_cases_per_batch": n, b"num_vis": 3072}
    return files


def write_folder(root: Path, files: dict[str, dict], protocol="py2", raw: dict[str, bytes] | None = None) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).write_bytes(dump(content, protocol))
    for name, data in (raw or {}).items():
        (folder / name).write_bytes(data)
    return folder


def write_tar(path: Path, files: dict[str, dict], protocol="py2", raw: dict[str, bytes] | None = None) -> Path:
    blobs = {name: dump(content, protocol) for name, content in files.items()} | (raw or {})
    blobs.setdefault("readme.html", b"<html></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        order = [name for name in TAR_ORDER if name in blobs] + [name for name in blobs if name not in TAR_ORDER]
        for name in order:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blobs[name])
            tar.addfile(info, io.BytesIO(blobs[name]))
    return path


def expected(files: dict[str, dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x = np.concatenate([files[name][b"data"] for name in cifar.TRAIN_BATCHES]).reshape(-1, 3, 32, 32)
    y = np.concatenate([files[name][b"labels"] for name in cifar.TRAIN_BATCHES])
    test = files["test_batch"]
    return x, y, test[b"data"].reshape(-1, 3, 32, 32), np.array(test[b"labels"])


def load(path) -> object:
    return Cifar10(path=str(path)).load_raw(0)


# --- reading ------------------------------------------------------------------------------------------


def test_py2_writer_matches_numpy():
    """The Python 2 pickles these tests write are what numpy itself reads back (so the format is real)."""
    files = make_batches(3)
    content = pickle.loads(py2_pickle(files["data_batch_1"]), encoding="bytes")
    assert isinstance(content[b"data"], np.ndarray)
    assert np.array_equal(content[b"data"], files["data_batch_1"][b"data"])
    assert content[b"labels"] == files["data_batch_1"][b"labels"]


@pytest.mark.parametrize("layout", ["batches folder", "parent folder", "tar.gz", "folder with tar.gz"])
def test_layouts_load_the_same_arrays(tmp_path, layout):
    files = make_batches(4)
    if layout in ("batches folder", "parent folder"):
        folder = write_folder(tmp_path / "data", files)
        path = folder if layout == "batches folder" else folder.parent
    else:
        archive = write_tar(tmp_path / "data" / cifar.ARCHIVE, files)
        path = archive if layout == "tar.gz" else archive.parent
    ds = load(path)
    x, y, x_test, y_test = expected(files)
    assert ds.input_shape == (3, 32, 32) and ds.num_classes == 10
    assert ds.class_names == [n.decode() for n in NAMES]
    assert ds.summary() == {"train": 20, "test": 4}
    train, test = ds.splits["train"], ds.splits["test"]
    assert train.x.dtype == np.uint8 and train.x.shape == (20, 3, 32, 32) and train.y.dtype == np.int64
    assert np.array_equal(train.x, x) and np.array_equal(train.y, y)
    assert np.array_equal(test.x, x_test) and np.array_equal(test.y, y_test)


@pytest.mark.parametrize("protocol", ["py2", 2, 4, 5])
def test_pickle_protocols(tmp_path, protocol):
    """The official Python 2 files, and batches re-pickled by Python 3 (protocol 5 uses _frombuffer)."""
    files = make_batches(2)
    ds = load(write_folder(tmp_path, files, protocol))
    assert np.array_equal(ds.splits["train"].x, expected(files)[0])


def test_pixel_layout_is_the_official_row_major_one(tmp_path):
    """Row = 1024 red, 1024 green, 1024 blue, each 32x32 row-major: value k of image i lands at
    [i, k // 1024, (k % 1024) // 32, k % 32]; data_batch_2's image 1 is training image n + 1."""
    n = 3
    files = make_batches(n)
    row = files["data_batch_2"][b"data"][1]
    row[:] = 0
    spots = {(0, 0, 0): 11, (0, 0, 1): 12, (0, 1, 0): 13, (1, 5, 7): 14, (2, 31, 31): 15, (2, 0, 31): 16}
    for (c, h, w), value in spots.items():
        row[c * 1024 + h * 32 + w] = value
    x = load(write_tar(tmp_path / cifar.ARCHIVE, files)).splits["train"].x
    image = x[n + 1]
    for (c, h, w), value in spots.items():
        assert image[c, h, w] == value
    assert np.count_nonzero(image) == len(spots)


def test_load_applies_the_common_preprocessing(tmp_path):
    ds = get_loader({"dataset": "cifar10", "path": str(write_folder(tmp_path, make_batches(4))), "val": 5}).load(0)
    assert ds.summary() == {"train": 15, "val": 5, "test": 4}
    assert ds.input_shape == (3, 32, 32)


def test_config_round_trip_and_list_attributes():
    loader = DATASETS.build({"type": "cifar10", "path": "/x", "mirrors": ["https://example.org/"]})
    assert DATASETS.build(loader.get_config()).get_config() == loader.get_config()
    assert Cifar10.shape == (3, 32, 32) and Cifar10.classes == 10


# --- the restricted unpickler -------------------------------------------------------------------------


class RunsACommand:
    """Pickles as a call to os.system: what a tampered batch would do."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_pickle_calling_os_system_is_refused_and_not_run(tmp_path):
    proof = tmp_path / "ran"
    files = make_batches(2)
    payload = pickle.dumps({b"data": RunsACommand(f"touch {proof}"), b"labels": [0, 1]}, protocol=2)
    folder = write_folder(tmp_path / "data", files, raw={"data_batch_3": payload})
    assert b"system" in payload
    with pytest.raises(DataError, match=r"refusing to load (posix|nt|os)\.system from .*data_batch_3") as info:
        load(folder)
    assert "malicious" in info.value.hint
    assert not proof.exists()
    # the same payload runs when unpickled normally: the test's proof file works
    pickle.loads(payload)
    assert proof.exists()


def test_a_global_opcode_in_an_archive_is_refused_and_not_run(tmp_path):
    proof = tmp_path / "ran"
    code = f"open({str(proof)!r}, 'w').write('x')".encode()
    # GLOBAL builtins.exec, the code as a BINSTRING, TUPLE1, REDUCE
    payload = b"\x80\x02cbuiltins\nexec\nT" + struct.pack("<I", len(code)) + code + b"\x85R."
    archive = write_tar(tmp_path / cifar.ARCHIVE, make_batches(2), raw={"batches.meta": payload})
    with pytest.raises(DataError, match=r"refusing to load builtins\.exec from batches\.meta in .*cifar-10-python"):
        load(archive)
    assert not proof.exists()


def opcodes_array(dtype_descr: bytes, shape: tuple, raw: bytes) -> bytes:
    """A pickle of {b"data": <array built by _reconstruct>, b"labels": [...]} with a chosen dtype and payload."""
    head = b"\x80\x02}(U\x04datacnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R(K\x01"
    dims = b"(" + b"".join(b"J" + struct.pack("<i", d) for d in shape) + b"t"
    dtype = b"cnumpy\ndtype\nU" + bytes([len(dtype_descr)]) + dtype_descr + b"K\x00K\x01\x87R"
    dtype += b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    labels = b"U\x06labels](" + b"K\x00" * shape[0] + b"e"
    return head + dims + dtype + b"\x89T" + struct.pack("<I", len(raw)) + raw + b"tb" + labels + b"u."


def test_array_stand_ins_accept_only_plain_uint8(tmp_path):
    good = opcodes_array(b"u1", (2, 3072), bytes(2 * 3072))
    folder = write_folder(tmp_path / "ok", make_batches(2), raw={"data_batch_1": good})
    assert np.array_equal(load(folder).splits["train"].x[:2], np.zeros((2, 3, 32, 32), np.uint8))
    # an object array would make numpy unpickle the payload: refused before any numpy code sees it
    for descr, shape, raw, message in [
        (b"O", (2, 3072), bytes(16), "not a uint8 numpy array"),
        (b"u1", (2, 3072), bytes(100), "holds 100 bytes for shape"),
        (b"u1", (2, 3000), bytes(6000), r"shape \(2, 3000\), expected \(10000, 3072\)"),
    ]:
        folder = write_folder(tmp_path / descr.decode() / str(len(raw)), make_batches(2),
                              raw={"data_batch_1": opcodes_array(descr, shape, raw)})  # fmt: skip
        with pytest.raises(DataError, match=message):
            load(folder)


def test_calling_the_ndarray_stand_in_is_refused(tmp_path):
    payload = b"\x80\x02}(U\x04datacnumpy\nndarray\nK\x01\x85RU\x06labels](eu."
    folder = write_folder(tmp_path, make_batches(2), raw={"test_batch": payload})
    with pytest.raises(DataError, match="cannot read .*test_batch: TypeError"):
        load(folder)


# --- damaged and inconsistent files -------------------------------------------------------------------


def test_truncated_archive(tmp_path):
    archive = write_tar(tmp_path / cifar.ARCHIVE, make_batches(50))
    data = archive.read_bytes()
    # cut in the middle, and inside the last member (data_batch_1); a cut in the gzip trailer after
    # the last member loads, as every batch is then complete and checked
    for cut in (len(data) // 2, len(data) - 2000):
        archive.write_bytes(data[:cut])
        with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz") as info:
            load(archive)
        assert "download" in info.value.hint


def test_not_an_archive(tmp_path):
    (tmp_path / cifar.ARCHIVE).write_bytes(b"<html>502 Bad Gateway</html>")
    with pytest.raises(DataError, match="cannot read the archive .*cifar-10-python.tar.gz"):
        load(tmp_path / cifar.ARCHIVE)


def test_truncated_batch_file(tmp_path):
    files = make_batches(2)
    folder = write_folder(tmp_path, files, raw={"data_batch_4": py2_pickle(files["data_batch_4"])[:-2000]})
    with pytest.raises(DataError, match="cannot read .*data_batch_4"):
        load(folder)


@pytest.mark.parametrize(
    "batch, change, message",
    [
        ("data_batch_2", {b"data": np.zeros((2, 3000), np.uint8)}, r"data_batch_2: data has shape \(2, 3000\)"),
        ("data_batch_5", {b"labels": [0, 10]}, r"data_batch_5: labels span 0..10, expected 0..9"),
        ("test_batch", {b"labels": [1]}, "test_batch: 1 labels for 2 images"),
        ("data_batch_1", {b"labels": b"\x00\x01"}, "data_batch_1: labels must be a list of ints"),
        (
            "data_batch_3",
            {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 0, 0]},
            "data_batch_3 has 3 images but the other",
        ),  # fmt: skip
        ("batches.meta", {b"label_names": NAMES[:9]}, "batches.meta: label_names must be a list of 10 strings"),
    ],
)
def test_wrong_contents_name_the_file(tmp_path, batch, change, message):
    files = make_batches(2)
    files[batch] = files[batch] | change
    with pytest.raises(DataError, match=message):
        load(write_folder(tmp_path, files))


def test_missing_members_are_named(tmp_path):
    files = make_batches(2)
    del files["test_batch"], files["batches.meta"]
    with pytest.raises(DataError, match="has no test_batch, batches.meta"):
        load(write_tar(tmp_path / cifar.ARCHIVE, files))
    del files["data_batch_1"]  # the folder is then not recognised as CIFAR at all
    with pytest.raises(DataError, match="not found"):
        load(write_folder(tmp_path / "f", files).parent)


# --- finding and downloading --------------------------------------------------------------------------


def test_not_found_lists_the_places_and_the_url(tmp_path):
    with pytest.raises(DataError, match="dataset 'cifar10' not found") as info:
        Cifar10().load_raw(0)
    assert str(tmp_path / "xdg" / "nnrun" / "cifar10") in info.value.what
    assert "https://www.cs.toronto.edu/~kriz/" in info.value.hint
    with pytest.raises(DataError, match=f"data.path: {tmp_path / 'nowhere'}"):
        load(tmp_path / "nowhere")


def test_found_in_nnrun_data(tmp_path, monkeypatch):
    files = make_batches(2)
    write_tar(tmp_path / "store" / "cifar10" / cifar.ARCHIVE, files)
    monkeypatch.setenv("NNRUN_DATA", str(tmp_path / "store"))
    loader = Cifar10()
    assert loader.locate() == tmp_path / "store" / "cifar10" / cifar.ARCHIVE
    assert np.array_equal(loader.load_raw(0).splits["test"].x, expected(files)[2])


def test_download_goes_to_the_cache_with_the_published_checksums(tmp_path, monkeypatch):
    monkeypatch.setenv("NNRUN_OFFLINE", "0")
    files = make_batches(2)
    calls = []

    def fake_download(remotes, dest, **kw):
        calls.append((remotes, Path(dest)))
        write_tar(Path(dest) / cifar.ARCHIVE, files)

    monkeypatch.setattr(download, "download", fake_download)
    ds = Cifar10(mirrors=["https://mirror.example/cifar"]).load_raw(0)
    assert np.array_equal(ds.splits["train"].x, expected(files)[0])
    (remote,), dest = calls[0]
    assert dest == tmp_path / "xdg" / "nnrun" / "cifar10"
    assert remote.name == "cifar-10-python.tar.gz" and remote.urls == [
        "https://mirror.example/cifar/cifar-10-python.tar.gz"
    ]
    assert (remote.sha256, remote.md5, remote.size) == (cifar.SHA256, "c58f30108f718f92721af3b95e74349a", 170_498_071)
    assert Cifar10().locate() == dest / cifar.ARCHIVE  # present now


# --- memory -------------------------------------------------------------------------------------------


def test_peak_memory_is_the_final_arrays_plus_about_two_batches(tmp_path):
    n = 1000  # a tenth of the official batch size
    folder = write_folder(tmp_path, make_batches(n))
    tracemalloc.start()
    try:
        ds = load(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    final = ds.splits["train"].x.nbytes + ds.splits["test"].x.nbytes
    batch = n * 3072
    assert final == 6 * batch
    # the final arrays, the batch being unpickled and the one being copied (concatenating would need 2x)
    assert peak < final + 2.5 * batch, (peak, final)
