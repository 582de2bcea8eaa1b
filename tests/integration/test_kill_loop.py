"""The kill loop: seeded SIGKILLs at random moments across synth (each engine), judge, select, eval and train,
each followed by a rerun; after the last rerun the artifact equals a run that was never killed, every row
exactly once. Written against the CLI's behaviour (commit markers, checkpoints), not the stages' internals.

A kill waits until the run has made a seeded random amount of progress of its own (commit markers,
checkpoints), then a random delay shorter than a commit, so it lands mid-run, between or during commits, and
leaves work for the kills after it; eval (two commits) is killed at a random moment of its remaining time. Every
kill must find the run still going. CI runs 17 kills with tiny budgets; HARNESS_KILL_LOOP_KILLS=100 (say) runs
the long version: each stage gets its share, and kills beyond what a job's commits leave room for land during
the restarted run's start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.artifacts.sources import open_source
from harness.stages.synth import bundled_sample
from tests.integration.sigkill import assert_every_shard_committed
from tests.unit.judged_samples import star_artifact

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("HARNESS_KILL_LOOP_KILLS", "17"))
SEED = int(os.environ.get("HARNESS_KILL_LOOP_SEED", "16"))
HARNESS = [sys.executable, "-m", "harness.cli"]
# Each stage's share of the kills (sums to 17, CI's count). A kill costs a restart (a model load: seconds on CPU;
# vLLM's start-up is the longest), so the legs that load a model get fewest; select restarts cheaply.
SHARES = {"synth-transformers": 3, "synth-vllm": 1, "synth-openai": 3, "judge": 3, "select": 4, "eval": 1, "train": 2}


def kills_for(stage: str) -> int:
    return max(1, round(KILLS * SHARES[stage] / sum(SHARES.values())))


@dataclass
class Tally:
    landed: int = 0  # kills that hit a running process
    reruns: int = 0


def markers(out: Path) -> int:
    done = out / ".harness" / "done"
    return len(list(done.glob("*.json"))) if done.is_dir() else 0


def kill_loop(
    command: list[str],
    progress: Callable[[], int],
    total: int,
    kills: int,
    gap: float,
    rng: random.Random,
    timed: float | None = None,
) -> Tally:
    """Run `command` up to `kills` times, each SIGKILLed (whole process group) mid-run, then once more to the end.

    A kill waits until the run's own progress (`progress()`, out of `total` for the whole job) reaches a seeded
    random level above where it started, then a random delay of at most `gap` (half the unkilled run's time
    between two commits), so it lands between or during commits. The level leaves a fifth of the job per later
    kill, so that every kill finds the run still going. `timed` (a stage with a commit or two): kill instead at a
    random moment of the run's remaining time, estimated from the unkilled run's duration `timed`."""
    tally = Tally()
    room = max(1, total // 5)
    for i in range(kills):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        start = progress()
        top = total - room * (kills - i)
        level = rng.randint(start + 1, top) if top > start else start
        try:
            if timed is not None:
                time.sleep(rng.uniform(0.2, 0.8) * timed * (1 - start / total))
            else:
                while proc.poll() is None and progress() < level:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0, gap))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                tally.landed += 1
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-3000:]
    assert tally.landed == kills, f"{kills - tally.landed} of {kills} kills found the run already finished"
    final = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    tally.reruns += 1
    print(
        f"kill loop: {command[3]}: {tally.landed} of {kills} SIGKILLs landed mid-run (a job of {total} commits), "
        "then a rerun to the end"
    )
    return tally


def table(out: Path, drop: tuple[str, ...] = ()) -> pa.Table:
    """The artifact's rows in input order, without what differs between two runs of the same thing."""
    data = pq.read_table(sorted(out.glob("*.parquet"))).replace_schema_metadata(None)
    data = data.drop_columns([c for c in drop if c in data.column_names])
    order = [c for c in ("source_index", "id", "sample_idx", "candidate_idx") if c in data.column_names]
    return data.sort_by([(c, "ascending") for c in order]) if order else data


