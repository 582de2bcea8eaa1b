"""A local stand-in for the Hugging Face Hub API that records every call `huggingface_hub` makes.

It speaks the part of the Hub API that `harness push` uses, as huggingface_hub 2.x calls it (read from its
source: hf_api.py, _commit_api.py): repo info (GET /api/datasets/ID), repo creation (POST /api/repos/create),
settings (PUT .../settings), branches (POST .../branch/B), the file tree (GET .../tree/REV), README metadata
validation (POST /api/validate-yaml), preupload (POST .../preupload/REV: every file "regular", i.e. sent
inline in the commit) and the NDJSON commit (POST .../commit/REV), whose files it keeps per repo and revision.

Only requests with `Authorization: Bearer <token>` are served (401 otherwise), and namespaces listed in
`forbidden` may not be created in (403), as on the Hub.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

REPO = r"/api/(?:datasets|models)/(?P<repo>[^/]+/[^/]+)"  # dataset pushes, and model pushes (harness train's)


@dataclass
class Call:
    method: str
    path: str
    authorization: str | None
    body: bytes


@dataclass
class HubState:
    token: str
    forbidden: set[str] = field(default_factory=set)  # namespaces the token may not create repos in
    repos: dict[str, dict] = field(default_factory=dict)  # repo id -> {"private": bool, "files": {rev: {path: bytes}}}
    calls: list[Call] = field(default_factory=list)


class RecordingHub:
    def __init__(self, token: str, forbidden: set[str] | None = None) -> None:
        self.state = HubState(token, forbidden or set())
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def calls(self) -> list[Call]:
        return self.state.calls

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        return self.state.repos[repo_id]["files"].get(revision, {})


class _Handler(BaseHTTPRequestHandler):
    state: HubState

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = unquote(urlparse(self.path).path)
        auth = self.headers.get("Authorization")
        self.state.calls.append(Call(method, path, auth, body))
        if auth != f"Bearer {self.state.token}":
            return self._reply(401, {"error": "Invalid credentials"}, {"X-Error-Message": "Invalid credentials in Authorization header"})  # fmt: skip
        for pattern, verb, route in ROUTES:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return route(self, body, **match.groupdict())
        return self._reply(404, {"error": f"no route {method} {path}"})

    def _reply(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    @property
    def _base(self) -> str:
        return f"http://{self.headers['Host']}"

    def _missing(self, repo: str) -> None:
        self._reply(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})

    # -- routes ---------------------------------------------------------------------------------------------
    def repo_info(self, body: bytes, repo: str) -> None:
        if repo not in self.state.repos:
            return self._missing(repo)
        self._reply(200, {"id": repo, "sha": "0" * 40, "private": self.state.repos[repo]["private"]})

    def create(self, body: bytes) -> None:
        request = json.loads(body)
        repo = f"{request['organization']}/{request['name']}"
        if request["organization"] in self.state.forbidden:
            return self._reply(403, {"error": "You don't have the rights to create a dataset under this namespace"})
        if repo in self.state.repos:
            return self._reply(409, {"error": "You already created this dataset repo"})
        private = request.get("visibility") == "private"
        self.state.repos[repo] = {"private": private, "files": {"main": {}}}
        self._reply(200, {"url": f"{self._base}/datasets/{repo}"})

    def settings(self, body: bytes, repo: str) -> None:
        if repo not in self.state.repos:
            return self._missing(repo)
        self.state.repos[repo]["private"] = json.loads(body).get("visibility") == "private"
        self._reply(200, {})

    def branch(self, body: bytes, repo: str, branch: str) -> None:
        if repo not in self.state.repos:
            return self._missing(repo)
        files = self.state.repos[repo]["files"]
        if branch in files:
            return self._reply(409, {"error": "Reference already exists"})
        files[branch] = dict(files["main"])
        self._reply(200, {})

    def tree(self, body: bytes, repo: str, revision: str) -> None:
        if repo not in self.state.repos:
            return self._missing(repo)
        files = self.state.repos[repo]["files"].get(revision, {})
        self._reply(200, [{"type": "file", "path": p, "size": len(d), "oid": "0" * 40} for p, d in files.items()])

    def validate_yaml(self, body: bytes) -> None:
        self._reply(200, {"errors": [], "warnings": []})

    def preupload(self, body: bytes, repo: str, revision: str) -> None:
        if repo not in self.state.repos:
            return self._missing(repo)
        files = json.loads(body)["files"]
        self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})  # fmt: skip

    def commit(self, body: bytes, repo: str, revision: str) -> None:
        if repo not in self.state.repos:
            return self._missing(repo)
        files = self.state.repos[repo]["files"].setdefault(revision, {})
        for line in body.splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            elif item["key"] == "deletedFile":
                files.pop(item["value"]["path"], None)
        oid = "1" * 40
        self._reply(200, {"commitUrl": f"{self._base}/datasets/{repo}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None})  # fmt: skip


ROUTES = [
    (REPO, "GET", _Handler.repo_info),
    (r"/api/repos/create", "POST", _Handler.create),
    (REPO + r"/settings", "PUT", _Handler.settings),
    (REPO + r"/branch/(?P<branch>.+)", "POST", _Handler.branch),
    (REPO + r"/tree/(?P<revision>[^/]+)", "GET", _Handler.tree),
    (r"/api/validate-yaml", "POST", _Handler.validate_yaml),
    (REPO + r"/preupload/(?P<revision>.+)", "POST", _Handler.preupload),
    (REPO + r"/commit/(?P<revision>.+)", "POST", _Handler.commit),
]
