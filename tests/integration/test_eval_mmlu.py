"""`harness eval mmlu` through lm-eval on the default model: a few questions from two subjects."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import polars as pl
import pytest

from harness.artifacts.writer import read_provenance
from judges.structured_format import FORMAT_RULES

pytestmark = pytest.mark.slow

HARNESS = [sys.executable, "-m", "harness.cli", "eval", "mmlu"]
SUBSETS = "college_mathematics,high_school_psychology"
STRUCTURED_RULES = [rule.__name__ for rule in FORMAT_RULES]


def harness_eval(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*HARNESS, *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def cache_env(_session_models, tmp_path_factory):
    """A harness cache whose models folder is the session's, so `--model default` is converted once."""
    cache = tmp_path_factory.mktemp("eval-cache")
    (cache / "models").symlink_to(_session_models, target_is_directory=True)
    return {**os.environ, "HARNESS_CACHE_DIR": str(cache), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


@pytest.fixture(scope="module")
def loglikelihood_run(cache_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "mmlu"
    args = ["--model", "default", "--subsets", SUBSETS, "--limit", "3", "--seed", "0", "--output", str(out)]
    return out, harness_eval(*args, "--cost-per-hour", "3.6", env=cache_env)


def test_run_writes_the_artifact_table_and_provenance(loglikelihood_run, default_model):
    out, result = loglikelihood_run
    assert result.stdout.strip() == str(out)
    assert "College" in result.stderr and "High School" in result.stderr and "Overall" in result.stderr

    df = pl.read_parquet(out / "*.parquet").sort("id")
    assert df.height == 6
    assert df["id"].to_list() == [
        "college_mathematics/0024",
        "college_mathematics/0042",
        "college_mathematics/0074",
        "high_school_psychology/0323",
        "high_school_psychology/0493",
        "high_school_psychology/0506",
    ]  # the seeded draw (pinned in tests/unit/test_mmlu_data.py), not the first 3
    row = df.row(0, named=True)
    assert row["mode"] == "loglikelihood" and row["section"] == "College" and row["group"] == "stem"
    assert row["prompt"].startswith("The following are multiple choice questions (with answers) about college")
    assert row["prompt"].endswith("D. " + row["choices"][3] + "\nAnswer:")
    for r in df.iter_rows(named=True):
        logprobs = r["choice_logprobs"]
        assert len(logprobs) == 4 and all(lp < 0 for lp in logprobs)
        assert r["prediction"] == logprobs.index(max(logprobs))
        assert r["correct"] == (r["prediction"] == r["gold"]) and r["valid"] and r["verdicts"] == []

    provenance = read_provenance(sorted(out.glob("*.parquet"))[0])
    assert provenance["model"]["fingerprint"] == default_model.fingerprint
    assert provenance["mode"] == "loglikelihood" and provenance["seed"] == 0
    assert provenance["lm_eval_version"] == "0.4.13"
    assert provenance["drawn_ids"]["college_mathematics"] == df["id"].to_list()[:3]
    assert provenance["lm_eval"]["command"][:4] == ["lm_eval", "run", "--model", "hf"]
    cost = provenance["cost"]  # engine time at --cost-per-hour 3.6 (0.001 USD a second), the load included
    assert cost["usd"] == pytest.approx(cost["seconds"] / 1000, abs=1e-6) and cost["usd"] > 0
    assert cost["cost_per_hour"] == 3.6 and "cost" in result.stderr

    summary = json.loads((out / ".harness" / "summary.json").read_text())
    assert summary["metric"] == "acc" and summary["overall"]["n"] == 6
    assert summary["provenance"]["drawn_ids"]["high_school_psychology"] == df["id"].to_list()[3:]
    report = (out / "README.md").read_text()
    assert "| **College** |" in report and "| college_mathematics | 3 |" in report
    loaded = datasets.load_dataset("parquet", data_dir=str(out), split="train")  # README.md is not data
    assert loaded.num_rows == 6


def test_accuracy_equals_lm_evals_own_result(loglikelihood_run, default_model):
    """lm-eval run on its own (its `hf` model by name, its TaskManager on our configs): same answers."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    out, _ = loglikelihood_run
    tasks = ["harness_mmlu_college_mathematics", "harness_mmlu_high_school_psychology"]
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": default_model.path},
        tasks=tasks,
        task_manager=TaskManager(include_path=str(out / ".harness" / "lm_eval"), include_defaults=False),
        batch_size=8,
        device="cpu",
        log_samples=True,
    )
    ours = json.loads((out / ".harness" / "summary.json").read_text())
    df = pl.read_parquet(out / "*.parquet")
    for task in tasks:
        subject = task.removeprefix("harness_mmlu_")
        assert ours["subjects"][subject]["accuracy"] == pytest.approx(results["results"][task]["acc,none"])
        theirs = {s["doc"]["id"]: s for s in results["samples"][task]}
        for row in df.filter(pl.col("subject") == subject).iter_rows(named=True):
            sample = theirs[row["id"]]
            assert row["correct"] == bool(sample["acc"])
            assert row["choice_logprobs"] == pytest.approx([ll for ll, _ in sample["filtered_resps"]], abs=1e-4)
    overall = sum(results["results"][t]["acc,none"] * 3 for t in tasks) / 6
    assert ours["overall"]["accuracy"] == pytest.approx(overall)


def test_rerun_with_a_larger_limit_asks_only_the_new_questions(loglikelihood_run, cache_env):
    out, _ = loglikelihood_run
    before = pl.read_parquet(out / "*.parquet")
    result = harness_eval("--subsets", SUBSETS, "--limit", "4", "--output", str(out), env=cache_env)
    assert "2 questions asked" in result.stderr and "6 were already in the artifact" in result.stderr
    after = pl.read_parquet(out / "*.parquet")
    assert after.height == 8 and after["id"].n_unique() == 8
    assert set(before["id"]) < set(after["id"])
    summary = json.loads((out / ".harness" / "summary.json").read_text())
    assert summary["overall"]["n"] == 8


def test_cloze_and_generative_modes(tmp_path, default_model):
    from rich.console import Console

    from harness.config import EvalConfig
    from harness.stages.eval_mmlu import run_eval_mmlu

    quiet = Console(quiet=True)
    cloze = run_eval_mmlu(
        EvalConfig(output=str(tmp_path / "cloze"), subsets=["anatomy"], limit=2, mode="cloze", threads=1), quiet
    )
    assert cloze.summary.metric == "acc_norm" and cloze.summary.overall.n == 2
    for row in pl.read_parquet(tmp_path / "cloze" / "*.parquet").iter_rows(named=True):
        assert row["prompt"].endswith("\nAnswer:") and "Question: " in row["prompt"]
        per_char = [lp / len(c) for lp, c in zip(row["choice_logprobs"], row["choices"], strict=True)]
        assert row["prediction"] == per_char.index(max(per_char))
        assert row["correct"] == (row["prediction"] == row["gold"])

    generative = run_eval_mmlu(
        EvalConfig(
            output=str(tmp_path / "gen"),
            subsets=["anatomy"],
            limit=2,
            mode="generative",
            task="structured",
            sampling={"max_tokens": 16},
            threads=1,
        ),
        quiet,
    )
    assert generative.summary.overall.format_valid is not None
    df = pl.read_parquet(tmp_path / "gen" / "*.parquet")
    for row in df.iter_rows(named=True):
        assert row["prompt"].startswith("<|im_start|>system\n") and "\nProvided options: ['" in row["prompt"]
        assert row["completion"] is not None and 0 < row["completion_tokens"] <= 16
        assert [v["name"] for v in row["verdicts"]] == STRUCTURED_RULES  # the task's own validators score
        assert row["correct"] == (row["prediction"] == row["gold"])
    assert read_provenance(sorted((tmp_path / "gen").glob("*.parquet"))[0])["generation_kwargs"]["temperature"] == 0.8


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--subsets", "college_math"], "unknown subset 'college_math'. Did you mean 'college_mathematics'?"),
        pytest.param(
            ["--subsets", "stem", "--engine", "vllm"],
            "engine 'vllm' is not installed",
            marks=pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed"),
        ),
        (["--subsets", "stem", "--mode", "cloze", "--task", "structured"], "apply to --mode generative"),
        (["--dataset", "cais/mmlu"], "cais/mmlu: cannot load this hub dataset (HF_HUB_OFFLINE is set)"),
    ],
)
def test_bad_requests_fail_clearly_before_any_model_loads(tmp_path, cache_env, args, expected):
    env = {**cache_env, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = harness_eval(*args, "--output", str(tmp_path / "out"), env=env, check=False)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    if "subset" in expected:
        assert "stem, humanities, social_sciences, other" in result.stderr
    assert not Path(tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.parquet"))


def _scores(folder: Path) -> dict[str, tuple[int, list[float]]]:
    df = pl.read_parquet(folder / "*.parquet")
    return {r["id"]: (r["prediction"], r["choice_logprobs"]) for r in df.iter_rows(named=True)}


def _assert_same_scores(ours: dict, reference: dict) -> None:
    """Same questions, same predictions, log-likelihoods equal to float32 noise."""
    assert ours and set(ours) <= set(reference)
    for qid, (prediction, logprobs) in ours.items():
        assert prediction == reference[qid][0], qid
        assert logprobs == pytest.approx(reference[qid][1], abs=1e-3), qid


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed (see README)")
def test_vllm_engine_scores_as_the_transformers_engine_does(loglikelihood_run, cache_env, tmp_path):
    out = tmp_path / "vllm"
    args = ["--engine", "vllm", "--subsets", SUBSETS, "--limit", "3", "--threads", "1", "--output", str(out)]
    harness_eval(*args, env=cache_env)
    _assert_same_scores(_scores(out), _scores(loglikelihood_run[0]))
    provenance = read_provenance(sorted(out.glob("*.parquet"))[0])
    assert provenance["lm_eval_model"] == "vllm" and provenance["lm_eval"]["model_args"]["dtype"] == "float32"


def test_openai_engine_scores_and_generates_through_a_real_server(loglikelihood_run, vllm_server, cache_env, tmp_path):
    """lm-eval's local-completions (echo + logprobs) and local-chat-completions against a real vLLM server; the
    key comes from the variable named by --api-key-env and is written nowhere."""
    secret = "sk-never-written-0123456789"
    env = {**cache_env, "EVAL_TEST_KEY": secret}
    server = ["--engine", "openai", "--base-url", vllm_server.url, "--model", vllm_server.model_path]
    server += ["--api-key-env", "EVAL_TEST_KEY", "--concurrency", "2"]
    scored = tmp_path / "scored"
    harness_eval(*server, "--subsets", SUBSETS, "--limit", "3", "--output", str(scored), env=env)
    _assert_same_scores(_scores(scored), _scores(loglikelihood_run[0]))
    assert read_provenance(sorted(scored.glob("*.parquet"))[0])["lm_eval_model"] == "local-completions"

    generated = tmp_path / "generated"
    args = ["--subsets", "anatomy", "--limit", "2", "--mode", "generative", "--max-tokens", "16"]
    harness_eval(*server, *args, "--output", str(generated), env=env)
    df = pl.read_parquet(generated / "*.parquet")
    assert df.height == 2 and df["completion"].is_not_null().all()
    assert all([v["name"] for v in row] == STRUCTURED_RULES for row in df["verdicts"])
    provenance = read_provenance(sorted(generated.glob("*.parquet"))[0])
    assert provenance["lm_eval_model"] == "local-chat-completions"
    assert provenance["lm_eval"]["model_args"]["base_url"] == vllm_server.url + "/chat/completions"
    for folder in (scored, generated):
        for path in folder.rglob("*"):
            assert not path.is_file() or secret.encode() not in path.read_bytes(), path
