"""File formats at the bottom of nnrun: atomic writes, .npz, CSV and YAML text. Everything may use it.

Every results file is written to a temporary file in the same folder and renamed into place, so a crash
leaves the old or the new file, never half of one.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nnrun.errors import WriteError

# --- atomic writes ----------------------------------------------------------------------------


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file renamed into place, with the mode any new file gets.

    An OSError (disk full, quota, permissions) becomes a WriteError naming the file; the temporary file is
    removed and the previous version of `path`, if any, is left as it was.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise write_error(path, error) from None
    try:
        with contextlib.suppress(OSError):  # a file system without modes (FAT, some mounts) keeps its own
            os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes 0600, which colleagues on a shared machine cannot read
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise write_error(path, error) from None
        raise


def append_line(path: str | Path, line: str) -> None:
    """Append one line to a log (append-only: a crash costs at most the line being written)."""
    try:
        with open(path, "a") as handle:
            handle.write(line + "\n")
    except OSError as error:
        raise write_error(Path(path), error) from None


def write_error(path: Path, error: OSError) -> WriteError:
    """The WriteError for a failed write of `path`, with what to do for the usual causes."""
    reason = error.strerror or str(error)
    hints = {
        errno.ENOSPC: f"the disk is full: free some space there (df -h {path.parent}); files written before are intact",
        errno.EDQUOT: "the disk quota is used up: free some space (quota -s); files written before are intact",
        errno.EACCES: f"check that you may write to {path.parent}",
        errno.EROFS: f"{path.parent} is on a read-only file system: choose another folder with --out",
    }
    return WriteError(f"cannot write {path}: {reason}", hint=hints.get(error.errno), errno=error.errno)


def umask() -> int:
    """The process's umask, read from /proc where Linux gives it (setting it to read it back is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# --- npz ----------------------------------------------------------------------------------------


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # every entry's time stamp: the same arrays give the same bytes


def atomic_savez(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez's format (uncompressed .npy entries), without the wall-clock time stamps np.savez puts in
    each entry: a paused and resumed run's model.npz equals a straight run's byte for byte."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(zipfile.ZipInfo(f"{name}.npy", ZIP_EPOCH), "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# --- CSV ----------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def csv_text(columns: list[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([format_value(row.get(column)) for column in columns])
    return out.getvalue()


def read_csv(path: str | Path, text: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Rows with numbers parsed back (empty cells become None); columns in `text` stay strings (ids)."""
    text = set(text)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{key: value if key in text else parse_number(value) for key, value in row.items()} for row in rows]


def parse_number(text: str) -> Any:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# --- YAML text ------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = len(data) <= 8 and all(isinstance(item, (int, float, str, bool)) or item is None for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML text for a config dict, keys in their given order, short lists of numbers inline."""
    return yaml.dump(plain(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def inline(value: Any) -> str:
    """A short one-line YAML rendering of a value, for messages and tables."""
    if isinstance(value, str):
        return repr(value)
    try:
        text = yaml.safe_dump(plain(value), default_flow_style=True, sort_keys=False, width=10_000).strip()
    except yaml.YAMLError:
        return repr(value)
    return text.removesuffix("...").strip()


def plain(value: Any) -> Any:
    """Deep copy into YAML-safe builtins: tuples become lists, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        return value.item()
    return value
