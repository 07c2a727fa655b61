"""The README stays in step with the code: its config reference is the schema's, and its commands are CI's."""

from __future__ import annotations

import os
import re

from nnrun.config import config_reference
from tests.helpers import ROOT

START, END = "<!-- config-reference: start -->", "<!-- config-reference: end -->"


def test_config_reference_matches_the_schema():
    """Regenerate with: NNRUN_UPDATE_README=1 python -m pytest tests/test_readme.py"""
    readme = (ROOT / "README.md").read_text()
    head, rest = readme.split(START)
    _, tail = rest.split(END)
    expected = f"{head}{START}\n{config_reference().strip()}\n{END}{tail}"
    if os.environ.get("NNRUN_UPDATE_README"):
        (ROOT / "README.md").write_text(expected)
    assert readme == expected, (
        "the README's config reference is stale: NNRUN_UPDATE_README=1 pytest tests/test_readme.py"
    )


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if line.startswith("python3 -m venv"))
    assert f"```bash\n{command}\n```" in readme


def test_every_shipped_config_is_listed():
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        name = path.relative_to(ROOT).as_posix()
        assert name in readme, name
    for verb in ("train", "sweep", "plot", "check", "gradcheck", "eval", "layers", "reproduce"):
        assert re.search(rf"`nnrun {verb}\b", readme), verb
