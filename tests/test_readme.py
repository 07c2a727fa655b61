"""The README and docs stay in step with the code: the config reference (docs/config.md) is the schema's, the
README's test command is CI's, and every shipped config and verb is documented."""

from __future__ import annotations

import os
import re

import typer

from nnrun.cli import app
from nnrun.config import config_reference
from tests.helpers import ROOT

START, END = "<!-- config-reference: start -->", "<!-- config-reference: end -->"


def test_config_reference_matches_the_schema():
    """Regenerate with: NNRUN_UPDATE_README=1 python -m pytest tests/test_readme.py"""
    page = (ROOT / "docs" / "config.md").read_text()
    head, rest = page.split(START)
    _, tail = rest.split(END)
    expected = f"{head}{START}\n{config_reference().strip()}\n{END}{tail}"
    if os.environ.get("NNRUN_UPDATE_README"):
        (ROOT / "docs" / "config.md").write_text(expected)
    assert page == expected, (
        "docs/config.md's config reference is stale: NNRUN_UPDATE_README=1 pytest tests/test_readme.py"
    )


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if line.startswith("python3 -m venv"))
    assert f"```bash\n{command}\n```" in readme


def test_every_shipped_config_is_listed_and_every_verb_has_an_example():
    docs = "\n".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        name = path.relative_to(ROOT).as_posix()
        assert name in docs, name
    readme = (ROOT / "README.md").read_text()
    commands = (ROOT / "docs" / "commands.md").read_text()
    verbs = sorted(typer.main.get_command(app).commands)  # every verb the CLI has, so a new one is not missed
    assert {"train", "sweep", "plot", "report", "runs", "export", "data"} <= set(verbs)
    for verb in verbs:
        assert re.search(rf"`nnrun {verb}\b", readme), verb  # in the README's table
        assert re.search(rf"^nnrun {verb}\b", commands, re.M), verb  # and an example in docs/commands.md


def test_the_readme_counts_the_slow_tests_as_pytest_does():
    import subprocess
    import sys

    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "slow", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    items = [line for line in listed.splitlines() if "::" in line]
    functions = {item.split("[")[0] for item in items}
    readme = (ROOT / "README.md").read_text()
    assert f"{len(items)} items in {len(functions)} test functions" in " ".join(readme.split())
