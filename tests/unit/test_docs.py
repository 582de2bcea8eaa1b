"""The README stays a short first read and the docs/ pages stay true: the README's quick-start lines are there, every
relative link (and its #anchor) leads somewhere, no page names a folder outside the repository, every page opens
with a contents list, and docs/layout.md names every module under harness/, so the layout cannot go stale."""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
PRODUCT = ("harness", "judges", "reports", "trainers", "tasks", "docs")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _outside_code(text: str) -> str:
    """The page without its fenced code blocks, where `[x](y)` is code, not a link."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, counts = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", _outside_code(_text(path)), flags=re.M):
        slug = _slug(heading)
        n = counts[slug] = counts.get(slug, -1) + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _relative_links(path: Path) -> list[str]:
    return [link for link in LINK.findall(_outside_code(_text(path))) if not re.match(r"[a-z][\w+.-]*:", link)]


def test_the_readme_is_short():
    assert len(_text(README).splitlines()) <= 300


def test_the_readme_keeps_the_quick_start_commands_ci_runs():
    lines = [line.split("#")[0].strip() for line in _text(README).splitlines()]
    assert "bash scripts/demo.sh" in lines
    assert "bash scripts/test.sh" in lines


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_its_anchor(page):
    broken = []
    for link in _relative_links(page):
        target, _, anchor = link.partition("#")
        file = (page.parent / target).resolve() if target else page
        if not file.exists():
            broken.append(f"{link}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{link}: no heading with that anchor in {file.relative_to(ROOT)}")
    assert broken == []


def test_no_product_file_or_page_names_the_folder_outside_the_repository():
    files = [
        README,
        *(p for d in PRODUCT for p in (ROOT / d).rglob("*") if p.is_file() and "__pycache__" not in p.parts),
    ]
    assert [str(p.relative_to(ROOT)) for p in files if b"../shared" in p.read_bytes()] == []


@pytest.mark.parametrize("page", [p for p in DOCS if p.name != "DESIGN.md"], ids=lambda p: p.name)
def test_every_docs_page_opens_with_a_contents_list(page):
    """A `## Contents` heading before any other `##` heading, followed by a list of links into the page."""
    sections = re.split(r"^## ", _outside_code(_text(page)), flags=re.M)
    assert len(sections) > 1 and sections[1].startswith("Contents\n"), "the first ## section must be Contents"
    entries = re.findall(r"^- \[[^\]]+\]\(#([^)]+)\)", sections[1], flags=re.M)
    assert len(entries) >= 2
    assert set(entries) <= _anchors(page)


def _harness_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "harness").rglob("*.py") if "__pycache__" not in p.parts)


def test_the_layout_page_names_every_module_under_harness():
    layout = _text(ROOT / "docs" / "layout.md")

    def named(path: Path) -> bool:
        relative = path.relative_to(ROOT)
        dotted = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        return str(relative) in layout or re.search(rf"`{re.escape(dotted)}`", layout) is not None

    assert [str(p.relative_to(ROOT)) for p in _harness_modules() if not named(p)] == []


def test_every_module_path_the_docs_name_exists():
    """A module that was moved or merged must not linger in the docs under its old path."""
    named = {
        m
        for page in PAGES
        for m in re.findall(r"`((?:harness|tasks|judges|trainers|reports)/[\w/]+\.py)`", _text(page))
    }
    assert sorted(m for m in named if not (ROOT / m).is_file()) == []


def test_no_page_quotes_a_throughput_figure():
    """Timings belong to BENCHMARKS.md; the README and docs link it instead of quoting machine numbers."""
    quoted = [f"{p.name}: {m}" for p in PAGES for m in re.findall(r"\d[\d.,]* ?tok/s", _text(p))]
    assert quoted == []


def _doc_commands() -> list[str]:
    """`harness ...` lines inside the docs' ```bash blocks, continuations joined and comments dropped."""
    commands = []
    for page in DOCS:
        for block in re.findall(r"```(?:bash|sh)\n(.*?)```", _text(page), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"(^|\s)#.*$", "", line).strip()
                for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
                    if part.startswith("harness "):
                        commands.append(part)
    return commands


@functools.cache
def _cli() -> typer.core.TyperGroup:
    from harness.cli import app

    return typer.main.get_command(app)


@pytest.mark.parametrize("command", _doc_commands())
def test_every_harness_command_in_the_docs_parses(command):
    group = _cli()
    args = [arg for arg in shlex.split(command)[1:] if arg != "..."]
    ctx = group.make_context("harness", list(args), resilient_parsing=True)
    while args and isinstance(group, typer.core.TyperGroup):
        name, cmd, args = group.resolve_command(ctx, args)
        ctx, group = cmd.make_context(name, list(args), parent=ctx), cmd
    assert not isinstance(group, typer.core.TyperGroup) or args == [], f"{command}: incomplete command"
