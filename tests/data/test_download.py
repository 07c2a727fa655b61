"""Downloads against a loopback HTTP server: mirrors, retries, checksums, cut transfers, offline, the cache."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from nnrun.data import download, idx, locate
from nnrun.data.download import RemoteFile
from nnrun.errors import DataError
from tests.helpers import closed_port
from tests.helpers.idx_files import STEMS, check_loaded, make_dataset, published_for

FAST = {"retries": 2, "backoff": 0, "timeout": 2, "progress": False}


class Handler(http.server.BaseHTTPRequestHandler):
    """GET /<mode>/<name>: ok (the file), cut (half of it under the full Content-Length, then close),
    nolength (half of it, no Content-Length), fail (500), slow (sleeps past the client's timeout)."""

    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        mode, _, name = self.path.lstrip("/").partition("/")
        body = server.files.get(name)
        if body is None or mode not in ("ok", "cut", "nolength", "fail", "slow"):
            self.send_error(404)
            return
        if mode == "fail":
            self.send_error(500)
            return
        if mode == "slow":
            time.sleep(server.delay)
        try:
            self.send_response(200)
            if mode != "nolength":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if mode in ("ok", "slow") else body[: len(body) // 2])
        except OSError:  # the client gave up (slow): nothing to answer
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.files, httpd.requests, httpd.delay = {}, [], 1.0
    httpd.handle_error = lambda request, address: None
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(name="closed_port")
def closed_url():
    """A loopback URL on which nothing listens: connections are refused."""
    return f"http://127.0.0.1:{closed_port()}"


@pytest.fixture(autouse=True)
def online(tmp_path, monkeypatch):
    monkeypatch.delenv("NNRUN_OFFLINE", raising=False)
    monkeypatch.delenv("NNRUN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(locate, "SYSTEM_DIRS", (tmp_path / "system",))


def payload(n=300_000, seed=0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def remote(name, body, urls, *, sha256=True, md5=False, size=True) -> RemoteFile:
    return RemoteFile(
        name,
        urls,
        sha256=hashlib.sha256(body).hexdigest() if sha256 else None,
        md5=hashlib.md5(body, usedforsecurity=False).hexdigest() if md5 else None,
        size=len(body) if size else None,
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("digest", ["sha256", "md5", "none"])
def test_download_verifies_and_moves_into_place(server, tmp_path, digest):
    body = payload()
    server.files["a.bin"] = body
    f = remote("a.bin", body, [f"{server.base}/ok/a.bin"], sha256=digest == "sha256", md5=digest == "md5")
    download.download([f], tmp_path / "dest", **FAST)
    assert (tmp_path / "dest" / "a.bin").read_bytes() == body
    assert leftovers(tmp_path / "dest") == ["a.bin"]
    # present and verified: no second request
    download.download([f], tmp_path / "dest", **FAST)
    assert server.requests == ["/ok/a.bin"]


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    body = payload()
    server.files["a.bin"] = body
    f = RemoteFile("a.bin", [f"{server.base}/ok/a.bin"], sha256="0" * 64, size=len(body))
    with pytest.raises(DataError) as info:
        download.download([f], tmp_path / "dest", **FAST)
    text = str(info.value)
    assert f"{server.base}/ok/a.bin: checksum mismatch: sha256 expected {'0' * 64}, got " in text
    assert hashlib.sha256(body).hexdigest() in text
    assert f"put it in {tmp_path / 'dest'}" in text
    assert leftovers(tmp_path / "dest") == []
    assert server.requests == ["/ok/a.bin"]  # a wrong file is not fetched again from the same mirror


def test_md5_mismatch_is_reported_as_md5(server, tmp_path):
    server.files["a.bin"] = payload()
    f = RemoteFile("a.bin", [f"{server.base}/ok/a.bin"], md5="f" * 32)
    with pytest.raises(DataError, match=f"md5 expected {'f' * 32}, got"):
        download.download([f], tmp_path / "dest", **FAST)
    assert leftovers(tmp_path / "dest") == []


def test_first_mirror_down_second_ok(server, closed_port, tmp_path):
    body = payload()
    server.files["a.bin"] = body
    f = remote("a.bin", body, [f"{closed_port}/a.bin", f"{server.base}/ok/a.bin"])
    download.download([f], tmp_path / "dest", **FAST)
    assert (tmp_path / "dest" / "a.bin").read_bytes() == body
    assert server.requests == ["/ok/a.bin"]


def test_everything_down_lists_each_url_and_failure(closed_port, tmp_path):
    body = payload(100)
    urls = [f"{closed_port}/one/a.bin", f"{closed_port}/two/a.bin"]
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        download.download([remote("a.bin", body, urls)], tmp_path / "dest", retries=3, backoff=0, timeout=2)
    assert time.perf_counter() - start < 5
    text = str(info.value)
    assert "could not download a.bin" in text
    for url in urls:
        assert f"{url}: connection refused (3 attempts)" in text
    assert "download it by hand" in text and str(tmp_path / "dest") in text
    assert leftovers(tmp_path / "dest") == []


def test_server_errors_are_retried_then_next_mirror(server, tmp_path):
    body = payload()
    server.files["a.bin"] = body
    f = remote("a.bin", body, [f"{server.base}/fail/a.bin", f"{server.base}/ok/a.bin"])
    download.download([f], tmp_path / "dest", retries=3, backoff=0, timeout=2, progress=False)
    assert server.requests == ["/fail/a.bin"] * 3 + ["/ok/a.bin"]
    assert (tmp_path / "dest" / "a.bin").read_bytes() == body


def test_not_found_is_not_retried(server, tmp_path):
    f = remote("a.bin", b"x", [f"{server.base}/ok/missing.bin"])
    with pytest.raises(DataError, match=r"/ok/missing\.bin: HTTP 404 Not Found\n"):
        download.download([f], tmp_path / "dest", retries=3, backoff=0, timeout=2, progress=False)
    assert server.requests == ["/ok/missing.bin"]


def test_backoff_sleeps_double_each_time(server, tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    server.files["a.bin"] = b"x"
    f = remote("a.bin", b"x", [f"{server.base}/fail/a.bin"])
    with pytest.raises(DataError, match="HTTP 500"):
        download.download([f], tmp_path / "dest", retries=4, backoff=0.5, timeout=2, progress=False)
    assert sleeps == [0.5, 1.0, 2.0]  # between the 4 attempts, none after the last


@pytest.mark.parametrize("mode", ["cut", "nolength"])
def test_cut_transfer_leaves_no_file(server, tmp_path, mode):
    body = payload()
    server.files["a.bin"] = body
    f = remote("a.bin", body, [f"{server.base}/{mode}/a.bin"])
    with pytest.raises(DataError) as info:
        download.download([f], tmp_path / "dest", **FAST)
    expected = "transfer cut after 150,000 of 300,000 bytes" if mode == "cut" else "size mismatch"
    assert expected in str(info.value)
    assert leftovers(tmp_path / "dest") == []


def test_cut_transfer_then_good_mirror(server, tmp_path):
    body = payload()
    server.files["a.bin"] = body
    f = remote("a.bin", body, [f"{server.base}/cut/a.bin", f"{server.base}/ok/a.bin"])
    download.download([f], tmp_path / "dest", **FAST)
    assert (tmp_path / "dest" / "a.bin").read_bytes() == body
    assert server.requests == ["/cut/a.bin", "/cut/a.bin", "/ok/a.bin"]


def test_wrong_content_length_is_refused_before_reading(server, tmp_path):
    body = payload()
    server.files["a.bin"] = body
    f = RemoteFile("a.bin", [f"{server.base}/ok/a.bin"], size=len(body) + 1)
    with pytest.raises(DataError, match="the server offers 300,000 bytes, expected 300,001"):
        download.download([f], tmp_path / "dest", **FAST)


def test_timeout(server, tmp_path):
    server.files["a.bin"] = b"x"
    f = remote("a.bin", b"x", [f"{server.base}/slow/a.bin"])
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"slow/a\.bin: timed out after 0\.3 s"):
        download.download([f], tmp_path / "dest", retries=1, backoff=0, timeout=0.3, progress=False)
    assert time.perf_counter() - start < 0.9


def test_interrupted_download_leaves_no_partial_file(server, tmp_path, monkeypatch):
    body = payload(3_000_000)
    server.files["a.bin"] = body

    def interrupt(self, chunk):
        raise KeyboardInterrupt

    monkeypatch.setattr(download.Hasher, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        download.download([remote("a.bin", body, [f"{server.base}/ok/a.bin"])], tmp_path / "dest", **FAST)
    assert leftovers(tmp_path / "dest") == []


def test_bad_url_is_a_failure_not_a_crash(tmp_path):
    with pytest.raises(DataError, match="not-a-url/a.bin: unknown url type"):
        download.download([RemoteFile("a.bin", ["not-a-url/a.bin"])], tmp_path / "dest", **FAST)


@pytest.mark.parametrize("code, attempts", [(socket.EAI_NONAME, 1), (socket.EAI_AGAIN, 3)])
def test_unknown_host_is_not_retried_but_a_dns_hiccup_is(tmp_path, monkeypatch, code, attempts):
    calls = []

    def urlopen(request, timeout):
        calls.append(request.full_url)
        raise urllib.error.URLError(socket.gaierror(code, "no such host"))

    monkeypatch.setattr(download.urllib.request, "urlopen", urlopen)
    with pytest.raises(DataError, match="cannot resolve the host"):
        download.download([RemoteFile("a.bin", ["http://h.invalid/a.bin"])], tmp_path, retries=3, backoff=0)
    assert len(calls) == attempts


def test_offline_makes_no_request(server, tmp_path, monkeypatch):
    body = payload()
    server.files["a.bin"] = body
    monkeypatch.setenv("NNRUN_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        download.download([remote("a.bin", body, [f"{server.base}/ok/a.bin"])], tmp_path / "dest", **FAST)
    text = str(info.value)
    assert "NNRUN_OFFLINE" in text and "--offline" in text and f"put them in {tmp_path / 'dest'}" in text
    assert server.requests == []


def test_truncated_cached_file(server, tmp_path, monkeypatch):
    body = payload()
    server.files["a.bin"] = body
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.bin").write_bytes(body[:1000])
    f = remote("a.bin", body, [f"{server.base}/ok/a.bin"])

    monkeypatch.setenv("NNRUN_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        download.download([f], dest, **FAST)
    text = str(info.value)
    assert f"{dest / 'a.bin'} is corrupt or incomplete (size mismatch: expected 300,000 bytes, got 1,000)" in text
    assert f"rm '{dest / 'a.bin'}'" in text
    assert server.requests == [] and (dest / "a.bin").stat().st_size == 1000

    monkeypatch.delenv("NNRUN_OFFLINE")
    download.download([f], dest, **FAST)  # online: replaced by a good copy
    assert (dest / "a.bin").read_bytes() == body
    assert server.requests == ["/ok/a.bin"]


def test_same_size_corrupt_cached_file_is_caught_by_the_hash(server, tmp_path):
    body = payload()
    server.files["a.bin"] = body
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.bin").write_bytes(bytes(len(body)))
    download.download([remote("a.bin", body, [f"{server.base}/ok/a.bin"])], dest, **FAST)
    assert (dest / "a.bin").read_bytes() == body


def test_progress_bar_goes_to_stderr(server, tmp_path, capsys):
    body = payload()
    server.files["a.bin"] = body
    download.download([remote("a.bin", body, [f"{server.base}/ok/a.bin"])], tmp_path / "dest", progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (tmp_path / "dest" / "a.bin").read_bytes() == body


# ---------------------------------------------------------------------------------------------- loaders


@pytest.fixture
def mnist_files(server, tmp_path, monkeypatch):
    """Small MNIST-format .gz files served at /ok/, with the loader's checksums swapped for theirs."""
    arrays = make_dataset(tmp_path / "served")
    for stem in STEMS:
        server.files[f"{stem}.gz"] = (tmp_path / "served" / f"{stem}.gz").read_bytes()
    monkeypatch.setattr(idx.Mnist, "published", published_for(tmp_path / "served"))
    monkeypatch.setattr(download.time, "sleep", lambda seconds: None)  # the loader's default backoff
    return arrays


def test_mnist_end_to_end_download(server, closed_port, tmp_path, monkeypatch, mnist_files):
    loader = idx.Mnist(mirrors=[closed_port, f"{server.base}/ok/"])
    assert loader.locate() is None
    dataset = loader.load_raw(0)
    check_loaded(dataset, mnist_files)
    cache = tmp_path / "xdg" / "nnrun" / "mnist"
    assert leftovers(cache) == sorted(f"{stem}.gz" for stem in STEMS)
    assert sorted(server.requests) == sorted(f"/ok/{stem}.gz" for stem in STEMS)
    assert loader.locate() == cache

    # next time the cache is used (and verified) without a request, online or offline
    check_loaded(loader.load_raw(0), mnist_files)
    monkeypatch.setenv("NNRUN_OFFLINE", "1")
    check_loaded(idx.Mnist().load_raw(0), mnist_files)
    assert len(server.requests) == 4


def test_mnist_corrupt_cache_file_is_fetched_again(server, tmp_path, mnist_files):
    idx.Mnist(mirrors=[f"{server.base}/ok/"]).load_raw(0)
    cached = tmp_path / "xdg" / "nnrun" / "mnist" / "t10k-images-idx3-ubyte.gz"
    cached.write_bytes(cached.read_bytes()[:-10])
    check_loaded(idx.Mnist(mirrors=[f"{server.base}/ok/"]).load_raw(0), mnist_files)
    assert server.requests[-1] == "/ok/t10k-images-idx3-ubyte.gz" and len(server.requests) == 5


def test_mnist_download_failure_lists_places_and_urls(server, closed_port, tmp_path, mnist_files):
    server.files["train-labels-idx1-ubyte.gz"] = gzip.compress(b"not the labels")
    with pytest.raises(DataError) as info:
        idx.Mnist(mirrors=[f"{server.base}/ok/", closed_port]).load_raw(0)
    text = str(info.value)
    assert "dataset 'mnist' not found" in text
    assert str(tmp_path / "xdg" / "nnrun" / "mnist") in text and str(tmp_path / "system" / "mnist") in text
    assert f"{server.base}/ok/train-labels-idx1-ubyte.gz: the server offers" in text
    assert f"{closed_port}/train-labels-idx1-ubyte.gz: connection refused" in text
    # the files that did verify stay in the cache; the bad one left nothing behind
    assert "train-labels-idx1-ubyte.gz" not in leftovers(tmp_path / "xdg" / "nnrun" / "mnist")
    assert not [name for name in leftovers(tmp_path / "xdg" / "nnrun" / "mnist") if name.endswith(".part")]


def test_mnist_offline_and_missing_makes_no_request(server, tmp_path, monkeypatch, mnist_files):
    monkeypatch.setenv("NNRUN_OFFLINE", "1")
    with pytest.raises(DataError, match="not found(.|\n)*NNRUN_OFFLINE"):
        idx.Mnist(mirrors=[f"{server.base}/ok/"]).load_raw(0)
    assert server.requests == []


def test_files_outside_the_cache_are_never_checksummed_or_deleted(server, tmp_path, monkeypatch, mnist_files):
    # e.g. Debian's recompressed .gz files: same contents, other bytes than the published archives
    system = tmp_path / "system" / "mnist"
    arrays = make_dataset(system, seed=5)
    check_loaded(idx.Mnist(mirrors=[f"{server.base}/ok/"]).load_raw(0), arrays)
    assert server.requests == [] and len(leftovers(system)) == 4
