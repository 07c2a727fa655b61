"""Where a dataset's files are looked for, in order, and the error that lists every place when none has them.

1. `data.path` in the config (a folder, or a file for single-file formats);
2. `$NNRUN_DATA/<name>`;
3. the user cache, `$XDG_CACHE_HOME/nnrun/<name>` (default `~/.cache/nnrun/<name>`), where downloads go;
4. system dataset folders: `/usr/share/datasets/<name>` and `/usr/local/share/datasets/<name>`, each also
   with `-` for `_` (Debian's `dataset-fashion-mnist` installs `/usr/share/datasets/fashion-mnist/`).
Downloading (step 5) is the loader's business; `offline()` says whether it is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from nnrun.errors import DataError

SYSTEM_DIRS = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))


class DataNotFound(DataError):
    """A dataset's files are not on this machine (nor could they be downloaded): `nnrun check` warns of it."""


def cache_dir(name: str | None = None) -> Path:
    """The user cache folder for nnrun (or for one dataset), honouring XDG_CACHE_HOME."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nnrun"
    return base / name if name else base


def offline() -> bool:
    """True when downloads are forbidden (`--offline` or NNRUN_OFFLINE=1)."""
    return os.environ.get("NNRUN_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def candidates(name: str, path: str | Path | None = None) -> list[tuple[str, Path]]:
    """(label, folder or file) in search order; a configured `path` is the only candidate when given."""
    if path is not None:
        return [("data.path", Path(path).expanduser())]
    places = []
    if os.environ.get("NNRUN_DATA"):
        places.append(("$NNRUN_DATA", Path(os.environ["NNRUN_DATA"]).expanduser() / name))
    places.append(("user cache", cache_dir(name)))
    for system in SYSTEM_DIRS:
        for spelling in dict.fromkeys((name, name.replace("_", "-"))):
            places.append(("system datasets", system / spelling))
    return places


def find(name: str, present: Callable[[Path], bool], path: str | Path | None = None) -> Path | None:
    """The first candidate for which `present(candidate)` is true, or None."""
    for _, place in candidates(name, path):
        if place.exists() and present(place):
            return place
    return None


def not_found(name: str, path: str | Path | None, expected: str, how: str) -> DataNotFound:
    """A DataNotFound that lists every place looked in, what was expected there, and how to provide it."""
    looked = "\n".join(f"    {label}: {place}" for label, place in candidates(name, path))
    return DataNotFound(
        f"dataset '{name}' not found; looked for {expected} in:\n{looked}",
        where="data",
        hint=how,
    )
