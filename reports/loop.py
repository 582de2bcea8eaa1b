"""The report section of folders with rounds (`harness loop`, a `harness run` pipeline with rounds): each one's
per-round table (loop.json's `table`) and a plot of accuracy by round, when the rounds were measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reports.document import Image, Section, Table
from reports.plots import accuracy_by_round

LINKS_FILE = "loop.json"  # harness/pipeline/rounds.py writes it
TITLE = "Accuracy by round"


def is_loop_folder(path: str | Path) -> bool:
    return (Path(path) / LINKS_FILE).is_file()


def loop_section(folders: list[str]) -> Section:
    section = Section(TITLE)
    series: dict[str, tuple[list[int], list[float]]] = {}
    for folder in folders:
        links = json.loads((Path(folder) / LINKS_FILE).read_text(encoding="utf-8"))
        table = links.get("table") or []
        section.blocks.append(f"`{folder}`: the `{links.get('loop')}` rounds, result {links.get('final_model')}")
        section.blocks.append(Table(["round", "accuracy", "questions", "valid share", "training rows", "loss"], [
            [str(r["round"]), _number(r.get("accuracy")), _number(r.get("questions")), _number(r.get("valid_share")),
             _number(r.get("training_rows")), _number(r.get("loss"))]
            for r in table
        ]))  # fmt: skip
        measured = [r for r in table if r.get("accuracy") is not None]
        if measured:
            series[folder] = ([r["round"] for r in measured], [r["accuracy"] for r in measured])
    if series:
        png = accuracy_by_round(series, "MMLU accuracy of the starting model and each round's model")
        section.blocks.append(Image("loop-accuracy.png", png, TITLE))
    else:
        section.absent = "no round was measured (a loop's --eval mmlu, a pipeline's rounds.measure)"
    return section


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
