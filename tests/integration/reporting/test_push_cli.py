"""`harness push` on a real synth artifact: --to-dir loads with `datasets` and its card with `DatasetCard`;
the upload goes to a local Hub stand-in that records what huggingface_hub sends; errors are one clear line;
the token is never written anywhere."""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets
import polars as pl
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

from harness.artifacts.writer import read_provenance
from tests.hub_server import RecordingHub
from tests.integration.reporting.conftest import RealArtifacts, run_harness

pytestmark = pytest.mark.slow

TOKEN = "hf_TestTokenThatMustNeverLeak0123456789"


def _read_artifact(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(folder.glob("part-*.parquet"))).sort("record_id", "sample_idx")


def test_to_dir_loads_with_datasets_and_its_card(real_artifacts: RealArtifacts, tmp_path):
    out = tmp_path / "pushed"
    result = run_harness("push", str(real_artifacts.synth), "--allow-unchecked", "--repo-id", "me/backfill-demo", "--to-dir", str(out), "--license", "apache-2.0", env=real_artifacts.env)  # fmt: skip
    assert result.stdout.strip() == str(out) and "nothing uploaded" in result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "README.md",
        "data/train-00000-of-00001.parquet",
    ]

    loaded = datasets.load_dataset(str(out), split="train")
    source = _read_artifact(real_artifacts.synth)
    assert loaded.num_rows == source.height == 4
    assert pl.from_arrow(loaded.data.table).sort("record_id", "sample_idx").equals(source)  # every value, unchanged

    card = DatasetCard.load(out / "README.md")
    assert card.data.license == "apache-2.0"
    assert card.data.task_categories == ["text-generation"] and "backfill" in card.data.tags
    assert card.data.configs == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    info = card.data.dataset_info
    assert info["splits"][0]["num_examples"] == 4
    assert [f["name"] for f in info["features"]] == source.columns
    provenance = read_provenance(real_artifacts.synth / "part-00000.parquet")
    text = card.text
    assert "Qwen3-4B-Reasoning-Backfill" in text and provenance["model"]["fingerprint"] in text
    assert "| temperature | 0.7 |" in text and "| max_tokens | 16 |" in text
    assert "| **#1 synth** | **valid (every rule)** | **4** |" in text and "| #1 synth | markers | 4 |" in text
    digest = next(iter(provenance["input"]["files"].values()))
    assert digest in text and provenance["git_revision"] in text
    assert "- Cost to make (every stage that made it, at the prices given): " in text and " USD (" in text

    pushed = read_provenance(out / "data" / "train-00000-of-00001.parquet")
    assert pushed["rows"] == 4 and pushed["runs"][0]["model"] == provenance["model"]


def test_many_data_files_in_the_hubs_layout(real_artifacts: RealArtifacts, tmp_path):
    from harness.stages.push import FileLimits, push_dataset

    out = tmp_path / "pushed"
    run = push_dataset(
        str(real_artifacts.eval), "me/mmlu-demo", to_dir=str(out), limits=FileLimits(file_bytes=1, group_rows=3)
    )
    assert run.files.names == [f"data/train-{i:05d}-of-00003.parquet" for i in range(3)]  # 3 + 3 + 2 rows
    assert [pq.ParquetFile(out / n).metadata.num_rows for n in run.files.names] == [3, 3, 2]
    assert datasets.load_dataset(str(out), split="train").num_rows == 8
    card = DatasetCard.load(out / "README.md")
    assert card.data.task_categories == ["question-answering"] and "| **Overall** | **8** |" in card.text


