"""A report as plain data (sections of text, tables and PNG images), rendered to Markdown and to HTML.

Sections are built once and rendered twice, so the Markdown file and the HTML page always say the same
thing. The HTML page is self-contained: its images are inlined as data: URIs and its style is inline, so it
can be mailed or opened from anywhere; the Markdown file links the same PNGs from `plots/`.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field

PLOTS_DIR = "plots"


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    bold: set[int] = field(default_factory=set)  # indices of total rows


@dataclass
class Image:
    name: str  # file name under plots/
    png: bytes
    alt: str


Block = str | Table | Image  # a str is a paragraph


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    absent: str | None = None  # what is missing when the section has nothing to show

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


@dataclass
class Document:
    title: str
    intro: list[str]
    sections: list[Section]

    def images(self) -> list[Image]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Image)]


# -- Markdown ------------------------------------------------------------------------------------------------
def to_markdown(doc: Document) -> str:
    lines = [f"# {doc.title}", ""] + [line for paragraph in doc.intro for line in (paragraph, "")]
    lines += [f"- [{s.title}](#{s.anchor})" for s in doc.sections] + [""]
    for section in doc.sections:
        lines += [f"## {section.title}", ""]
        if section.absent:
            lines += [f"_{section.absent}_", ""]
        for block in section.blocks:
            lines += [*_markdown_block(block), ""]
    return "\n".join(lines)


def _markdown_block(block: Block) -> list[str]:
    if isinstance(block, Image):
        return [f"![{block.alt}]({PLOTS_DIR}/{block.name})"]
    if isinstance(block, Table):
        return markdown_table(block)
    return [block]


def markdown_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(map(_md_cell, table.header)) + " |", "|" + "---|" * len(table.header)]
    for i, row in enumerate(table.rows):
        cells = [f"**{_md_cell(c)}**" if i in table.bold and c else _md_cell(c) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# -- HTML ----------------------------------------------------------------------------------------------------
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; max-width: 26em; overflow-wrap: break-word; }
/* break-word, not anywhere: a word breaks only when it cannot fit a line of its own (no "transfo rmers") */
th:first-child, td:first-child { text-align: left; }
th { background: #eee; } tr.total td { font-weight: bold; background: #f6f6f6; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
p.absent { color: #777; font-style: italic; }
code { background: #f2f2f2; padding: 0 0.2em; }
"""


def to_html(doc: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
        *(f"<p>{_inline(p)}</p>" for p in doc.intro),
        "<nav><ul>",
        *(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in doc.sections),
        "</ul></nav>",
    ]
    for section in doc.sections:
        parts.append(f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>')
        if section.absent:
            parts.append(f'<p class="absent">{_inline(section.absent)}</p>')
        parts += [_html_block(block) for block in section.blocks]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_block(block: Block) -> str:
    if isinstance(block, Image):
        data = base64.b64encode(block.png).decode("ascii")
        return f'<img src="data:image/png;base64,{data}" alt="{html.escape(block.alt)}">'
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
        body = []
        for i, row in enumerate(block.rows):
            cells = "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
            body.append(f'<tr class="total">{cells}</tr>' if i in block.bold else f"<tr>{cells}</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f"<p>{_inline(block)}</p>"


def _inline(text: str) -> str:
    """Escape, then the one piece of Markdown paragraphs use: `code`."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))
