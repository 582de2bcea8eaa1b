"""A real HTTP proxy on 127.0.0.1 that injects faults in front of a real server (asyncio streams, no framework).

Each request is identified by its content (the messages or prompt in its JSON body, not the model name,
which holds a per-session path), and its attempts are counted. The fault for an attempt is: the next entry of
`script` while any remain (so every kind is exercised whatever the arrival order), then, per `shares`, a
kind chosen by hashing (content, attempt number): the same faults on every run, a fresh draw per retry.

Kinds: "429" (with Retry-After: `retry_after` seconds), "500", "hang" (never answers; the client's timeout
must fire), "drop" (closes the connection without a reply), "leak400" (a 400 that echoes the request's
Authorization header, as a careless server might), "401", or any callable `rule(key, attempt) -> kind|None`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

KINDS = ("429", "500", "hang", "drop", "leak400", "401")


@dataclass
class ProxyStats:
    faults: Counter = field(default_factory=Counter)  # kind -> times injected
    forwarded: Counter = field(default_factory=Counter)  # request key -> times passed to the server
    arrivals: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # key -> times seen
    last_429: dict[str, float] = field(default_factory=dict)
    gaps_after_429: list[float] = field(default_factory=list)  # how long clients waited after a 429
    keys: dict[str, str] = field(default_factory=dict)  # request key -> the text it was made from
    authorization: set[str] = field(default_factory=set)  # Authorization headers seen (the secret test)


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        shares: dict[str, float] | None = None,
        script: list[str] | None = None,
        rule: Callable[[str, int], str | None] | None = None,
        retry_after: float = 1.0,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.path_prefix = parts.path.rstrip("/")
        self.shares = shares or {}
        self.script = list(script or [])
        self.rule = rule
        self.retry_after = retry_after
        self.stats = ProxyStats()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result()
        self._server = server
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}{self.path_prefix}"
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # -- deciding -------------------------------------------------------------------------------------------
    def _key(self, body: bytes) -> tuple[str, str]:
        try:
            data = json.loads(body)
            text = json.dumps(data.get("messages") or data.get("prompt"), sort_keys=True)
        except (ValueError, AttributeError):
            text = body.decode(errors="replace")
        return hashlib.sha256(text.encode()).hexdigest()[:16], text

    def _fault(self, key: str, attempt: int) -> str | None:
        if self.script:
            return self.script.pop(0)
        if self.rule is not None:
            return self.rule(self.stats.keys[key], attempt)
        draw = int(hashlib.sha256(f"{key}#{attempt}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        for kind, share in self.shares.items():
            if draw < share:
                return kind
            draw -= share
        return None

    # -- serving --------------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            if not lines[0].startswith("POST"):  # GET /models and the like pass untouched
                await self._forward(lines, headers, body, writer)
                return
            self.stats.authorization.add(headers.get("authorization", ""))
            key, text = self._key(body)
            self.stats.keys[key] = text
            now = time.monotonic()
            if key in self.stats.last_429:
                self.stats.gaps_after_429.append(now - self.stats.last_429.pop(key))
            self.stats.arrivals[key].append(now)
            fault = self._fault(key, len(self.stats.arrivals[key]))
            if fault is None:
                self.stats.forwarded[key] += 1
                await self._forward(lines, headers, body, writer)
                return
            self.stats.faults[fault] += 1
            await self._inject(fault, key, headers, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _inject(self, fault: str, key: str, headers, reader, writer) -> None:
        if fault == "drop":
            writer.transport.abort()
        elif fault == "hang":
            await reader.read()  # until the client gives up and closes the connection
        elif fault == "429":
            self.stats.last_429[key] = time.monotonic()
            await _reply(writer, 429, {"error": {"message": "slow down"}}, {"Retry-After": f"{self.retry_after:g}"})
        elif fault == "500":
            await _reply(writer, 500, {"error": {"message": "internal error"}})
        elif fault == "401":
            await _reply(writer, 401, {"error": {"message": "invalid api key"}})
        elif fault == "leak400":
            echoed = headers.get("authorization", "")
            await _reply(writer, 400, {"error": {"message": f"malformed request from {echoed}"}})
        else:
            raise ValueError(f"unknown fault {fault!r}; kinds are {KINDS}")

    async def _forward(self, lines: list[str], headers: dict[str, str], body: bytes, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        kept = {k: v for k, v in headers.items() if k not in ("host", "connection", "keep-alive")}
        head = [lines[0], f"host: {self.upstream_host}:{self.upstream_port}", "connection: close"]
        head += [f"{k}: {v}" for k, v in kept.items()]
        up_writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await up_writer.drain()
        reply = await up_reader.read()  # the server closes after one reply (connection: close)
        up_writer.close()
        writer.write(reply)
        await writer.drain()


async def _reply(writer, status: int, payload: dict, extra: dict[str, str] | None = None) -> None:
    body = json.dumps(payload).encode()
    reason = {400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests", 500: "Internal Server Error"}
    head = [f"HTTP/1.1 {status} {reason[status]}", "content-type: application/json"]
    head += [f"content-length: {len(body)}", "connection: close"]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
