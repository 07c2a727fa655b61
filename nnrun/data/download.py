"""Downloads for the datasets that publish their files: mirrors tried in turn, retries, checksums, atomic moves.

A file streams into a temporary file in the destination folder, hashed as it arrives, and is moved into
place with os.replace only once its size and checksum match, so the cache never holds half a file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nnrun.data import locate
from nnrun.errors import DataError

CHUNK = 1 << 20
USER_AGENT = "nnrun dataset download (python urllib)"
# Worth another attempt at the same URL; any other HTTP status (404, 403, ...) moves on to the next mirror.
RETRY_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class RemoteFile:
    """A published file: its name in the destination folder, mirror URLs tried in turn, and what it must be.

    sha256 is checked when known, else md5 (older datasets publish only md5); size is checked when given.
    """

    name: str
    urls: list[str] = field(default_factory=list)
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None


class Failure(Exception):
    """One attempt at one URL failed; `retry` says whether the same URL is worth another attempt."""

    def __init__(self, reason: str, retry: bool):
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


class Hasher:
    """Size and the digest a RemoteFile is checked by, fed chunk by chunk."""

    def __init__(self, remote: RemoteFile):
        self.size = 0
        if remote.sha256:
            self.kind, self.expected, self.digest = "sha256", remote.sha256.lower(), hashlib.sha256()
        elif remote.md5:
            self.kind, self.expected = "md5", remote.md5.lower()
            self.digest = hashlib.md5(usedforsecurity=False)
        else:
            self.kind = self.expected = self.digest = None
        self.expected_size = remote.size

    def update(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self.digest is not None:
            self.digest.update(chunk)

    def problem(self) -> str | None:
        """What is wrong with the bytes seen so far as the whole file, or None when they match."""
        if self.expected_size is not None and self.size != self.expected_size:
            return f"size mismatch: expected {self.expected_size:,} bytes, got {self.size:,}"
        if self.digest is not None and self.digest.hexdigest() != self.expected:
            return f"checksum mismatch: {self.kind} expected {self.expected}, got {self.digest.hexdigest()}"
        return None


def verify(path: Path, remote: RemoteFile) -> str | None:
    """What is wrong with a file on disk compared with what was published, or None when it matches."""
    if remote.size is not None and path.stat().st_size != remote.size:
        return f"size mismatch: expected {remote.size:,} bytes, got {path.stat().st_size:,}"
    hasher = Hasher(remote)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
    return hasher.problem()


def download(
    files: list[RemoteFile],
    dest: Path,
    *,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float = 30,
    progress: bool = True,
) -> None:
    """Make every file present and verified in dest, downloading the ones that are missing or corrupt.

    Each mirror gets `retries` attempts (sleeping backoff * 2**k between them) for failures that may pass
    (refused connections, timeouts, 5xx, cut transfers); a 4xx or a checksum mismatch moves on at once.
    Offline (NNRUN_OFFLINE), a missing or corrupt file is a DataError and nothing touches the network.
    """
    dest = Path(dest)
    console = _console() if progress else None
    needed = []
    for remote in files:
        target = dest / remote.name
        if not target.exists():
            needed.append(remote)
            continue
        problem = verify(target, remote)
        if problem is None:
            continue
        if locate.offline():
            raise DataError(
                f"{target} is corrupt or incomplete ({problem})",
                hint=f"delete it (rm '{target}') and run again with downloads allowed, or put a good copy there",
            )
        if console is not None:
            console.print(f"[yellow]{target} is corrupt or incomplete ({problem}); downloading it again[/]")
        target.unlink()
        needed.append(remote)
    if not needed:
        return
    if locate.offline():
        names = ", ".join(remote.name for remote in needed)
        raise DataError(
            f"downloads are off (NNRUN_OFFLINE=1 or --offline) and {dest} lacks {names}",
            hint=f"download them by hand ({_first_urls(needed)}) and put them in {dest}, "
            "or allow downloads (unset NNRUN_OFFLINE, drop --offline)",
        )
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create the download folder {dest}: {error.strerror}") from None
    bar = _progress(console) if console is not None else None
    try:
        if bar is not None:
            bar.start()
        for remote in needed:
            _download_one(remote, dest, retries=retries, backoff=backoff, timeout=timeout, bar=bar)
    finally:
        if bar is not None:
            bar.stop()


def _download_one(remote: RemoteFile, dest: Path, *, retries: int, backoff: float, timeout: float, bar) -> None:
    failures = []
    for url in remote.urls:
        attempts = 0
        for k in range(max(retries, 1)):
            attempts += 1
            try:
                _fetch(url, remote, dest, timeout=timeout, bar=bar)
                return
            except Failure as failure:
                reason = failure.reason
                if not failure.retry:
                    break
            if k + 1 < retries:
                time.sleep(backoff * 2**k)
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        failures.append(f"    {url}: {reason}{tries}")
    listed = "\n".join(failures) if failures else "    (no URLs given)"
    checks = ["sha256"] if remote.sha256 else ["md5"] if remote.md5 else []
    checks += ["size"] if remote.size is not None else []
    checked = f" (it is checked against the published {' and '.join(checks)})" if checks else ""
    raise DataError(
        f"could not download {remote.name}:\n{listed}",
        hint=f"download it by hand from one of those URLs and put it in {dest}{checked}",
    )


def _fetch(url: str, remote: RemoteFile, dest: Path, *, timeout: float, bar) -> None:
    """One attempt: stream url into a temp file in dest, verify it, os.replace it into place."""
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{remote.name}.", suffix=".part")
    except OSError as error:
        raise DataError(f"cannot write to the download folder {dest}: {error.strerror}") from None
    tmp = Path(tmp_name)
    task = None
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
                response = urllib.request.urlopen(request, timeout=timeout)
            except ValueError as error:  # not a URL urllib can open ("unknown url type")
                raise Failure(str(error), retry=False) from None
            except urllib.error.HTTPError as error:
                error.close()
                raise Failure(f"HTTP {error.code} {error.reason}", retry=error.code in RETRY_STATUS) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
                reason = error.reason if isinstance(error, urllib.error.URLError) else error
                # an unknown host stays unknown; anything else (refused, timeout, DNS hiccup) may pass
                unknown_host = isinstance(reason, socket.gaierror) and reason.errno == socket.EAI_NONAME
                raise Failure(_network_reason(error, timeout), retry=not unknown_host) from None
            with response:
                length = response.headers.get("Content-Length")
                length = int(length) if length and length.isdigit() else None
                if length is not None and remote.size is not None and length != remote.size:
                    raise Failure(f"the server offers {length:,} bytes, expected {remote.size:,}", retry=False)
                if bar is not None:
                    task = bar.add_task(remote.name, total=length or remote.size)
                hasher = Hasher(remote)
                try:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        hasher.update(chunk)
                        if task is not None:
                            bar.advance(task, len(chunk))
                except (OSError, http.client.HTTPException) as error:
                    raise Failure(
                        f"transfer cut after {hasher.size:,} bytes ({_network_reason(error, timeout)})", retry=True
                    ) from None
                if length is not None and hasher.size != length:
                    raise Failure(f"transfer cut after {hasher.size:,} of {length:,} bytes", retry=True)
        problem = hasher.problem()
        if problem is not None:
            raise Failure(problem, retry=False)
        os.replace(tmp, dest / remote.name)
    finally:
        # Whatever went wrong (including Ctrl-C), no partial file stays behind; after os.replace tmp is gone.
        tmp.unlink(missing_ok=True)
        if task is not None:
            bar.remove_task(task)


def _network_reason(error: BaseException, timeout: float) -> str:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host ({reason.strerror})"
    if isinstance(reason, http.client.IncompleteRead):
        return "connection closed early"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _first_urls(files: list[RemoteFile]) -> str:
    urls = [remote.urls[0] for remote in files if remote.urls]
    bases = sorted({url.rsplit("/", 1)[0] + "/" for url in urls})
    return ", ".join(bases) if bases else "no known URL"


def _console():
    from rich.console import Console  # imported here: only needed when there is something to show

    return Console(stderr=True)


def _progress(console):
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def fetch(
    name: str,
    files: list[RemoteFile],
    present: Callable[[Path], bool],
    *,
    path: str | Path | None,
    expected: str,
    progress: bool | None = None,
    **download_kw,
) -> Path:
    """The folder holding a dataset: the first search place (see locate) that has it, else the cache after
    downloading `files` into it. Files in the cache are checked against their published checksums (a corrupt
    one is fetched again); files elsewhere are the user's and only read.

    A configured `path` is the only place looked in and nothing is downloaded for it. Missing everywhere
    (offline, or every mirror failed) is locate.not_found's DataError, listing the places.
    """
    cache = locate.cache_dir(name)
    place = locate.find(name, present, path)
    if place is not None and place != cache:
        return place
    if path is not None:
        how = f"put the files in {path}, or remove data.path to search the default places and download"
        raise locate.not_found(name, path, expected, how)
    if progress is None:
        progress = sys.stderr.isatty()
    if place is None and locate.offline():
        how = (
            f"downloads are off (NNRUN_OFFLINE=1 or --offline): download the files by hand ({_first_urls(files)}) "
            f"into {cache} or $NNRUN_DATA/{name}, or allow downloads"
        )
        raise locate.not_found(name, None, expected, how)
    if place == cache:
        # Present, perhaps as files a user put there by hand under other names (uncompressed, say): only the
        # downloaded names have a published checksum to compare with. Offline, a corrupt one is an error
        # that names it; online it is fetched again.
        files = [f for f in files if (cache / f.name).exists()]
    try:
        download(files, cache, progress=progress, **download_kw)
    except DataError as error:
        if locate.offline():
            raise
        raise locate.not_found(name, None, expected, f"{error.what}\n  {error.hint}") from None
    if not present(cache):  # a file list that does not match `present`: a bug in the loader, not the user's
        raise DataError(f"downloaded {', '.join(f.name for f in files)} into {cache}, but '{name}' is still incomplete")
    return cache
