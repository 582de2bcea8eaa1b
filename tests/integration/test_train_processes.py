"""`harness train --num-processes 2` on the CPU (two processes, gloo): the same model as one process that takes the
same global batch, up to float rounding; only the main process writes the output folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.engines.cache import cache_dir
from harness.stages.train import LOG_FILE, PROVENANCE_FILE
from tests.integration.test_train import FAST, conversations, losses, write_jsonl

pytestmark = pytest.mark.slow


def train_sft(data: str, out: Path, *flags: str) -> list[str]:
    """`harness train sft` from `data` into `out` as a fresh process would run it (hand-made rows: unchecked)."""
    return [
        sys.executable,
        "-m",
        "harness.cli",
        "train",
        "sft",
        "-i",
        data,
        "-o",
        str(out),
        *flags,
        "--allow-unchecked",
    ]


def distances(a: Path, b: Path, base: str) -> tuple[float, float]:
    """How far apart two trained models are, and how far training moved the first (L2 norms over all weights)."""
    from safetensors.torch import load_file

    one, two = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    start = load_file(str(Path(base) / "model.safetensors"))
    # Norms over all weights, not the largest entry: Adam moves an entry whose gradient is ~0 by up to the learning
    # rate in either direction, so float rounding flips a few entries by lr while the model is the same.
    apart = sum(((one[k] - two[k]).double() ** 2).sum().item() for k in one) ** 0.5
    moved = sum(((one[k] - start[k]).double() ** 2).sum().item() for k in one) ** 0.5
    return apart, moved


def test_two_cpu_processes_equal_one_with_the_same_global_batch(tmp_path, default_model):
    data, out = write_jsonl(tmp_path / "rows.jsonl", conversations()), tmp_path / "two"
    flags = ["--max-steps", "2", "--max-length", str(FAST["max_length"]), "--threads", "1"]
    flags += ["--learning-rate", str(FAST["learning_rate"])]
    recipe = tmp_path / "constant.yaml"  # the one setting of FAST without a flag
    recipe.write_text("lr_scheduler_type: constant\n")
    flags += ["--recipe", str(recipe)]
    # Both sides in fresh processes, so nothing an earlier test set in this one (threads, seeds) tells them apart.
    single = tmp_path / "single"
    one = subprocess.run(train_sft(data, single, *flags, "--batch-size", "4"), capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-3000:]
    result = subprocess.run(
        train_sft(data, out, *flags, "--batch-size", "2", "--num-processes", "2"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(out)  # one process printed the summary and the folder
    assert result.stderr.count("train sft summary") == 1

    apart, moved = distances(single, out, default_model.path)
    assert moved > 1e-5 and apart < moved / 20, (apart, moved)
    assert losses(out) == pytest.approx(losses(single), rel=1e-4)
    assert len((out / LOG_FILE).read_text().splitlines()) == len((single / LOG_FILE).read_text().splitlines())
    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    assert provenance["processes"] == 2 and provenance["result"]["rows"] == 4 and provenance["result"]["steps"] == 2
    assert not list(tmp_path.glob(".two.partial*"))
    assert not list((cache_dir() / "train-data").iterdir())  # the shared training data went with the run


def test_a_bad_input_stops_every_process_with_one_clear_error(tmp_path):
    data = write_jsonl(tmp_path / "rows.jsonl", [{"question": "no messages here"}])
    command = train_sft(data, tmp_path / "m")
    result = subprocess.run([*command, "--num-processes", "2"], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "needs the column(s) messages" in result.stderr
    assert not (tmp_path / "m").exists()
