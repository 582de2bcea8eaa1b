"""Real artifacts for the report and push tests, made once per test session by the real stages at tiny sizes:
a backfill synth run (4 rows, 16 tokens) and an MMLU eval (2 questions from each of 4 subjects, one per
section of the card's table), plus a judged artifact made by hand from the synth rows to the judge contract."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.judged_fixture import make_judged_artifact

HARNESS = [sys.executable, "-m", "harness.cli"]
EVAL_SUBJECTS = "college_mathematics,professional_law,high_school_psychology,anatomy"


@dataclass(frozen=True)
class RealArtifacts:
    synth: Path
    eval: Path
    judged: Path
    env: dict[str, str]  # the environment they were made in (its harness cache holds the default model)


def run_harness(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*HARNESS, *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="session")
def real_artifacts(_session_models, tmp_path_factory) -> RealArtifacts:
    root = tmp_path_factory.mktemp("real-artifacts")
    cache = root / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(_session_models, target_is_directory=True)
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    synth, evaluated = root / "synth", root / "mmlu"
    priced = ["--price-input", "0.15", "--price-output", "0.6"]  # the report and the card show what it cost
    run_harness("synth", "--input", "sample", "--limit", "4", "--max-tokens", "16", "--seed", "0", "--output", str(synth), *priced, env=env)  # fmt: skip
    run_harness("eval", "mmlu", "--subsets", EVAL_SUBJECTS, "--limit", "2", "--output", str(evaluated), env=env)
    judged = make_judged_artifact(synth, root / "judged")
    return RealArtifacts(synth, evaluated, judged, env)
