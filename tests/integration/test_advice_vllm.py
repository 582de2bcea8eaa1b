"""The refusal of --data-parallel-size on the vLLM engine prints whole commands (Ray replicas, or `vllm serve` and
the same command on --engine openai); they need GPUs to run, so the real CLI's parser reads them (every option
checked, nothing run) and the `vllm serve` line is checked for its ranks and the settings it takes over."""

from __future__ import annotations

import re
import shlex

from typer.testing import CliRunner

from harness.cli import app
from tests.unit.test_advice import parse


def test_data_parallel_vllm_prints_commands_the_cli_accepts(tmp_path, _session_model_path):
    """The model is the session's (converted once); the refusal comes before vLLM is imported."""
    typed = ["synth", "--engine", "vllm", "--data-parallel-size", "2", "--max-model-len", "512", "--input", "sample"]
    typed += ["--limit", "1", "--output", str(tmp_path / "o")]
    refused = CliRunner().invoke(app, typed)
    assert refused.exit_code == 2, refused.output
    commands = [shlex.split(c) for c in re.findall(r"`([^`]+)`", refused.output)]
    assert [c[:2] for c in commands] == [["harness", "synth"], ["vllm", "serve"], ["harness", "synth"]], refused.output
    ray, serve, remote = commands
    ray_params = parse(ray)
    assert (ray_params["ray__address"], ray_params["ray__replicas"], ray_params["vllm__data_parallel_size"]) == (
        "auto", 2, None)  # fmt: skip
    assert ray_params["output"] == str(tmp_path / "o") and ray_params["vllm__max_model_len"] == 512
    # `vllm serve MODEL` with the ranks and the context; the same synth then asks that server
    assert serve[2:] == [serve[2], "--data-parallel-size", "2", "--port", "8000", "--max-model-len", "512"]
    remote_params = parse(remote)
    assert (remote_params["engine"], remote_params["openai__base_url"], remote_params["model"]) == (
        "openai", "http://127.0.0.1:8000/v1", serve[2])  # fmt: skip
    assert remote_params["limit"] == 1 and remote_params["vllm__max_model_len"] is None
