"""The Memphis-CoT card (tests/fixtures/cards/memphis-cot.*): its prompt formats, its hyperparameters in the two
recipes, and the rank phase's cross-entropy on the ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.artifacts.sources import InputError
from harness.config import LoopConfig
from harness.pipeline.loops import write_examples
from harness.stages.train import load_train_config
from tasks.star import PROMPT, StarTask
from tasks.star_sft import examples_from_row, examples_from_text

CARDS = Path(__file__).parents[1] / "fixtures" / "cards"
HYPERPARAMETERS = (CARDS / "memphis-cot.hyperparameters.txt").read_text(encoding="utf-8")
FORMATS = (CARDS / "memphis-cot.prompt_formats.txt").read_text(encoding="utf-8")


def card_phase(name: str) -> str:
    """The card's bullet list for one phase ("For the initial supervised finetuning step:", ...)."""
    return HYPERPARAMETERS.split(f"For the {name}:")[1].split("For the")[0]


def recipe(method: str, name: str):
    return load_train_config(method, name, {"input": "x", "output": "y"})


def test_sft_recipe_has_the_cards_values():
    card, sft = card_phase("initial supervised finetuning step"), recipe("sft", "memphis-sft")
    for text in ("LR of 1e-5", "MixCE ratio of 0.75", "Sequence length of 4096", "Cosine decay with a 20% warmup"):
        assert text in card
    assert (sft.learning_rate, sft.mixce_ratio, sft.max_length) == (1e-5, 0.75, 4096)
    assert (sft.lr_scheduler_type, sft.warmup_ratio, sft.num_train_epochs) == ("cosine", 0.2, 2)
    procedure = (CARDS / "memphis-cot.training_procedure.txt").read_text(encoding="utf-8")
    assert (
        "using a [MixCE](https://arxiv.org/abs/2305.16958) loss and [NEFTune](https://arxiv.org/abs/2310.05914), for 2 epochs"
        in procedure
    )


def test_both_recipes_share_the_cards_common_settings():
    for phase, method, name in (
        ("initial supervised finetuning step", "sft", "memphis-sft"),
        ("rank finetuning", "rank", "memphis-rank"),
    ):
        card, cfg = card_phase(phase), recipe(method, name)
        assert "Frozen embeddings" in card and cfg.freeze_embeddings
        assert "Accumulated batch size of 128" in card and cfg.batch_size * cfg.gradient_accumulation_steps == 128
        assert "NEFTune with an alpha of 10" in card and cfg.neftune_noise_alpha == 10
        assert "No training on inputs" in card
    rank, card = recipe("rank", "memphis-rank"), card_phase("rank finetuning")
    assert "LR of 5e-7" in card and rank.learning_rate == 5e-7
    assert "Rank loss weight of 5" in card and rank.rank_weight == 5
    assert "Sequence length of 1024" in card and rank.max_length == 1024
    assert "Cosine schedule with 10% warmup" in card and (rank.lr_scheduler_type, rank.warmup_ratio) == ("cosine", 0.1)


def test_generation_settings_are_the_cards():
    card, d = card_phase("generations"), StarTask.defaults
    assert (
        "N=8" in card and "Temperature of 0.5" in card and "`top_p` of 0.8" in card and "512 generated tokens" in card
    )
    assert (d.n, d.temperature, d.top_p, d.max_tokens) == (8, 0.5, 0.8, 512)


# -- the two prompt formats ---------------------------------------------------------------------------------
def test_the_card_names_both_formats():
    assert "### User: [insert instruction here] ### Assistant: [insert response here] ### User: ..." in FORMATS
    assert "### User: [insert instruction here] ### Rationale: [insert reasoning here] ### Answer:" in FORMATS


def test_multi_turn_conversations_train_on_every_assistant_turn_only():
    text = "### User:\nHi\n\n### Assistant:\nHello!\n\n### User:\nAnd 2+2?\n\n### Assistant:\n4.\n"
    assert examples_from_text(text) == [
        {"prompt": "### User:\nHi\n\n### Assistant:\n", "completion": "Hello!"},
        {
            "prompt": "### User:\nHi\n\n### Assistant:\nHello!\n\n### User:\nAnd 2+2?\n\n### Assistant:\n",
            "completion": "4.",
        },
    ]


def test_tinycot_text_and_columns_give_the_star_prompt_and_the_gold_completion():
    text = "### User:\n2+2?\n\n### Rationale:\nTwo and two make four.\n\n### Answer:\n4"
    [example] = examples_from_text(text)
    assert example == {
        "prompt": PROMPT.format(question="2+2?"),
        "completion": "Two and two make four.\n\n### Answer:\n4",
    }
    assert examples_from_row({"question": "2+2?", "rationale": "Two and two make four.", "answer": "4"}) == [example]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"text": "Hello"}, "start with `### User:`"),
        ({"text": "### User:\nHi"}, "no `### Assistant:` or `### Rationale:` turn"),
        ({"text": "### User:\nq\n### Rationale:\nno answer"}, "needs its `### Answer:`"),
        ({"question": "q"}, "expected a `text` column"),
    ],
)
def test_bad_rows_say_what_is_wrong(row, message):
    with pytest.raises(ValueError, match=message):
        examples_from_row(row)


def test_the_sft_data_file_and_a_bad_row_named(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"text": "### User:\nHi\n\n### Assistant:\nHello!"}) + "\n" + json.dumps({"text": "x"}) + "\n"
    )
    with pytest.raises(InputError, match=r"in.jsonl: row 1: expected the text to start with `### User:`"):
        write_examples(str(source), tmp_path / "data.jsonl")
    source.write_text(json.dumps({"text": "### User:\nHi\n\n### Assistant:\nHello!"}) + "\n")
    assert write_examples(str(source), tmp_path / "data.jsonl") == 1
    assert json.loads((tmp_path / "data.jsonl").read_text()) == {
        "prompt": "### User:\nHi\n\n### Assistant:\n",
        "completion": "Hello!",
    }
    assert LoopConfig(input="q", output="o", sft_input=str(source)).sft_input == str(source)


# -- the rank phase's ground truth ------------------------------------------------------------------------------
def sample(idx: int, correct: bool, **extra) -> dict:
    base = {"record_id": "r", "source_index": 0, "sample_idx": idx, "question": "2+2?", "reference": "4", "valid": True}
    return {**base, "correct": correct, "completion": f"answer {idx}", **extra}


def test_pairs_carry_the_gold_rationale_and_answer_when_the_input_has_them():
    task = StarTask(gold_rationale=True)
    assert task.columns == {"question": "question", "answer": "answer", "rationale": "rationale"}
    pairs = task.pairs(
        [
            sample(0, True, gold_rationale="Two and two make four."),
            sample(1, False, gold_rationale="Two and two make four."),
        ]
    )
    assert pairs[0]["gold"] == "Two and two make four.\n\n### Answer:\n4"
    assert StarTask().pairs([sample(0, True), sample(1, False)])[0]["gold"] is None  # then the chosen stands in