def _hub_env(real_artifacts: RealArtifacts, hub_url: str, tmp_path: Path, token: str | None = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in real_artifacts.env.items() if not k.startswith("HF_")}
    env.update({"HF_ENDPOINT": hub_url, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"})
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def _assert_token_nowhere(*places: Path | str) -> None:
    for place in places:
        if isinstance(place, str):
            assert TOKEN not in place
            continue
        for path in [place] if place.is_file() else place.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


def test_upload_makes_the_calls_the_hub_expects(real_artifacts: RealArtifacts, tmp_path):
    staged = tmp_path / "staged"
    run_harness("push", str(real_artifacts.synth), "--allow-unchecked", "--repo-id", "me/traces", "--to-dir", str(staged), env=real_artifacts.env)  # fmt: skip
    with RecordingHub(TOKEN) as hub:
        env = _hub_env(real_artifacts, hub.url, tmp_path)
        args = [
            "push",
            str(real_artifacts.synth),
            "--allow-unchecked",
            "--repo-id",
            "me/traces",
            "--private",
            "--revision",
            "dev",
        ]
        result = run_harness(*args, "--message", "first traces", env=env)
        calls = [(c.method, c.path) for c in hub.calls]
        assert calls == [
            ("GET", "/api/datasets/me/traces"),  # exists? 404
            ("POST", "/api/repos/create"),
            ("POST", "/api/datasets/me/traces/branch/dev"),
            ("POST", "/api/validate-yaml"),
            ("POST", "/api/datasets/me/traces/preupload/dev"),
            ("POST", "/api/datasets/me/traces/commit/dev"),
        ]
        assert all(c.authorization == f"Bearer {TOKEN}" for c in hub.calls)
        assert json.loads(hub.calls[1].body)["visibility"] == "private" and hub.state.repos["me/traces"]["private"]
        assert b"first traces" in hub.calls[-1].body
        # exactly what --to-dir wrote, byte for byte, on the branch; main untouched
        expected = {p.relative_to(staged).as_posix(): p.read_bytes() for p in staged.rglob("*") if p.is_file()}
        assert hub.files("me/traces", "dev") == expected and hub.files("me/traces", "main") == {}
        assert result.stdout.strip() == f"{hub.url}/datasets/me/traces/commit/{'1' * 40}"
        assert "repo created" in result.stderr
        _assert_token_nowhere(result.stdout, result.stderr, tmp_path, real_artifacts.synth, *(c.body.decode() for c in hub.calls[1:]))  # fmt: skip


def test_a_second_push_replaces_stale_data_files(real_artifacts: RealArtifacts, tmp_path, monkeypatch):
    from huggingface_hub import constants

    from harness.stages.push import FileLimits, push_dataset

    with RecordingHub(TOKEN) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        first = push_dataset(str(real_artifacts.eval), "me/mmlu", limits=FileLimits(file_bytes=1, group_rows=3))
        assert first.pushed.created and len(first.files.names) > 1
        second = push_dataset(str(real_artifacts.eval), "me/mmlu")
        assert not second.pushed.created
        assert second.pushed.deleted == [n for n in first.files.names if n != "data/train-00000-of-00001.parquet"]
        assert sorted(hub.files("me/mmlu")) == ["README.md", "data/train-00000-of-00001.parquet"]
        assert ("GET", "/api/datasets/me/mmlu/tree/main") in [(c.method, c.path) for c in hub.calls]


def test_bad_requests_fail_before_anything_is_written(real_artifacts: RealArtifacts, tmp_path):
    push = ["push", str(real_artifacts.synth), "--allow-unchecked"]
    inside = run_harness(*push, "--repo-id", "me/x", "--to-dir", str(real_artifacts.synth / "hub"), env=real_artifacts.env, check=False)  # fmt: skip
    assert inside.returncode == 2 and "is inside the artifact folder" in inside.stderr
    assert not (real_artifacts.synth / "hub").exists()
    bad_id = run_harness(*push, "--repo-id", "not a repo", "--to-dir", str(tmp_path / "out"), env=real_artifacts.env, check=False)  # fmt: skip
    assert bad_id.returncode == 2 and "expected OWNER/NAME" in bad_id.stderr and not (tmp_path / "out").exists()


def test_errors_are_one_line_and_never_show_the_token(real_artifacts: RealArtifacts, tmp_path):
    push = ["push", str(real_artifacts.synth), "--allow-unchecked"]
    with RecordingHub(TOKEN, forbidden={"someone-else"}) as hub:
        no_token = run_harness(*push, "--repo-id", "me/x", env=_hub_env(real_artifacts, hub.url, tmp_path, token=None), check=False)  # fmt: skip
        assert no_token.returncode == 2 and "no Hugging Face token: set HF_TOKEN" in no_token.stderr
        assert hub.calls == []  # nothing was sent without a token

        missing = run_harness(*push, "--repo-id", "someone-else/x", env=_hub_env(real_artifacts, hub.url, tmp_path), check=False)  # fmt: skip
        assert missing.returncode == 2
        assert "dataset repo someone-else/x does not exist" in missing.stderr and "HTTP 403" in missing.stderr

        refused = run_harness(*push, "--repo-id", "me/x", env=_hub_env(real_artifacts, hub.url, tmp_path, token=TOKEN + "x"), check=False)  # fmt: skip
        assert refused.returncode == 2 and "the Hub refused the token" in refused.stderr

    # the server is gone: nothing listens on its port any more
    offline = run_harness(*push, "--repo-id", "me/x", env=_hub_env(real_artifacts, hub.url, tmp_path), check=False)
    assert offline.returncode == 2 and f"cannot reach the Hub at {hub.url}" in offline.stderr

    for result in (no_token, missing, refused, offline):
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
        _assert_token_nowhere(result.stdout, result.stderr)
    assert TOKEN + "x" not in refused.stderr
    _assert_token_nowhere(tmp_path, real_artifacts.synth)


@pytest.fixture(autouse=True)
def _no_ambient_token(monkeypatch):
    """A developer's own login must not leak into these tests."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    assert os.environ.get("HF_TOKEN") is None
