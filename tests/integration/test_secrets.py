"""A recognisable fake API key through every error path of the openai engine in synth, judge and eval: a
refused key (401), an unreachable URL, 500s, timeouts, dropped connections, and a 400 that echoes the key.
Every line printed and every file written (artifacts, markers, configs, the generation cache) is searched for it.

Each run must end in an artifact (exit 0, failed requests as error rows) or one clear error (exit 2), never a
traceback. The openai client's debug logging is on, so its own logs are searched too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.engines.vllm_server import free_port
from tests.integration.fault_proxy import FaultProxy
from tests.integration.test_openai_engine import FAKE_KEY, written_text
from tests.unit.judged_samples import star_artifact

pytestmark = pytest.mark.slow

FAULTS = ["leak400", "500", "hang", "drop", "429"]  # one of each, then healthy
ENGINE = ["--api-key-env", "HARNESS_TEST_KEY", "--timeout", "3", "--max-retries", "1"]


def commands(url: str, model: str, out: Path, star: Path) -> dict[str, list[str]]:
    server = ["--engine", "openai", "--base-url", url, "--model", model, *ENGINE]
    return {
        "synth": ["synth", "--input", "sample", "--limit", "3", "--max-tokens", "4", *server, "-o", str(out / "synth")],
        "judge": ["judge", "-i", str(star), "-j", "score", "--max-tokens", "4", *server, "-o", str(out / "judge")],
        "eval": ["eval", "mmlu", "--subsets", "anatomy", "--limit", "2", *server, "-o", str(out / "eval")],
    }


def harness(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *argv], capture_output=True, text=True, timeout=300, env=env
    )


def test_the_key_is_never_printed_or_written(tmp_path, vllm_server):
    env = {**os.environ, "HARNESS_TEST_KEY": FAKE_KEY, "OPENAI_LOG": "debug"}
    star = star_artifact(tmp_path / "star")
    printed: list[tuple[str, str]] = []
    scenarios = {
        "faults": lambda: FaultProxy(vllm_server.url, script=list(FAULTS), retry_after=0),
        "refused-key": lambda: FaultProxy(vllm_server.url, rule=lambda text, attempt: "401"),
    }
    for scenario, proxy_of in scenarios.items():
        with proxy_of() as proxy:
            # Each scenario its own generation cache: replies cached by the faults scenario would answer the
            # refused-key one without contacting the server at all.
            cache = {**env, "HARNESS_CACHE_DIR": str(tmp_path / scenario / "cache")}
            for stage, argv in commands(proxy.url, vllm_server.model_path, tmp_path / scenario, star).items():
                run = harness(argv, cache)
                printed.append((f"{scenario}/{stage}", run.stdout + run.stderr))
                assert "Traceback" not in run.stderr, f"{scenario}/{stage}: {run.stderr[-2000:]}"
                assert run.returncode in (0, 2), f"{scenario}/{stage}: {run.stderr[-2000:]}"
                if scenario == "refused-key":
                    assert run.returncode == 2, f"{stage}: a refused key must stop the run: {run.stderr[-1000:]}"
        assert f"Bearer {FAKE_KEY}" in proxy.stats.authorization  # the key was really sent
    unreachable = f"http://127.0.0.1:{free_port()}/v1"
    cache = {**env, "HARNESS_CACHE_DIR": str(tmp_path / "bad-url" / "cache")}
    for stage, argv in commands(unreachable, vllm_server.model_path, tmp_path / "bad-url", star).items():
        run = harness(argv, cache)
        printed.append((f"bad-url/{stage}", run.stdout + run.stderr))
        assert run.returncode == 2 and "Traceback" not in run.stderr, f"bad-url/{stage}: {run.stderr[-2000:]}"

    leaks = [name for name, text in written_text(tmp_path) if FAKE_KEY in text]
    leaks += [
        f"{name} line {i}" for name, text in printed for i, line in enumerate(text.splitlines()) if FAKE_KEY in line
    ]
    assert leaks == []
    assert any("HTTP Request" in text or "Request options" in text for _, text in printed)  # debug logs were on
