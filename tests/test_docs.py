"""Every relative link of every Markdown file resolves: the file exists, and so does the heading an anchor
names (GitHub's anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

PAGES = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("benchmarks/*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def unfenced(text: str) -> str:
    """The text outside fenced code blocks."""
    return re.sub(r"(?ms)^```.*?^```", "", text)


def prose(text: str) -> str:
    """The text outside code, fenced or inline, where a link is Markdown's."""
    return re.sub(r"`[^`\n]*`", "", unfenced(text))


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in unfenced(path.read_text()).splitlines():
        match = re.match(r"#{1,6} (.*)", line.replace("`", ""))
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        repeat, candidate = 0, slug
        while candidate in found:
            repeat += 1
            candidate = f"{slug}-{repeat}"
        found.add(candidate)
    return found


def links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path.read_text())) if not re.match(r"[a-z]+:", target)]


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page):
        name, _, anchor = target.partition("#")
        linked = (page.parent / name).resolve() if name else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            shown = linked.relative_to(ROOT) if linked.is_relative_to(ROOT) else linked
            broken.append(f"{target}: no heading #{anchor} in {shown}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=[page.relative_to(ROOT).as_posix() for page in PAGES])
def test_every_relative_link_resolves(page):
    broken = broken_links(page)
    assert not broken, "\n".join(broken)


def test_the_checker_sees_a_broken_link_and_a_missing_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A `section`, with: punctuation\n\n## Title\n\n[a](#a-section-with-punctuation) "
                    "[b](#nope)\n[c](missing.md) `[d](inline-code.md)`\n```\n# not a heading\n[e](in-a-fence.md)\n```\n")  # fmt: skip
    assert links(page) == ["#a-section-with-punctuation", "#nope", "missing.md"]
    assert anchors(page) == {"title", "a-section-with-punctuation", "title-1"}
    assert broken_links(page) == [
        f"#nope: no heading #nope in {page}",
        "missing.md: no such file",
    ]