def assert_same_as_unkilled(killed: Path, unkilled: Path, keys: tuple[str, ...], drop: tuple[str, ...] = ()) -> None:
    assert_every_shard_committed(killed)
    got, want = table(killed, drop), table(unkilled, drop)
    ids = got.select(list(keys)).to_pylist()
    assert len(ids) == len({json.dumps(r, sort_keys=True) for r in ids}), "a row is there twice"
    assert got.num_rows == want.num_rows and got.equals(want)


def own_cache(tmp_path: Path) -> dict[str, str]:
    """The environment for the unkilled run: a generation cache of its own (sharing the converted models), so
    the killed runs generate for themselves instead of replaying the unkilled run's completions."""
    cache = tmp_path / "unkilled-cache"
    if not cache.exists():
        cache.mkdir()
        shared = Path(os.environ["HARNESS_CACHE_DIR"]) / "models"
        (cache / "models").symlink_to(shared.resolve(), target_is_directory=True)
    return {**os.environ, "HARNESS_CACHE_DIR": str(cache)}


def artifact_stage(
    stage: str, command: Callable[[Path], list[str]], tmp_path: Path, rng, keys, drop=(), timed: bool = False
) -> Tally:
    """The unkilled run, then the kill loop on another folder, then the two compared. `timed`: kill at random
    moments of the run's remaining time rather than after progress (a stage with few, large commits)."""
    unkilled, killed = tmp_path / f"{stage}-unkilled", tmp_path / f"{stage}-killed"
    started = time.monotonic()
    subprocess.run(command(unkilled), check=True, capture_output=True, timeout=900, env=own_cache(tmp_path))
    took = time.monotonic() - started
    commits = sorted(p.stat().st_mtime for p in (unkilled / ".harness" / "done").glob("*.json"))
    gap = (commits[-1] - commits[0]) / max(1, len(commits) - 1) / 2
    tally = kill_loop(
        command(killed), lambda: markers(killed), len(commits), kills_for(stage), gap, rng, took if timed else None
    )
    assert_same_as_unkilled(killed, unkilled, keys, drop)
    return tally


# A shard per finished row (--shard-rows 1); --batch-size 1: the transformers engine decodes one row at a time.
SYNTH = ["synth", "--input", "sample", "--limit", "12", "--max-tokens", "12", "--shard-rows", "1", "--batch-size", "1",
         "--seed", "0"]  # fmt: skip
SYNTH_KEYS = ("record_id", "sample_idx")


@pytest.fixture(scope="module")
def rng() -> random.Random:
    return random.Random(SEED)


def test_synth_transformers(tmp_path, rng, default_model):
    engine = ["--engine", "transformers", "--threads", "1"]
    tally = artifact_stage(
        "synth-transformers", lambda out: [*HARNESS, *SYNTH, *engine, "-o", str(out)], tmp_path, rng, SYNTH_KEYS
    )
    assert tally.reruns == 1


def test_synth_vllm(tmp_path, rng, vllm_engine, _session_model_path):
    """Two requests inside the engine (`--window 2`): with all twelve in, every row would finish on the same step
    and no kill could land between commits."""
    engine = ["--engine", "vllm", "--threads", "1", "--model", str(_session_model_path), "--window", "2"]
    tally = artifact_stage(
        "synth-vllm", lambda out: [*HARNESS, *SYNTH, *engine, "-o", str(out)], tmp_path, rng, SYNTH_KEYS
    )
    assert tally.reruns == 1


def test_synth_openai(tmp_path, rng, vllm_server):
    engine = ["--engine", "openai", "--base-url", vllm_server.url, "--model", vllm_server.model_path, "--window", "2"]
    tally = artifact_stage(
        "synth-openai", lambda out: [*HARNESS, *SYNTH, *engine, "--temperature", "0", "-o", str(out)], tmp_path, rng,
        SYNTH_KEYS,
    )  # fmt: skip
    assert tally.reruns == 1


QUESTIONS = 10
ANSWERS = {i: [f"Work it out.\n### Answer: {i}", f"Guess.\n### Answer: {i + 1}"] for i in range(QUESTIONS)}


