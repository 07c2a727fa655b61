"""Shared fixtures: running the CLI in a subprocess. Helpers that are not fixtures live in tests/helpers/."""

from __future__ import annotations

# nnrun before numpy: its import sets the thread pools' waits that OpenBLAS reads when numpy loads it
# (nnrun/__init__.py), so the tests run nnrun's kernels as `nnrun train` does.
import nnrun  # noqa: F401  # isort: skip
import os
import subprocess
import sys

import pytest

# pytest rewrites asserts in test modules only: this gives the helpers' asserts (check_loaded) the same messages.
pytest.register_assert_rewrite("tests.helpers")


@pytest.fixture
def cli(tmp_path):
    """Run `python -m nnrun ARGS` in tmp_path; returns the CompletedProcess."""

    def run(*args, timeout=300, check=False):
        env = {**os.environ, "COLUMNS": "200"}
        return subprocess.run(
            [sys.executable, "-m", "nnrun", *map(str, args)],
            cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=env, check=check,
        )  # fmt: skip

    return run
