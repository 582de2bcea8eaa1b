"""`harness run`: the demo pipeline on the default model, killed after two finished stages and rerun, and a small
pipeline whose edited settings rerun exactly the stages they reach. Through the CLI, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

HARNESS = [sys.executable, "-m", "harness.cli"]


def harness_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HARNESS, "run", *args], capture_output=True, text=True, timeout=900)


def statuses(out: Path) -> dict[str, str]:
    try:
        return {s["name"]: s["status"] for s in json.loads((out / "pipeline.json").read_text())["stages"]}
    except (OSError, ValueError):
        return {}  # not written yet, or caught between its write and rename (never: the write is atomic)


def files_of(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its inode and modification time: a rewrite changes one of them."""
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file() and not p.name.endswith(".lock")}  # fmt: skip


def test_the_demo_killed_after_two_stages_resumes_without_redoing_them(tmp_path, default_model):
    out = tmp_path / "demo"
    proc = subprocess.Popen([*HARNESS, "run", "demo", "--output", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 600
    while list(statuses(out).values()).count("done") < 2:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the demo's first two stages took over 10 minutes"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = statuses(out)
    assert "pending" in killed.values() or "running" in killed.values(), killed
    finished = [name for name, status in killed.items() if status == "done"]
    before = {name: files_of(out / name) for name in finished}

    result = harness_run("demo", "--output", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(out)
    for name in finished:
        assert f"{name}: done already, skipped" in result.stderr
        assert files_of(out / name) == before[name], f"{name} was rewritten"
    assert set(statuses(out).values()) == {"done"}
    assert list(statuses(out)) == ["synth", "verify", "select", "decontam", "train", "eval", "report"]
    assert (out / "report" / "report.html").is_file() and (out / "report" / "report.md").is_file()
    assert (out / "train" / "harness-train.json").is_file()
    assert "pipeline demo" in result.stderr and "report: " in result.stderr

    again = harness_run("demo", "--output", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("done already, skipped") == 7


def test_an_edited_setting_reruns_its_stage_and_every_stage_after_it(tmp_path, default_model):
    """A small pipeline (synth -> judge -> select): editing the judge reruns judge and select, not synth; the
    replaced outputs are kept; a changed input file reruns everything; a bad setting stops before any stage."""
    questions = tmp_path / "questions.jsonl"
    questions.write_text(Path("harness/data/star_demo.jsonl").read_text().splitlines()[0] + "\n")
    spec = {
        "description": "edit test",
        "stages": [
            {"name": "gen", "command": "synth", "settings": {
                "task": "star", "input": str(questions), "n": 2, "max_tokens": 4, "seed": 0}},
            {"name": "check", "command": "judge", "settings": {"input": "${gen}", "judges": ["exact"]}},
            {"name": "pick", "command": "select", "settings": {"mode": "best-of-n", "input": "${check}", "judge": "exact",
                                                               "include_invalid": True}},
        ],
    }  # fmt: skip
    path = tmp_path / "edit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "run"
    first = harness_run(str(path), "--output", str(out))
    assert first.returncode == 0, first.stderr[-3000:]
    gen_files = files_of(out / "gen")

    spec["stages"][1]["settings"]["judges"] = ["exact", "mc"]
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    edited = harness_run(str(path), "--output", str(out))
    assert edited.returncode == 0, edited.stderr[-3000:]
    assert "gen: done already, skipped" in edited.stderr
    assert "check: its settings or input files changed; running it again" in edited.stderr
    assert "pick: an earlier stage ran again; running it again" in edited.stderr
    assert files_of(out / "gen") == gen_files
    assert len(list((out / ".replaced").glob("check-*"))) == 1  # the replaced output is kept, not deleted

    questions.write_text(questions.read_text() * 2)
    changed = harness_run(str(path), "--output", str(out))
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert "gen: its settings or input files changed" in changed.stderr
    [gen_aside] = (out / ".replaced").glob("gen-*")  # star's pairs folder goes aside with its samples
    assert (gen_aside / "gen").is_dir() and (gen_aside / "gen-pairs").is_dir()

    spec["stages"][2]["settings"]["mode"] = "best-of-three"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    bad = harness_run(str(path), "--output", str(out))
    assert bad.returncode != 0
    assert "stage pick: mode:" in bad.stderr and "Traceback" not in bad.stderr
    assert "done already" not in bad.stderr  # checked before any stage runs
