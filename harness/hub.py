"""The one place `huggingface_hub` is wrapped for uploads: token, repo, branch, one commit, clear errors.

The token comes from where `huggingface_hub` always looks (HF_TOKEN, or the file `hf auth login` writes);
it is handed to `HfApi` in memory and never written, logged or put in an error message (every message that
leaves this module has it masked, in case a server echoes it back).
The Hub endpoint is `huggingface_hub`'s (HF_ENDPOINT), so tests point it at a local server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_TYPE = "dataset"
DATA_PREFIX = "data/"


class HubError(RuntimeError):
    """The Hub refused or could not be reached; the message says what to do."""


@dataclass(frozen=True)
class Pushed:
    repo_url: str
    commit_url: str
    revision: str
    created: bool  # the repo did not exist before this push
    deleted: list[str]  # stale data files of an earlier push, removed by this commit


def hub_token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise HubError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` "
            "(harness push reads it from there and never writes it anywhere)"
        )
    return token


def upload_folder(
    folder: Path, repo_id: str, private: bool, revision: str | None, message: str, repo_type: str = REPO_TYPE
) -> Pushed:
    """Create the repo (and branch) when missing, then one commit: every file of `folder` added, and data files
    this push does not write deleted (a dataset's under data/, a model's weights), so no stale shard is left."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    token = hub_token()
    api = HfApi(token=token)
    try:
        created = _ensure_repo(api, repo_id, private, repo_type)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        names = {p.relative_to(folder).as_posix() for p in files}
        existing = [] if created else api.list_repo_files(repo_id, repo_type=repo_type, revision=revision)
        stale = sorted(p for p in existing if _is_data(p, repo_type) and p not in names)
        operations = [CommitOperationDelete(path_in_repo=p) for p in stale]
        operations += [
            CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=p) for p in files
        ]
        info = api.create_commit(repo_id, operations, commit_message=message, repo_type=repo_type, revision=revision)
    except Exception as err:
        raise _hub_error(err, api.endpoint, repo_id, revision, token, repo_type) from None
    url = f"{api.endpoint}/datasets/{repo_id}" if repo_type == "dataset" else f"{api.endpoint}/{repo_id}"
    return Pushed(url, info.commit_url, revision or "main", created, stale)


def _is_data(path: str, repo_type: str) -> bool:
    if repo_type == "dataset":
        return path.startswith(DATA_PREFIX)
    return path.endswith((".safetensors", ".safetensors.index.json"))  # a model's weights, sharded or not


def _ensure_repo(api, repo_id: str, private: bool, repo_type: str = REPO_TYPE) -> bool:
    """True when the repo was created now. An existing repo is made private with --private, never public."""
    if api.repo_exists(repo_id, repo_type=repo_type):
        if private:
            api.update_repo_settings(repo_id, private=True, repo_type=repo_type)
        return False
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private or None)
    except HfHubHTTPError as err:
        if err.response is None or err.response.status_code not in (401, 403):
            raise
        namespace = repo_id.split("/")[0]
        raise HubError(
            f"{repo_type} repo {repo_id} does not exist at {api.endpoint}, and this token may not create it in "
            f"{namespace!r} (HTTP {err.response.status_code}); check the name, or use a token with write access there"
        ) from None
    return True


def _hub_error(
    err: Exception, endpoint: str, repo_id: str, revision: str | None, token: str, repo_type: str = REPO_TYPE
) -> Exception:
    """One clear line for what went wrong; anything unexpected is re-raised as it is (a bug, with its trace)."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    transport = _transport_errors()
    if isinstance(err, RepositoryNotFoundError):
        text = f"{repo_type} repo {repo_id} not found at {endpoint}, or this token may not see it"
    elif isinstance(err, RevisionNotFoundError):
        text = f"revision {revision!r} not found in {repo_type} repo {repo_id} at {endpoint}"
    elif isinstance(err, HfHubHTTPError):
        status = err.response.status_code if err.response is not None else "?"
        namespace = repo_id.split("/")[0]
        hint = {
            401: "the Hub refused the token; log in again (`hf auth login`) or set a valid HF_TOKEN",
            403: f"this token may not write to {repo_id} (or create repos in {namespace!r}); use a token with write access",
        }.get(status, "the Hub refused the request")
        server = (err.server_message or "").strip().splitlines()[:1]
        text = f"push to {repo_id} at {endpoint} failed (HTTP {status}): {hint}" + (f" [{server[0]}]" if server else "")
    elif isinstance(err, (*transport, OSError)):
        text = f"cannot reach the Hub at {endpoint} ({type(err).__name__}: {err}); check the network or HF_ENDPOINT"
    else:
        return err  # our own HubError, or a bug: raised as it is
    return HubError(text.replace(token, "***"))


def _transport_errors() -> tuple[type[Exception], ...]:
    """The HTTP client's network errors: huggingface_hub 2.x uses httpx2, 1.x httpx."""
    try:
        import httpx2

        return (httpx2.TransportError,)
    except ImportError:
        import httpx

        return (httpx.TransportError,)
