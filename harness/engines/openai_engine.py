"""The `openai` engine: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, a hosted API) via `AsyncOpenAI`.

- Chat messages go to chat completions; raw prompts to completions. An assistant prefix is sent as a final
  assistant message with `continue_final_message` (a vLLM/SGLang extension): the server renders its own chat
  template, so the prefix continues exactly where the template leaves off.
- One pool over the whole job: at most `concurrency` requests are in flight, and a few more wait for a slot
  (the stream's window, twice the concurrency by default), so a slot is refilled the moment a request returns,
  not at a batch boundary. Optional requests/tokens-per-minute budgets pace them.
- 429, 408/409, 5xx, timeouts and dropped connections are retried with jittered exponential backoff, never
  sooner than the server's `Retry-After`. A request that still fails comes back as `Completion.failed` rows
  (the stage writes them with an `engine_error` verdict and a rerun retries them). A bad key, a forbidden
  or unknown model stop the run with `EngineError`: retrying cannot fix them. The server's refusal of a prompt
  past its context (by OpenAI's `context_length_exceeded` code, else the message: `engines/context.py`) fails
  that request at once, never retried, as a `context_overflow` row.
- The API key is read from the environment variable named by `api_key_env` and is kept only by the client:
  it is redacted from every message this engine records or logs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from harness.engines.base import Completion, Engine, EngineError, EngineStream, Finished, Job, Request, SamplingParams
from harness.engines.context import server_overflow
from harness.engines.limits import RETRY_STATUS, RetryPolicy, TokenBucket, parse_retry_after
from harness.engines.openai_payloads import choice_logprobs, choice_text, public_url, server_sampling, split_tokens

log = logging.getLogger("harness.engines.openai")
NO_KEY = "EMPTY"  # local servers accept any key; the client refuses to start without one


@dataclass
class Usage:
    requests: int = 0  # requests that returned a completion
    retries: int = 0
    failed: int = 0  # requests given up on after every retry
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, prompt: int, completion: int) -> None:
        self.requests += 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("requests", "retries", "failed", "prompt_tokens", "completion_tokens")}


class OpenAIEngine(Engine):
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        rpm: int | None = None,
        tpm: int | None = None,
    ):
        import openai

        self._openai = openai
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self._key = os.environ.get(api_key_env) or NO_KEY
        self.concurrency = concurrency
        self.timeout = timeout
        self.policy = RetryPolicy(max_retries=max_retries, base=backoff_base, cap=backoff_cap)
        self.rpm, self.tpm = rpm, tpm
        self.usage = Usage()
        self._rng = random.Random()
        # One event loop on a thread of its own: `generate` is synchronous and works whether or not the caller
        # already runs an event loop (notebooks do).
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="harness-openai", daemon=True)
        self._thread.start()
        try:
            self._call(self._setup())
        except BaseException:
            self.close()  # a refused start must not leave the loop's thread behind
            raise

    async def _setup(self) -> None:
        import httpx

        self._client = self._openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._key,
            max_retries=0,  # retries are ours: backoff, Retry-After, counting and error rows
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=self.concurrency)),
        )
        self._slots = asyncio.Semaphore(self.concurrency)
        now = time.monotonic()
        self._rpm = TokenBucket(self.rpm, now) if self.rpm else None
        self._tpm = TokenBucket(self.tpm, now) if self.tpm else None
        await self._check_server()

    async def _check_server(self) -> None:
        """Fail before any row when the server cannot be reached, refuses the key, or lacks the model.

        Unreachable is retried first (a server may still be starting); a server without a model list passes.
        """
        for attempt in range(1, self.policy.max_retries + 2):
            try:
                served = [m.id async for m in self._client.models.list()]
                break
            except self._openai.APIConnectionError as err:
                if not self.policy.should_retry(attempt):
                    raise EngineError(f"cannot reach {public_url(self.base_url)}: {type(err).__name__}") from None
                await asyncio.sleep(self.policy.delay(attempt, rng=self._rng))
            except self._openai.APIStatusError as err:
                if err.status_code in (401, 403):
                    raise EngineError(self._describe_fatal(err)) from None
                return
        if served and self.model not in served:
            names = ", ".join(served[:10]) + (" ..." if len(served) > 10 else "")
            raise EngineError(f"{public_url(self.base_url)} does not serve {self.model!r}; it serves: {names}")

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "openai": self._openai.__version__,
            "base_url": public_url(self.base_url),
            "model": self.model,
            "api_key_env": self.api_key_env,  # the variable's name, never its value
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "max_retries": self.policy.max_retries,
            "rpm": self.rpm,
            "tpm": self.tpm,
        }

    def usage_totals(self) -> dict[str, Any]:
        return self.usage.to_dict()

    @property
    def default_window(self) -> int:
        return 2 * self.concurrency  # every slot busy, and the next request already waiting for one

    def open_stream(self) -> EngineStream:
        return _Pool(self)

    async def _request(self, request: Request, params: SamplingParams) -> list[Completion]:
        attempt = 0
        while True:
            try:
                async with self._slots:
                    estimate = await self._pace(request, params)
                    response = await self._send(request, params)
                completions, used = self._completions(response, params)
                self._settle(estimate, used)
                return completions
            except self._openai.APIStatusError as err:
                if err.status_code in (401, 403, 404):
                    raise EngineError(self._describe_fatal(err)) from None
                if too_long := self._past_context(err):  # at once: a retry or a rerun is refused again
                    self.usage.failed += 1
                    return Completion.failed(too_long, params.n)
                if err.status_code not in RETRY_STATUS:  # the request itself is wrong: retrying repeats it
                    return self._give_up(self._redact(str(err)), params)
                wait_at_least = parse_retry_after(err.response.headers)
                reason = f"HTTP {err.status_code}"
            except self._openai.APIConnectionError as err:  # timeouts and dropped connections
                wait_at_least, reason = None, type(err).__name__
            except self._openai.APIError as err:  # e.g. a reply that is not the JSON it should be
                return self._give_up(self._redact(f"{type(err).__name__}: {err}"), params)
            attempt += 1
            if not self.policy.should_retry(attempt):
                return self._give_up(f"{reason} after {attempt} attempts", params)
            delay = self.policy.delay(attempt, wait_at_least, self._rng)
            self.usage.retries += 1
            log.info("request failed (%s); retry %d in %.2fs", reason, attempt, delay)
            await asyncio.sleep(delay)  # outside the slot: other requests keep the server busy meanwhile

    def _give_up(self, reason: str, params: SamplingParams) -> list[Completion]:
        self.usage.failed += 1
        log.warning("request failed for good (%s); it becomes an error row, and a rerun retries it", reason)
        return Completion.failed(reason, params.n)

    def _past_context(self, err) -> str | None:
        """The server's refusal of a prompt past its context, as a `context_overflow` row's reason; else None."""
        body = err.body if isinstance(err.body, dict) else {}
        message = body.get("message") if isinstance(body.get("message"), str) else str(err)
        return server_overflow(err.status_code, body.get("code"), self._redact(message))

    def _describe_fatal(self, err) -> str:
        hint = {
            401: f"check the key in ${self.api_key_env} (--api-key-env names the variable)",
            403: f"the key in ${self.api_key_env} may not use this model",
            404: f"is {self.model!r} the name the server serves? (GET {public_url(self.base_url)}/models lists them)",
        }[err.status_code]
        return self._redact(f"{public_url(self.base_url)} answered HTTP {err.status_code}: {hint}. Server said: {err}")

    async def _pace(self, request: Request, params: SamplingParams) -> float:
        """Wait for the per-minute budgets; returns the token estimate charged (settled after the answer)."""
        now = time.monotonic()
        waits = [self._rpm.reserve(1, now)] if self._rpm else []
        estimate = 0.0
        if self._tpm:
            text = request.prompt if request.prompt is not None else "".join(m["content"] for m in request.messages)
            estimate = len(text) / 4 + params.max_tokens * params.n  # ~4 characters a token, the whole budget
            waits.append(self._tpm.reserve(estimate, now))
        if wait := max(waits, default=0.0):
            await asyncio.sleep(wait)
        return estimate

    def _settle(self, estimate: float, used: int) -> None:
        if self._tpm:
            self._tpm.refund(estimate - used, time.monotonic())

    async def _send(self, request: Request, params: SamplingParams):
        greedy = params.temperature == 0
        common: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": 1 if greedy else params.n,  # vLLM refuses n>1 without sampling; greedy samples are all alike
            "stop": list(params.stop) or None,
            "seed": params.seed,
        }
        extra: dict[str, Any] = server_sampling(params)
        if request.prompt is not None:
            if params.logprobs is not None:
                common["logprobs"] = params.logprobs
            return await self._client.completions.create(prompt=request.prompt, extra_body=extra or None, **common)
        messages = [dict(m) for m in request.messages]
        if request.assistant_prefix:
            messages.append({"role": "assistant", "content": request.assistant_prefix})
            extra.update(continue_final_message=True, add_generation_prompt=False)
        if params.logprobs is not None:
            common.update(logprobs=True, top_logprobs=params.logprobs)
        return await self._client.chat.completions.create(messages=messages, extra_body=extra or None, **common)

    def _completions(self, response, params: SamplingParams) -> tuple[list[Completion], int]:
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        total = usage.completion_tokens if usage else 0
        choices = sorted(response.choices, key=lambda c: c.index)
        texts = [choice_text(c) for c in choices]
        logprobs = [choice_logprobs(c) if params.logprobs is not None else None for c in choices]
        counts = split_tokens(total, choices, texts, logprobs, params.max_tokens)
        self.usage.add(prompt_tokens, total)
        out = []
        for choice, text, lp, count in zip(choices, texts, logprobs, counts, strict=True):
            finish = choice.finish_reason
            if finish not in ("stop", "length"):
                out.append(Completion("", "error", prompt_tokens, count, error=f"the server ended with {finish!r}"))
            else:
                out.append(Completion(text, finish, prompt_tokens, count, 0, lp))
        if len(out) < params.n:  # greedy: one sample stands for all n
            out = out[:1] * params.n
        return [Completion(**{**c.to_dict(), "sample_idx": i}) for i, c in enumerate(out)], (
            usage.total_tokens if usage else 0
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key != NO_KEY and len(self._key) >= 4 else text

    def score_prompts(self, requests, batch: int = 8):
        from harness.engines.scoring import openai_scores

        return self._call(openai_scores(self._client, self.model, requests))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self._shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    async def _shutdown(self) -> None:
        # Requests still in flight (the caller was interrupted) are cancelled, not left to finish unseen.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if hasattr(self, "_client"):
            await self._client.close()


class _Pool(EngineStream):
    """Jobs running on the engine's event loop; each one's completions are queued back as it returns."""

    def __init__(self, engine: OpenAIEngine) -> None:
        self.engine = engine
        self.futures: dict[int, concurrent.futures.Future] = {}
        self.finished: queue.SimpleQueue = queue.SimpleQueue()
        self.count = 0

    @property
    def in_flight(self) -> int:
        return len(self.futures)

    def add(self, jobs: list[Job]) -> None:
        for job in jobs:
            key, self.count = self.count, self.count + 1
            future = asyncio.run_coroutine_threadsafe(self.engine._request(job.request, job.params), self.engine._loop)
            future.add_done_callback(lambda f, key=key, tag=job.tag: self.finished.put((key, tag, f)))
            self.futures[key] = future

    def wait(self) -> list[Finished]:
        if not self.futures:
            return []
        done = [self.finished.get()]
        while not self.finished.empty():
            done.append(self.finished.get_nowait())
        out = []
        for key, tag, future in done:
            del self.futures[key]
            out.append((tag, future.result()))  # EngineError (a bad key) stops the run: retrying cannot fix it
        return out

    def close(self) -> None:
        # Requests still in flight (the caller was interrupted or one failed fatally) are cancelled.
        for future in self.futures.values():
            future.cancel()
        self.futures = {}
