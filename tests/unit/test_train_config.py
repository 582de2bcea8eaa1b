"""`harness train` settings, recipes, rewards by name and training rows: everything before a model loads."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest

from harness.artifacts.sources import InputError
from harness.config import ConfigError, TrainConfig
from harness.stages.train import find_recipe, load_train_config
from harness.stages.train_rewards import resolve_rewards
from harness.stages.train_rows import training_rows

RECIPES = sorted(Path(str(files("trainers") / "recipes")).glob("*.yaml"))


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_bundled_recipe_loads_for_its_method(recipe):
    method = recipe.read_text().split("method:")[1].split()[0]
    cfg = load_train_config(method, recipe.stem, {"input": "x", "output": "y"})
    assert cfg.method == method


def test_the_cards_numbers_are_in_the_recipes():
    backfill = load_train_config("sft", "backfill-sft", {"input": "x", "output": "y"})
    assert (backfill.learning_rate, backfill.lr_scheduler_type, backfill.warmup_steps) == (2.5e-5, "cosine", 40)
    assert (backfill.num_train_epochs, backfill.max_length, backfill.packing) == (4, 1024, True)
    rank = load_train_config("rank", "memphis-rank", {"input": "x", "output": "y"})
    assert (rank.learning_rate, rank.rank_weight, rank.max_length, rank.freeze_embeddings) == (5e-7, 5, 1024, True)
    memphis_sft = load_train_config("sft", "memphis-sft", {"input": "x", "output": "y"})
    assert memphis_sft.mixce_ratio == 0.75


def test_flags_override_the_recipe():
    cfg = load_train_config(
        "sft", "backfill-sft", {"input": "x", "output": "y", "max_steps": 3, "learning_rate": 1e-4, "batch_size": 2}
    )
    assert (cfg.max_steps, cfg.learning_rate, cfg.batch_size, cfg.warmup_steps) == (3, 1e-4, 2, 40)


def test_a_recipe_for_another_method_is_refused():
    with pytest.raises(ConfigError, match="is a rank recipe; set `method: rank` to run it"):
        load_train_config("dpo", "memphis-rank", {"input": "x", "output": "y"})


def test_unknown_recipe_lists_the_bundled_ones():
    with pytest.raises(ConfigError, match="backfill-sft"):
        find_recipe("no-such-recipe")


def test_method_settings_are_checked():
    with pytest.raises(ValueError, match="grpo needs rewards to learn from"):
        TrainConfig(method="grpo", input="x", output="y")
    with pytest.raises(ValueError, match="`rewards` apply to grpo"):
        TrainConfig(method="sft", input="x", output="y", rewards={"exact_answer": 1.0})
    with pytest.raises(ValueError, match="mixce_ratio"):
        TrainConfig(method="dpo", input="x", output="y", mixce_ratio=0.5)
    with pytest.raises(ValueError, match="multiple of num_generations"):
        TrainConfig(method="grpo", input="x", output="y", rewards={"exact_answer": 1}, batch_size=3)


def test_grpo_without_rewards_says_so_plainly_and_names_the_bundled_recipe():
    with pytest.raises(ConfigError) as err:
        load_train_config("grpo", None, {"input": "x", "output": "y"})
    message = str(err.value)
    assert message.startswith("flags: grpo needs rewards to learn from: use the bundled recipe (`--recipe structured")
    assert "Value error" not in message and ": :" not in message


def test_rewards_by_name():
    assert [r.__name__ for r in resolve_rewards(["mc_answer", "math_answer", "reasoning_gym_answer"])] == [
        "mc_answer",
        "math_answer",
        "reasoning_gym_answer",
    ]
    rewards = resolve_rewards(["structured_structure", "structured_correct", "exact_answer", "star:format", "star"])
    names = [r.__name__ for r in rewards]
    assert names == ["structured_structure", "structured_correct", "exact_answer", "star_format", "star_valid"]
    scores = rewards[3](["a rationale\n### Answer: 4", "no answer"], question=["q", "q"], answer=["4", "4"])
    assert scores == [1.0, 0.0]
    with pytest.raises(ConfigError, match="unknown reward 'nope'.*structured_correct"):
        resolve_rewards(["nope"])


def test_sft_rows_skip_invalid_ones_and_name_a_missing_column(tmp_path):
    convo = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    path = write_jsonl(tmp_path / "a.jsonl", [{"messages": convo, "valid": True}, {"messages": None, "valid": False}])
    rows = training_rows(TrainConfig(method="sft", input=path, output="o"))
    assert rows.dataset.to_list() == [{"messages": convo}] and rows.skipped_invalid == 1
    with pytest.raises(InputError, match=r"needs the column\(s\) prompt\+chosen\+rejected; it has messages, valid"):
        training_rows(TrainConfig(method="dpo", input=path, output="o"))


def test_sft_formats_and_bad_rows(tmp_path):
    path = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "p", "completion": "c", "other": 1}])
    rows = training_rows(TrainConfig(method="sft", input=path, output="o")).dataset.to_list()
    assert rows == [{"prompt": "p", "completion": "c"}]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"messages": [{"role": "user", "content": None}]}])
    with pytest.raises(InputError, match=r"bad.jsonl: row 0, column 'messages': message 0 has no text content"):
        training_rows(TrainConfig(method="sft", input=bad, output="o"))
    empty = write_jsonl(tmp_path / "e.jsonl", [{"prompt": "p", "chosen": "", "rejected": "r"}])
    with pytest.raises(InputError, match=r"row 0, column 'chosen': expected non-empty text"):
        training_rows(TrainConfig(method="rank", input=empty, output="o"))


def test_grpo_prompts_rendered_by_a_task(tmp_path):
    rows = [
        {"question": "What is 7 × 8?", "choices": ["54", "56"], "answer": 1},
        {"question": "Broken row", "choices": ["only one"], "answer": 0},  # rejected by the task's input checks
    ]
    path = write_jsonl(tmp_path / "mc.jsonl", rows)
    cfg = TrainConfig(method="grpo", input=path, output="o", task="structured", rewards={"structured_correct": 1})
    data = training_rows(cfg)
    assert data.skipped_by_task == 1 and len(data.dataset) == data.used == 1
    row = data.dataset[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"] and "7 × 8" in row["prompt"][1]["content"]
    assert (row["question"], row["choices"], row["answer"]) == (rows[0]["question"], ["54", "56"], 1)


def test_grpo_reads_a_structured_answer_column_mixing_forms_as_synth_does(tmp_path):
    """Issue 18: synth accepts an `answer` column of indexes, letters and option numbers; grpo must too, and both
    must read each row's answer as the same option."""
    from judges.structured_format import Settings, correct, parse_trace
    from tasks.structured import StructuredTask

    rows = [
        {"question": f"Question {i}?", "choices": ["red", "green", "blue"], "answer": answer}
        for i, answer in enumerate([1, "B", "2", "(c)"])
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    cfg = TrainConfig(method="grpo", input=path, output="o", task="structured", rewards={"structured_correct": 1})
    data = training_rows(cfg)
    assert data.used == 4 and data.skipped_by_task == 0
    synth_gold = [StructuredTask().parse(row, _completion("<output>1</output>"))[0]["gold_option"] for row in rows]
    assert synth_gold == [2, 2, 2, 3]
    trace = parse_trace("<output>2</output>")
    grpo_verdicts = [correct(trace, data.dataset[i], Settings()).passed for i in range(4)]
    assert grpo_verdicts == [gold == 2 for gold in synth_gold]


def _completion(text: str):
    from harness.engines.base import Completion

    return Completion(text=text, finish_reason="stop", prompt_tokens=1, completion_tokens=1)


def test_a_column_mixing_types_is_named(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a", "answer": 1}, {"prompt": "b", "answer": "B"}])
    with pytest.raises(InputError, match=r"p.jsonl: column 'answer' mixes types \(int, str\)"):
        training_rows(TrainConfig(method="grpo", input=path, output="o", rewards={"exact_answer": 1}))


def test_an_unknown_chat_template_fails_before_any_model_loads(tmp_path):
    from harness.stages.train import run_train

    cfg = TrainConfig(method="sft", input=str(tmp_path / "none.jsonl"), output="o", chat_template="chatmll")
    with pytest.raises(ConfigError, match="chat_template 'chatmll': not one of chatml, reasoning"):
        run_train(cfg)
