"""The data tests' shared fixture: a machine with no dataset on it."""

from __future__ import annotations

import pytest

from nnrun.data import locate


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty $NNRUN_DATA, cache and system folders, downloads off: a test sees only the files it writes
    (a test may put some in tmp_path / "system", the one system folder)."""
    monkeypatch.delenv("NNRUN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("NNRUN_OFFLINE", "1")
    monkeypatch.setattr(locate, "SYSTEM_DIRS", (tmp_path / "system",))
