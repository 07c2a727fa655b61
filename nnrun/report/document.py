"""A report of a run or sweep folder as one page: its tables, figures, config, environment and timings.

The page is built once as a list of blocks and written either as a single self-contained HTML file (images
embedded as data URIs, CSS inline, no script, readable offline) or as Markdown with the images beside it.
The tables are the folder's own summary.md, so the report and the folder can never disagree.
"""

from __future__ import annotations

import base64
import html
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from nnrun.errors import RunError
from nnrun.io import atomic_write_text
from nnrun.report import sections
from nnrun.report.sections import Block
from nnrun.results import folder_kind

FORMATS = ("html", "md")


@dataclass
class Written:
    report: Path
    figures: list[Path]
    skipped: list[str]


def write_report(path: str | Path, fmt: str = "html", out: str | Path | None = None, inspect: bool = False):
    """Draw the folder's figures (into the folder) and write report.<fmt> (default: in the folder too)."""
    if fmt not in FORMATS:
        raise RunError(f"no report format {fmt!r}", hint=f"formats: {', '.join(FORMATS)}")
    path = Path(path)
    if folder_kind(path) == "sweep":
        title, blocks, skipped = sections.sweep_page(path)
    else:
        title, blocks, skipped = sections.run_page(path, inspect)
    out = Path(out) if out is not None else path / f"report.{fmt}"
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = [block.path for block in blocks if block.kind == "image"]
    if fmt == "html":
        atomic_write_text(out, to_html(title, blocks))
    else:
        atomic_write_text(out, to_markdown(title, blocks, beside(figures, path, out)))
    return Written(out, figures, skipped)


def beside(figures: list[Path], folder: Path, out: Path) -> dict[Path, str]:
    """Each figure's link from the Markdown file; figures of another folder are copied next to it first."""
    if out.parent.resolve() == folder.resolve():
        return {figure: figure.name for figure in figures}
    # a sub-folder named after the report, so that two reports in one place never overwrite each other's
    images = out.parent / f"{out.stem}-figures"
    images.mkdir(exist_ok=True)
    links = {}
    for figure in figures:
        shutil.copyfile(figure, images / figure.name)
        links[figure] = f"{images.name}/{figure.name}"
    return links


# --- HTML ---------------------------------------------------------------------------------------------
CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0; background: #fafafa; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
p.meta { color: #666; margin-top: 0; }
div.wide { overflow-x: auto; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f0f3f7; white-space: normal; vertical-align: bottom; }
td:first-child, th:first-child { text-align: left; }
tr.best td { font-weight: 600; background: #fff8e1; }
figure { margin: 18px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13px; }
pre { background: #f6f8fa; padding: 12px; overflow-x: auto; font-size: 12.5px; line-height: 1.4; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; }
"""


def to_html(title: str, blocks: list[Block]) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>",
        f"<body><main><h1>{html.escape(title)}</h1>",
    ]
    for block in blocks:
        if block.kind == "heading":
            parts.append(f'<h2 id="{slug(block.text)}">{html.escape(block.text)}</h2>')
        elif block.kind == "text":
            css = ' class="meta"' if block.meta else ""
            parts.append(f"<p{css}>{inline_html(block.text)}</p>")
        elif block.kind == "table":
            parts.append(table_html(block))
        elif block.kind == "image":
            data = base64.b64encode(block.path.read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.text)}">'
                f"<figcaption>{html.escape(block.path.name)}: {html.escape(block.text)}</figcaption></figure>"
            )
        else:
            parts.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def table_html(block: Block) -> str:
    # a column's title may wrap, after a dot of a parameter's path too (model.hidden.units), so that a sweep's
    # results table fits the page at 1280 px instead of hiding its last columns behind a scroll bar
    head = "".join(f"<th>{inline_html(cell).replace('.', '.<wbr>')}</th>" for cell in block.header)
    rows = []
    for index, row in enumerate(block.rows):
        css = ' class="best"' if index in block.bold else ""
        rows.append(f"<tr{css}>" + "".join(f"<td>{inline_html(cell)}</td>" for cell in row) + "</tr>")
    # a table still too wide scrolls inside its box instead of pushing the page wider
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def inline_html(text: str) -> str:
    """The Markdown the tables and notes use: **bold** and `code`."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- Markdown -----------------------------------------------------------------------------------------
def to_markdown(title: str, blocks: list[Block], links: dict[Path, str]) -> str:
    lines = [f"# {title}", ""]
    for block in blocks:
        if block.kind == "heading":
            lines += [f"## {block.text}", ""]
        elif block.kind == "text":
            lines += [block.text, ""]
        elif block.kind == "table":
            lines += ["| " + " | ".join(block.header) + " |", "|" + "---|" * len(block.header)]
            for index, row in enumerate(block.rows):
                cells = [f"**{cell}**" if index in block.bold and cell else cell for cell in row]
                lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
            lines.append("")
        elif block.kind == "image":
            lines += [f"![{block.text}]({links[block.path]})", "", f"*{block.path.name}: {block.text}*", ""]
        else:
            lines += [f"```{block.language}", block.text.rstrip("\n"), "```", ""]
    return "\n".join(lines)
