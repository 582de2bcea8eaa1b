"""Flags made from config models (harness/cli/options.py): a setting declared once is its flag, default, help
and YAML key; a section's settings are flags in its panel; a flag declared twice is refused."""

from __future__ import annotations

import inspect
import typing
from typing import Annotated, ClassVar

import pytest
import typer
from pydantic import Field
from typer.testing import CliRunner

from harness.cli.options import command, options_of
from harness.cli.precedence import HarnessTyper
from harness.config import Flag, StrictModel
from harness.stages.registry import STAGES


class Section(StrictModel):
    PANEL: ClassVar[str] = "Engine demo"
    depth: int = Field(3, ge=1, description="How deep.")
    size_bytes: Annotated[int | None, Flag("--size", type=str)] = Field(None, description="A size, as text.")


class Toy(StrictModel):
    FLAGS: ClassVar[tuple[Flag, ...]] = (Flag("--x-col", dest="columns.x", help="Same as columns x."),)
    name: Annotated[str, Flag(short="-n")] = Field("toy", description="The toy's name.")
    count: int = Field(2, ge=1, description="How many.")
    loud: bool = Field(False, description="Shout.")
    tags: list[str] = Field(default_factory=list, description="Tags (repeatable).")
    columns: dict[str, str] = Field(default_factory=dict, description="File only: no flag of its own.")
    section: Section = Field(default_factory=Section)


def _app(model, seen):
    app = HarnessTyper()
    app.command("toy")(command(model, seen.append, "A toy."))
    app.command("other")(lambda: None)  # two commands: typer keeps `toy` as a subcommand
    return app


def test_each_field_is_a_flag_with_its_help_default_and_panel():
    by_dest = {o.dest: o for o in options_of(Toy)}
    assert by_dest["name"].names == ["--name", "-n"] and by_dest["name"].help == "The toy's name."
    assert by_dest["count"].default == 2 and by_dest["loud"].names == ["--loud/--no-loud"]
    assert by_dest["section.depth"].names == ["--depth"] and by_dest["section.depth"].panel == "Engine demo"
    assert by_dest["section.size_bytes"].names == ["--size"] and by_dest["section.size_bytes"].kind is str
    assert by_dest["columns.x"].names == ["--x-col"]
    assert "columns" not in by_dest  # a mapping is set in the file only


def test_a_command_builds_its_config_from_flags_over_the_file(tmp_path):
    seen: list[Toy] = []
    path = tmp_path / "toy.yaml"
    path.write_text("count: 5\nsection: {depth: 7}\ncolumns: {y: b}\n")
    argv = ["toy", "--config", str(path), "-n", "typed", "--tags", "a", "--tags", "b", "--x-col", "a", "--loud"]
    result = CliRunner().invoke(_app(Toy, seen), argv)
    assert result.exit_code == 0, result.output
    [cfg] = seen
    assert (cfg.name, cfg.count, cfg.loud, cfg.tags) == ("typed", 5, True, ["a", "b"])
    assert cfg.section.depth == 7 and cfg.columns == {"y": "b", "x": "a"}


def test_a_bad_value_names_the_setting():
    result = CliRunner().invoke(_app(Toy, []), ["toy", "--count", "0"])
    assert result.exit_code == 2 and "count: Input should be greater than or equal to 1" in result.output


def test_a_flag_declared_twice_is_refused():
    class Twice(Toy):
        FLAGS: ClassVar[tuple[Flag, ...]] = (Flag("--count", dest="columns.count", help="Again."),)

    with pytest.raises(TypeError, match="--count"):
        options_of(Twice)


def test_a_flag_that_needs_its_section_alone_is_refused():
    class Inner(StrictModel):
        on: Annotated[bool, Flag("--on", needs="--on needs --level")] = False
        level: int = 1

    class WithOptional(StrictModel):
        inner: Inner | None = None

    seen: list[WithOptional] = []
    result = CliRunner().invoke(_app(WithOptional, seen), ["toy", "--on"])
    assert result.exit_code == 2 and "--on needs --level" in result.output
    result = CliRunner().invoke(_app(WithOptional, seen), ["toy", "--on", "--level", "2"])
    assert result.exit_code == 0 and seen[0].inner.on and seen[0].inner.level == 2


def test_adding_a_setting_to_a_real_config_adds_its_flag():
    """DESIGN.md's example: SelectConfig's `batch_size` field is `harness select --batch-size`."""
    from harness.cli import app

    result = CliRunner().invoke(app, ["select", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.split())
    assert "--batch-size" in text and "Questions per committed shard. [default: 64]" in text


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_entry_point_takes_its_config_and_a_console(name):
    import importlib

    module, function = STAGES[name].split(":")
    entry = getattr(importlib.import_module(module), function)
    params = list(inspect.signature(entry).parameters.values())
    hints = typing.get_type_hints(entry)
    assert params[0].name == "cfg" and issubclass(hints["cfg"], StrictModel)
    assert params[1].name == "console" and params[1].default is None


def test_typer_sees_the_generated_signature():
    seen: list[Toy] = []
    names = {p.name for p in typer.main.get_command(_app(Toy, seen)).commands["toy"].params}
    assert {"name", "count", "loud", "tags", "section__depth", "section__size_bytes", "columns__x", "config"} <= names
