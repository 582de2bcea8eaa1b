"""`harness train` on the default model on CPU, a few short steps per method: parameters changed, loss finite and
falling, the saved folder loads back in `harness synth`; the reasoning-token mask checked token by token."""

from __future__ import annotations

import json
import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.artifacts.writer import ArtifactError
from harness.cli import app
from harness.config import SynthConfig, TrainConfig
from harness.engines.cache import cache_dir
from harness.stages.synth import run_synth
from harness.stages.train import LOG_FILE, PROVENANCE_FILE, run_train

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parents[1] / "fixtures"
# Every test repeats one small batch with a constant, high learning rate: the loss must fall within 2-3 steps.
FAST = {"batch_size": 4, "max_length": 96, "learning_rate": 1e-4, "lr_scheduler_type": "constant", "threads": 1}
SYSTEM = {"role": "system", "content": "You add numbers."}


def sums(n: int = 4) -> list[tuple[str, str]]:
    return [(f"What is {i + 2} + {3 * i + 1}?", f"{i + 2} + {3 * i + 1} = {4 * i + 3}.") for i in range(n)]


def conversations() -> list[dict]:
    rows = [
        {"messages": [SYSTEM, {"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in sums()
    ]
    return [*rows, {"messages": None, "valid": False}]  # a rejected synth row: skipped, counted


def pairs() -> list[dict]:
    return [
        {
            "prompt": f"### User:\n{q}\n\n### Rationale:\n",
            "chosen": f"{a}\n### Answer: ok",
            "rejected": "I do not know.",
        }
        for q, a in sums()
    ]


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def train(tmp_path: Path, method: str, rows: list[dict], name: str = "model", **settings):
    cfg = TrainConfig(
        method=method,
        input=write_jsonl(tmp_path / f"{name}.jsonl", rows),
        output=str(tmp_path / name),
        **{**FAST, **settings},
    )
    return cfg, run_train(cfg)


def losses(folder: Path, key: str = "loss") -> list[float]:
    return [e[key] for e in map(json.loads, (folder / LOG_FILE).read_text().splitlines()) if key in e]


def changed_tensors(base: str, trained: Path) -> dict[str, bool]:
    """For every tensor of the base model: did training change it?"""
    import torch
    from safetensors.torch import load_file

    before, after = load_file(str(Path(base) / "model.safetensors")), load_file(str(trained / "model.safetensors"))
    return {k: before[k].shape != after[k].shape or not torch.equal(before[k], after[k]) for k in before}


def grpo_rows() -> list[dict]:
    return [{"prompt": f"### User:\n{q}\n\n### Rationale:\n", "question": q} for q, _ in sums(2)]


# One GRPO step whose seed draws both kinds of completion, so the step has a gradient.
GRPO_STEP = {
    "max_steps": 1,
    "rewards": {"structured_references_problem": 1.0},
    "num_generations": 4,
    "max_completion_length": 8,
    "temperature": 1.5,
}


def assert_loads_in_synth(folder: Path, tmp_path: Path) -> None:
    """The trained folder is a model `harness synth` loads and generates with."""
    out = run_synth(
        SynthConfig(
            task="backfill",
            input="sample",
            limit=1,
            model=str(folder),
            output=str(tmp_path / "s"),
            sampling={"max_tokens": 4},
        )
    )
    assert out.artifact_rows == 1


def assert_learned(folder: Path, base: str, key: str = "loss") -> None:
    seen = losses(folder, key)
    assert seen and all(math.isfinite(x) for x in seen)
    assert seen[-1] < seen[0], seen
    changed = changed_tensors(base, folder)
    assert sum(changed.values()) > len(changed) // 2, "most tensors should have moved"


def test_sft_assistant_only_learns_saves_and_loads_in_synth(tmp_path, default_model):
    cfg, summary = train(
        tmp_path, "sft", conversations(), max_steps=3, assistant_only_loss=True, chat_template="chatml"
    )
    folder = Path(summary.output)
    assert (summary.steps, summary.rows, summary.skipped_invalid) == (3, 4, 1)
    assert_learned(folder, default_model.path)
    provenance = json.loads((folder / PROVENANCE_FILE).read_text())
    assert provenance["model"]["fingerprint"] == default_model.fingerprint
    assert provenance["identity"]["input"]["files"] and provenance["versions"]["trl"].startswith("1.16")
    assert provenance["rows"] == {"used": 4, "skipped_invalid": 1, "skipped_by_task": 0, "skipped_contaminated": 0}
    assert list((cache_dir() / "train-data").iterdir()) == []  # the dataset's scratch files (and TRL's maps) went
    assert not list(tmp_path.glob(".model.partial*")), "the work folder is renamed into place"

    assert_loads_in_synth(folder, tmp_path)

    assert run_train(cfg).already_done  # the same command again: nothing to do
    with pytest.raises(ArtifactError, match="trained with other config"):
        run_train(cfg.model_copy(update={"learning_rate": 1e-3}))


def test_sft_mixce_with_frozen_embeddings_on_prompt_completion(tmp_path, default_model):
    rows = [{"prompt": f"{q}\n", "completion": a} for q, a in sums()]
    _, summary = train(tmp_path, "sft", rows, max_steps=2, mixce_ratio=0.75, freeze_embeddings=True)
    folder = Path(summary.output)
    assert_learned(folder, default_model.path)
    changed = changed_tensors(default_model.path, folder)
    assert not changed["model.embed_tokens.weight"]  # frozen (and tied to the LM head)


def test_dpo_through_the_cli_with_a_bundled_recipe_and_flags(tmp_path, default_model):
    """Typed as `train rank` with a dpo recipe: refused, and the command it advises, run as printed, trains."""
    data, out = write_jsonl(tmp_path / "pairs.jsonl", pairs()), tmp_path / "dpo"
    flags = ["--max-steps", "2", "--batch-size", "4", "--max-length", "96", "--learning-rate", "1e-5", "--threads", "1"]
    typed = ["train", "rank", "-i", data, "-o", str(out), "--recipe", "star-dpo", "--allow-unchecked", *flags]
    refused = CliRunner().invoke(app, typed)  # --allow-unchecked: a hand-made file, never went through decontam
    assert refused.exit_code == 2 and "is a dpo recipe" in refused.output, refused.output
    advised = shlex.split(re.search(r"run it with `([^`]+)`", refused.output).group(1))
    assert advised[:3] == ["harness", "train", "dpo"], advised
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", *advised[1:]], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)  # stdout carries only the model folder
    assert (
        "[train dpo] step 2/2" in result.stderr and "s/step" in result.stderr and "train dpo summary" in result.stderr
    )
    assert_learned(out, default_model.path)
    config = json.loads((out / PROVENANCE_FILE).read_text())["identity"]["config"]
    assert (config["beta"], config["learning_rate"], config["max_steps"]) == (0.1, 1e-5, 2)  # recipe, then flags


def test_rank_on_pairs_with_the_memphis_settings(tmp_path, default_model):
    _, summary = train(tmp_path, "rank", pairs(), max_steps=3, learning_rate=1e-5, freeze_embeddings=True)
    folder = Path(summary.output)
    assert_learned(folder, default_model.path)
    assert not changed_tensors(default_model.path, folder)["model.embed_tokens.weight"]
    assert losses(folder, "rank_loss") and losses(folder, "ce_loss")


def test_grpo_step_with_validators_as_rewards(tmp_path, default_model):
    _, summary = train(tmp_path, "grpo", grpo_rows(), **GRPO_STEP)
    folder = Path(summary.output)
    [entry] = [e for e in map(json.loads, (folder / LOG_FILE).read_text().splitlines()) if "loss" in e]
    assert math.isfinite(entry["loss"])
    assert 0.0 <= entry["rewards/structured_references_problem/mean"] <= 1.0
    assert entry["reward_std"] > 0, "this seed draws both kinds of completion, so the step has a gradient"
    assert any(changed_tensors(default_model.path, folder).values())


def test_reasoning_token_loss_covers_reasoning_and_answer_turns_token_by_token(tmp_path, default_model):
    from datasets import Dataset

    from trainers.common import load_model_and_tokenizer
    from trainers.sft import build_sft

    cfg = TrainConfig(
        method="sft",
        input="x",
        output="y",
        special_tokens=["<|reasoning|>"],
        chat_template="reasoning",
        assistant_only_loss=True,
        max_length=256,
    )
    model, tokenizer = load_model_and_tokenizer(default_model.path, cfg)
    turns = [
        ("system", "Be brief."),
        ("user", "Add 2 and 3."),
        ("reasoning", "Two plus three is five."),
        ("assistant", "It is 5."),
    ]
    dataset = Dataset.from_list([{"messages": [{"role": r, "content": c} for r, c in turns]}])
    trainer = build_sft(model, tokenizer, dataset, cfg, tmp_path / "ckpt", [])
    row = trainer.train_dataset[0]

    # The expected ids and mask, turn by turn: header, content, end of turn, newline.
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    ids, mask = [], []
    for role, content in turns:
        header = encode("<|im_start|>" + ("<|reasoning|>" if role == "reasoning" else role) + "\n")
        trained = role in ("reasoning", "assistant")
        body = encode(content) + encode("<|im_end|>")
        ids += header + body + encode("\n")
        mask += [0] * len(header) + [int(trained)] * len(body) + [0]
    assert row["input_ids"] == ids
    # TRL folds the assistant mask into the labels: -100 where no loss is taken
    assert [int(label != -100) for label in row["labels"]] == mask
    assert [label for label in row["labels"] if label != -100] == [i for i, m in zip(ids, mask, strict=True) if m]
    reasoning_id = tokenizer.convert_tokens_to_ids("<|reasoning|>")
    assert row["input_ids"].count(reasoning_id) == 1


def test_reasoning_token_recipe_saves_the_token_with_the_tokenizer(tmp_path, default_model):
    from transformers import AutoConfig, AutoTokenizer

    rows = [
        {
            "messages": [
                {"role": "user", "content": q},
                {"role": "reasoning", "content": "Add them."},
                {"role": "assistant", "content": a},
            ]
        }
        for q, a in sums()
    ]
    cfg = TrainConfig(
        method="sft",
        input=write_jsonl(tmp_path / "r.jsonl", rows),
        output=str(tmp_path / "m"),
        special_tokens=["<|reasoning|>"],
        chat_template="reasoning",
        assistant_only_loss=True,
        max_steps=1,
        **FAST,
    )
    folder = Path(run_train(cfg).output)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    token_id = tokenizer.convert_tokens_to_ids("<|reasoning|>")
    assert tokenizer("<|reasoning|>", add_special_tokens=False)["input_ids"] == [token_id]
    assert AutoConfig.from_pretrained(folder).vocab_size == len(tokenizer)
    text = tokenizer.apply_chat_template(rows[0]["messages"][:1], tokenize=False, add_reasoning_prompt=True)
    assert text.endswith("<|im_start|><|reasoning|>\n")


def test_chatml_template_renders_as_the_default_models(default_model):
    """The same text as the default model's template, less the SmolLM system turn it adds to a chat without one."""
    from transformers import AutoTokenizer

    from trainers.chat_template import load_chat_template

    tokenizer = AutoTokenizer.from_pretrained(default_model.path)
    smollm_system = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    )
    user, assistant = {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}
    for convo in ([user, assistant], [user], [SYSTEM, user, assistant], [SYSTEM, user]):
        for prompt in (False, True):
            ours = tokenizer.apply_chat_template(
                convo, tokenize=False, add_generation_prompt=prompt, chat_template=load_chat_template("chatml")
            )
            theirs = tokenizer.apply_chat_template(convo, tokenize=False, add_generation_prompt=prompt)
            if convo[0]["role"] != "system":
                assert theirs.startswith(smollm_system)
                theirs = theirs.removeprefix(smollm_system)
            assert ours == theirs


def test_reasoning_template_renders_as_the_task(default_model):
    from transformers import AutoTokenizer

    from tasks.reasoning_token import render_conversation
    from trainers.chat_template import load_chat_template

    tokenizer = AutoTokenizer.from_pretrained(default_model.path)
    convo = [SYSTEM, {"role": "user", "content": "q"}, {"role": "reasoning", "content": "r"}]
    for reasoning_prompt in (False, True):
        ours = tokenizer.apply_chat_template(
            convo,
            tokenize=False,
            chat_template=load_chat_template("reasoning"),
            add_generation_prompt=not reasoning_prompt,
            add_reasoning_prompt=reasoning_prompt,
        )
        assert ours == render_conversation(convo, reasoning_prompt=reasoning_prompt)


def test_cli_names_the_missing_columns(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", conversations())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "train",
            "dpo",
            "--allow-unchecked",
            "--input",
            path,
            "--output",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "needs the column(s) prompt+chosen+rejected" in result.stderr and "Traceback" not in result.stderr


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path, default_model, monkeypatch):
    import harness.stages.train as stage

    real_callback = stage.make_log_callback

    def dies_after_the_first_checkpoint(*args, **kwargs):
        callback = real_callback(*args, **kwargs)

        def on_save(args_, state, control, **_):
            raise KeyboardInterrupt  # as if killed right after checkpoint-1 was written

        callback.on_save = on_save
        return callback

    cfg = TrainConfig(
        method="rank",
        input=write_jsonl(tmp_path / "p.jsonl", pairs()),
        output=str(tmp_path / "m"),
        max_steps=2,
        save_steps=1,
        **{**FAST, "batch_size": 2},
    )
    monkeypatch.setattr(stage, "make_log_callback", dies_after_the_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        run_train(cfg)
    partial = tmp_path / ".m.partial"
    assert (partial / "checkpoints" / "checkpoint-1").is_dir() and not (tmp_path / "m").exists()

    monkeypatch.setattr(stage, "make_log_callback", real_callback)
    summary = run_train(cfg)
    assert summary.steps == 2 and not partial.exists()
    steps = [e["step"] for e in map(json.loads, (tmp_path / "m" / LOG_FILE).read_text().splitlines()) if "loss" in e]
    assert steps == [1, 2]  # step 1 from the killed run, step 2 after the resume: none repeated


def test_the_refusals_advice_runs_as_printed_on_a_users_jsonl(tmp_path, default_model):
    """train refuses a JSONL decontam never checked; the two commands it advises run as printed (DIR filled
    in): decontam reads the JSONL itself, and train takes decontam's output."""
    data = write_jsonl(tmp_path / "conv.jsonl", conversations()[:4])
    refused = CliRunner().invoke(app, ["train", "sft", "--input", data, "--output", str(tmp_path / "model")])
    assert refused.exit_code == 2, refused.output
    advice = re.findall(r"`harness ([a-z]+ -?[^`]+)`", refused.output)
    assert [a.split()[:2] for a in advice] == [["decontam", "--input"], ["train", "sft"]], refused.output
    for command in advice:
        done = CliRunner().invoke(app, [str(tmp_path / "checked") if a == "DIR" else a for a in shlex.split(command)])
        assert done.exit_code == 0, done.output
    provenance = json.loads((tmp_path / "model" / PROVENANCE_FILE).read_text())
    assert provenance["rows"]["used"] == 4 and provenance["decontam"]["checked"], provenance
