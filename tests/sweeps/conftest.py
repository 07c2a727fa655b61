"""A finished 2 points × 2 seeds sweep, run once for the tests that only read it (or copy it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import nnrun
from nnrun.results import Sweep
from tests.sweeps.studies import tiny_study, write_config


@dataclass(frozen=True)
class Finished:
    root: Path  # the folder the sweep was started in: the config's relative path resolves here
    config: Path  # absolute path of the config file
    folder: Path  # the sweep folder
    result: Sweep  # what nnrun.sweep returned


@pytest.fixture(scope="session")
def finished(tmp_path_factory) -> Finished:
    """`nnrun.sweep("study.yaml", out=..., workers=2)` run from its folder: the config named by a relative path,
    as trials.csv's commands then name it."""
    root = tmp_path_factory.mktemp("finished")
    config = write_config(root / "study.yaml", tiny_study())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        result = nnrun.sweep("study.yaml", out=root / "sweep", workers=2)
    return Finished(root, config, root / "sweep", result)