def test_judge(tmp_path, rng, default_model):
    star = star_artifact(tmp_path / "star", ANSWERS)
    judge = ["judge", "-i", str(star), "-j", "score", "--col", "response=completion", "--max-tokens", "8"]
    judge += ["--batch-size", "1", "--threads", "1"]
    tally = artifact_stage("judge", lambda out: [*HARNESS, *judge, "-o", str(out)], tmp_path, rng,
                           ("record_id", "sample_idx"))  # fmt: skip
    assert tally.reruns == 1


def test_select(tmp_path, rng):
    """100 questions, each with a right and a wrong answer, so each gives a pair and a shard: selecting one takes
    milliseconds, so the run needs many commits for a kill to land between them."""
    golds = {row.index: row.values["solution"] for row in open_source(str(bundled_sample()), {}).rows()}
    answers = {i: [f"Work it out.\n### Answer: {golds[i]}", f"Guess.\n### Answer: {golds[i]}0"] for i in range(100)}
    star = star_artifact(tmp_path / "star", answers)
    judged = tmp_path / "judged"
    subprocess.run([*HARNESS, "judge", "-i", str(star), "-o", str(judged), "-j", "exact"], check=True, timeout=300)
    config = tmp_path / "select.yaml"
    config.write_text("batch_size: 1\n")  # a shard per question: kills land between commits
    select = ["select", "pairs", "-i", str(judged), "--config", str(config), "--threshold", "0.5"]
    tally = artifact_stage("select", lambda out: [*HARNESS, *select, "-o", str(out)], tmp_path, rng, ("record_id",))
    assert tally.reruns == 1


def test_eval(tmp_path, rng, default_model):
    """Two subjects of 20 questions, a commit each (`--shard-questions 20`: eval commits whole subjects)."""
    evaluate = ["eval", "mmlu", "--subsets", "anatomy,astronomy", "--limit", "20", "--shard-questions", "20"]
    evaluate += ["--seed", "0", "--engine", "transformers", "--threads", "1", "--device", "cpu"]
    tally = artifact_stage(
        "eval", lambda out: [*HARNESS, *evaluate, "-o", str(out)], tmp_path, rng, ("record_id",), timed=True
    )
    assert tally.reruns == 1


def test_train_resumes_from_its_last_checkpoint(tmp_path, rng, default_model):
    rows = tmp_path / "sft.jsonl"
    chat = [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi there."}]
    rows.write_text("".join(json.dumps({"messages": chat, "i": i}) + "\n" for i in range(8)))

    def command(out: Path) -> list[str]:
        return [*HARNESS, "train", "sft", "--allow-unchecked", "--input", str(rows), "--output", str(out), "--max-steps", "6",
                "--save-steps", "1", "--batch-size", "1", "--max-length", "64", "--threads", "1", "--seed", "0"]  # fmt: skip

    unkilled, killed = tmp_path / "unkilled", tmp_path / "killed"
    subprocess.run(command(unkilled), check=True, capture_output=True, timeout=900, env=own_cache(tmp_path))

    def checkpoints() -> int:
        # The newest checkpoint's step, read by listing one folder: the trainer deletes older checkpoints while
        # we look (a recursive glob into one of them failed in CI), and with rotation their count stops growing.
        steps = [0]
        for folder in tmp_path.glob(".killed*/checkpoints"):
            with contextlib.suppress(FileNotFoundError):
                names = [p.name.split("-")[-1] for p in folder.iterdir() if p.name.startswith("checkpoint-")]
                steps += [int(n) for n in names if n.isdigit()]
        return max(steps)

    tally = kill_loop(command(killed), checkpoints, 6, kills_for("train"), 0.5, rng)  # a step takes over a second
    assert tally.reruns == 1
    steps = [json.loads(line)["step"] for line in (killed / "training_log.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]  # fmt: skip
    assert sorted(set(steps)) == list(range(1, 7))
    import torch
    from safetensors.torch import load_file

    got, want = load_file(killed / "model.safetensors"), load_file(unkilled / "model.safetensors")
    assert got.keys() == want.keys()
    assert all(torch.allclose(got[k], want[k], atol=1e-5) for k in want)
