"""tasks/backfill.py: the prompt, the input checks, and parsing of (often malformed) model output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.artifacts.schemas import Verdict
from harness.engines.base import Completion, Request
from tasks import get_task
from tasks.backfill import MIN_TRACE_WORDS, SYSTEM_PROMPT, BackfillTask

CARD_PROMPT = Path(__file__).parents[1] / "fixtures" / "cards" / "backfill-qwen3-4b.example_prompt.txt"
CARD_SAMPLING = Path(__file__).parents[1] / "fixtures" / "cards" / "backfill-qwen3-4b.sampling.txt"

INSTRUCTION = "What is 2 + 2?"
SOLUTION = "2 + 2 = 4.\nThe answer is 4."
VALUES = {"instruction": INSTRUCTION, "solution": SOLUTION}


def parse(text: str, finish_reason: str = "stop", values: dict | None = None, task: BackfillTask | None = None):
    # Most cases here are about markers and the solution: short traces pass (the reasoning minimum is tested below).
    task = task or BackfillTask(min_trace_words=0)
    return task.parse(values or VALUES, Completion(text, finish_reason, prompt_tokens=10, completion_tokens=5))


def by_name(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.name: v for v in verdicts}


# -- render --------------------------------------------------------------------------------------------------
def chatml(request: Request) -> str:
    """What a ChatML model sees (the card's chat_template: chatml), rendered as the template does."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in request.messages)
    return turns + "<|im_start|>assistant\n" + request.assistant_prefix


def test_system_prompt_is_the_cards_verbatim():
    card = CARD_PROMPT.read_text(encoding="utf-8")
    assert card.split("<|im_start|>system\n")[1].split("\n<|im_end|>")[0] == SYSTEM_PROMPT
    assert SYSTEM_PROMPT.endswith("'<|thinking_start|>' and '<|thinking_end>' respectively.")  # the card's spelling


def test_rendered_prompt_is_the_cards_example_prompt():
    """The card's Example Prompt, turn for turn, with its own instruction and solution (the block's last, empty
    line is the `<pre>` closing on its own line)."""
    card = CARD_PROMPT.read_text(encoding="utf-8")
    instruction = card.split("<|instruction_start|>\n")[1].split("\n<|instruction_end|>")[0]
    solution = card.split("<|solution_start|>\n")[1].split("\n<|solution_end|>")[0]
    request = BackfillTask().render({"instruction": instruction, "solution": solution})
    assert chatml(request) + "\n" == card


def test_sampling_defaults_are_the_cards():
    card = CARD_SAMPLING.read_text(encoding="utf-8")
    d = BackfillTask.defaults
    assert "temperature: 0.7–1.0" in card and d.temperature == 0.7
    assert f"top_p: {d.top_p}" in card and f"min_p: {d.min_p}" in card
    assert 'stop: ["<|im_end|>"]' in card and d.stop == ("<|im_end|>",)


def test_render_builds_system_and_user_turns_and_primes_the_trace():
    request = BackfillTask().render(VALUES)
    assert isinstance(request, Request)
    assert request.prompt is None
    assert request.messages == (
        {"role": "system", "content": SYSTEM_PROMPT + "\n"},
        {
            "role": "user",
            "content": "<|instruction_start|>\nWhat is 2 + 2?\n<|instruction_end|>\n\n"
            "<|solution_start|>\n2 + 2 = 4.\nThe answer is 4.\n<|solution_end|>\n",
        },
    )
    assert request.assistant_prefix == "<|thinking_start|>\n"


def test_render_keeps_text_verbatim_including_braces_and_unicode():
    values = {"instruction": "Solve {x}: x² = 4 — über", "solution": "x = ±2 {done}"}
    user = BackfillTask().render(values).messages[1]["content"]
    assert user == (
        "<|instruction_start|>\nSolve {x}: x² = 4 — über\n<|instruction_end|>\n\n"
        "<|solution_start|>\nx = ±2 {done}\n<|solution_end|>\n"
    )


def test_render_uses_a_custom_system_prompt():
    request = BackfillTask(system_prompt="Be brief.").render(VALUES)
    assert request.messages[0] == {"role": "system", "content": "Be brief.\n"}  # the turn ends with a line break


def test_registry_returns_backfill_with_options():
    task = get_task("backfill", system_prompt="Custom.")
    assert isinstance(task, BackfillTask)
    assert task.system_prompt == "Custom."
    with pytest.raises(ValueError, match=r"task 'backfill' does not take the option\(s\) \['temperature'\]"):
        get_task("backfill", temperature=1.0)
    with pytest.raises(ValueError, match="unknown task 'nope'; tasks are: backfill"):
        get_task("nope")


def test_recipe_defaults_match_the_card():
    d = BackfillTask.defaults
    assert (d.temperature, d.top_p, d.min_p, d.stop) == (0.7, 0.9, 0.05, ("<|im_end|>",))


# -- template hash -------------------------------------------------------------------------------------------
def test_template_hash_is_stable_and_short():
    assert BackfillTask().template_hash() == BackfillTask().template_hash()
    assert len(BackfillTask().template_hash()) == 16
    int(BackfillTask().template_hash(), 16)  # hex


def test_template_hash_changes_with_the_system_prompt():
    assert BackfillTask().template_hash() != BackfillTask(system_prompt=SYSTEM_PROMPT + " ").template_hash()
    assert BackfillTask(system_prompt="a").template_hash() != BackfillTask(system_prompt="b").template_hash()


def test_template_hash_changes_with_the_version(monkeypatch):
    before = BackfillTask().template_hash()
    monkeypatch.setattr(BackfillTask, "version", "2")
    assert BackfillTask().template_hash() != before


# -- check ---------------------------------------------------------------------------------------------------
def test_check_accepts_a_good_row():
    assert BackfillTask().check(VALUES) == [
        Verdict("input_instruction", True, "ok"),
        Verdict("input_solution", True, "ok"),
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        (None, "missing from this row"),
        (42, "expected text, got int"),
        (3.5, "expected text, got float"),
        (["a"], "expected text, got list"),
        (b"bytes", "expected text, got bytes"),
        ("see <|solution_end|> here", "contains the prompt marker '<|solution_end|>'"),
        ("<|instruction_start|>", "contains the prompt marker '<|instruction_start|>'"),
        ("a <|thinking_end> b", "contains the prompt marker '<|thinking_end>'"),  # the card's spelling
        ("x <|thinking_start|>", "contains the prompt marker '<|thinking_start|>'"),
    ],
)
@pytest.mark.parametrize("column", ["instruction", "solution"])
def test_check_rejects_bad_values(column, value, reason):
    verdicts = by_name(BackfillTask().check({**VALUES, column: value}))
    assert verdicts[f"input_{column}"] == Verdict(f"input_{column}", False, reason)
    other = "solution" if column == "instruction" else "instruction"
    assert verdicts[f"input_{other}"].passed


def test_check_reports_a_column_missing_from_the_row():
    verdicts = BackfillTask().check({"solution": "4"})
    assert verdicts[0] == Verdict("input_instruction", False, "missing from this row")


def test_check_allows_harmless_angle_brackets():
    assert all(
        v.passed for v in BackfillTask().check({"instruction": "is 1 < 2 > 0? <|im|>", "solution": "<b>yes</b>"})
    )


def test_rejected_row_keeps_text_inputs_only():
    fields = BackfillTask().rejected({"instruction": "q", "solution": 7})
    assert fields == {"instruction": "q", "solution": None, "trace": None, "messages": None}


# -- parse: the good path ------------------------------------------------------------------------------------
def expected_messages(trace: str, values: dict = VALUES, system: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system + "\n"},
        {
            "role": "user",
            "content": f"<|instruction_start|>\n{values['instruction']}\n<|instruction_end|>\n\n"
            f"<|solution_start|>\n{values['solution']}\n<|solution_end|>\n",
        },
        {"role": "assistant", "content": f"<|thinking_start|>\n{trace}\n<|thinking_end|>\n\n{values['solution']}"},
    ]


def test_parse_valid_trace_without_repeating_the_solution():
    fields, verdicts = parse("Two plus two.\nThat is four.\n<|thinking_end|>")
    assert verdicts == [
        Verdict("markers", True, "trace opened and closed in order"),
        Verdict("trace_nonempty", True, "ok"),
        Verdict("trace_reasoning", True, "5 words of reasoning beyond the solution"),
        Verdict("solution_preserved", True, "not repeated after the trace; the given solution is kept"),
    ]
    assert fields == {
        "instruction": INSTRUCTION,
        "solution": SOLUTION,
        "trace": "Two plus two.\nThat is four.",
        "messages": expected_messages("Two plus two.\nThat is four."),
    }


def test_messages_use_the_custom_system_prompt():
    task = BackfillTask(system_prompt="Custom prompt.", min_trace_words=0)
    fields, _ = parse("Reasoning.\n<|thinking_end|>", task=task)
    assert fields["messages"] == expected_messages("Reasoning.", system="Custom prompt.")


def test_messages_are_plain_dicts_of_role_and_content():
    fields, _ = parse("Reasoning.\n<|thinking_end|>")
    assert [m["role"] for m in fields["messages"]] == ["system", "user", "assistant"]
    assert all(type(m) is dict and set(m) == {"role", "content"} for m in fields["messages"])


def test_parse_strips_whitespace_around_the_trace():
    fields, _ = parse("\n\n  Think.  \n\n<|thinking_end|>\n")
    assert fields["trace"] == "Think."


def test_parse_accepts_the_cards_end_marker_spelling():
    fields, verdicts = parse("Think.\n<|thinking_end>\n\n2 + 2 = 4.\nThe answer is 4.")
    assert all(v.passed for v in verdicts)
    assert fields["trace"] == "Think."
    assert fields["messages"] == expected_messages("Think.")


def test_parse_valid_with_finish_reason_length_when_the_trace_closed():
    fields, verdicts = parse("Think.\n<|thinking_end|>", finish_reason="length")
    assert all(v.passed for v in verdicts)
    assert fields["messages"] is not None


# -- parse: the solution after the trace ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "tail",
    [
        "\n\n2 + 2 = 4.\nThe answer is 4.",  # unchanged
        "\n2 + 2 = 4. The answer is 4.",  # newline became a space
        "\n   2 +  2 = 4.\n\n\tThe answer is 4.   \n",  # other whitespace
        "\n<|solution_start|>\n2 + 2 = 4.\nThe answer is 4.\n<|solution_end|>",  # inside the markers
        "\n<|solution_start|>\n2 + 2 = 4.\nThe answer is 4.",  # end marker cut off
        "\n<|solution_start>\n2 + 2 = 4.\nThe answer is 4.\n<|solution_end>",  # the card's spelling
        "\n<|solution_start>\n2 + 2 = 4.\nThe answer is 4.",  # misspelt start, no end
    ],
)
def test_parse_accepts_the_solution_repeated_unchanged(tail):
    fields, verdicts = parse("Think." + "\n<|thinking_end|>" + tail)
    assert by_name(verdicts)["solution_preserved"] == Verdict(
        "solution_preserved", True, "repeated unchanged after the trace"
    )
    # The stored assistant turn always carries the given solution, not the model's copy.
    assert fields["messages"][-1]["content"].endswith("<|thinking_end|>\n\n" + SOLUTION)


@pytest.mark.parametrize(
    ("tail", "shown"),
    [
        ("\nThe answer is 5.", "The answer is 5."),
        ("\n2+2=4. The answer is 4.", "2+2=4. The answer is 4."),  # whitespace inside tokens matters
        ("\n<|solution_start|>\nThe answer is four.\n<|solution_end|>", "The answer is four."),
        ("\n<|solution_start>\nIt is 4.", "It is 4."),
        ("\n2 + 2 = 4.", "2 + 2 = 4."),  # truncated copy
    ],
)
def test_parse_rejects_a_rewritten_solution(tail, shown):
    fields, verdicts = parse("Think.\n<|thinking_end|>" + tail)
    assert by_name(verdicts)["solution_preserved"] == Verdict(
        "solution_preserved", False, f"the model rewrote the solution after the trace: {shown!r}"
    )
    assert fields["messages"] is None
    assert fields["trace"] == "Think."  # kept for inspection, even though the row is invalid


def test_parse_shortens_a_long_rewritten_solution_in_the_reason():
    tail = "word " * 40
    _, verdicts = parse("Think.\n<|thinking_end|>\n" + tail)
    reason = by_name(verdicts)["solution_preserved"].reason
    shown = " ".join(tail.split())[:77] + "..."
    assert reason == f"the model rewrote the solution after the trace: {shown!r}"


def test_parse_rejects_chatter_after_the_trace():
    fields, verdicts = parse("Think.\n<|thinking_end|>\nHope this helps!")
    assert by_name(verdicts)["solution_preserved"] == Verdict(
        "solution_preserved", False, "the model rewrote the solution after the trace: 'Hope this helps!'"
    )
    assert fields["messages"] is None


def test_parse_rejects_the_solution_followed_by_chatter():
    _, verdicts = parse("Think.\n<|thinking_end|>\n2 + 2 = 4.\nThe answer is 4.\nHope this helps!")
    assert not by_name(verdicts)["solution_preserved"].passed


def test_parse_rejects_chatter_around_a_solution_block():
    # After the trace only the solution may follow: chatter around it is as untrustworthy as without markers.
    fields, verdicts = parse(
        "Think.\n<|thinking_end|>\n<|solution_start|>\n2 + 2 = 4.\nThe answer is 4.\n<|solution_end|>\nBye!"
    )
    assert by_name(verdicts)["solution_preserved"] == Verdict(
        "solution_preserved", False, "text besides the solution after the trace: 'Bye!'"
    )
    assert fields["messages"] is None


def test_parse_rejects_a_second_end_marker_in_the_tail():
    _, verdicts = parse("Think.\n<|thinking_end|>\n2 + 2 = 4.\nThe answer is 4.\n<|thinking_end|>")
    assert not by_name(verdicts)["solution_preserved"].passed


# -- parse: broken markers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("finish_reason", "why"),
    [("length", "the token budget ran out"), ("stop", "the model ended its turn")],
)
def test_parse_without_end_marker(finish_reason, why):
    fields, verdicts = parse("Thinking and thinking and", finish_reason=finish_reason)
    assert verdicts == [Verdict("markers", False, f"no <|thinking_end|> after the trace ({why})")]
    assert fields == {"instruction": INSTRUCTION, "solution": SOLUTION, "trace": None, "messages": None}


def test_parse_empty_completion():
    fields, verdicts = parse("")
    assert verdicts == [Verdict("markers", False, "no <|thinking_end|> after the trace (the model ended its turn)")]
    assert fields["trace"] is None and fields["messages"] is None


@pytest.mark.parametrize("text", ["Think <|thinking_end |>", "Think <thinking_end>", "Think <|THINKING_END|>"])
def test_parse_does_not_accept_other_end_spellings(text):
    _, verdicts = parse(text)
    assert verdicts[0].name == "markers" and not verdicts[0].passed


@pytest.mark.parametrize(
    "text",
    [
        "<|thinking_start|>\nThink.\n<|thinking_end|>",  # the model repeated the primer
        "Think.\n<|thinking_start|>\nAgain.\n<|thinking_end|>\n2 + 2 = 4.\nThe answer is 4.",
    ],
)
def test_parse_rejects_a_second_start_before_the_end(text):
    fields, verdicts = parse(text)
    assert verdicts == [Verdict("markers", False, "a second <|thinking_start|> before <|thinking_end|>")]
    assert fields["trace"] is None and fields["messages"] is None


def test_parse_allows_a_start_marker_after_the_end():
    _, verdicts = parse("Think.\n<|thinking_end|><|thinking_start|>")
    assert by_name(verdicts)["markers"].passed
    assert not by_name(verdicts)["solution_preserved"].passed


@pytest.mark.parametrize("text", ["<|thinking_end|>", "  \n\t<|thinking_end|>", "\n<|thinking_end>\n"])
def test_parse_empty_trace(text):
    fields, verdicts = parse(text)
    assert by_name(verdicts)["trace_nonempty"] == Verdict("trace_nonempty", False, "nothing between the markers")
    assert fields["trace"] is None
    assert fields["messages"] is None


def test_parse_empty_trace_and_rewritten_solution_reports_both():
    fields, verdicts = parse("<|thinking_end|>\nwrong")
    assert [(v.name, v.passed) for v in verdicts] == [
        ("markers", True),
        ("trace_nonempty", False),
        ("trace_reasoning", False),
        ("solution_preserved", False),
    ]
    assert fields["trace"] is None


# -- parse: unicode and robustness ---------------------------------------------------------------------------
def test_parse_unicode_trace_and_solution():
    values = {"instruction": "Combien font 2² ? 🤔", "solution": "Réponse : 4 ✓\n数学"}
    trace = "On calcule 2² = 4 — c'est simple. 😀"
    fields, verdicts = parse(f"{trace}\n<|thinking_end|>\n\nRéponse : 4 ✓\n数学", values=values)
    assert all(v.passed for v in verdicts)
    assert fields["trace"] == trace
    assert fields["messages"] == expected_messages(trace, values=values)


def test_parse_unicode_whitespace_counts_as_whitespace():
    values = {"instruction": "q", "solution": "a b"}
    _, verdicts = parse("t<|thinking_end|>\u00a0a\u2003b\u3000", values=values)
    assert by_name(verdicts)["solution_preserved"].passed


GARBAGE = [
    "",
    " ",
    "<|thinking_end|>",
    "<|thinking_end|>" * 3,
    "<|thinking_start|>" * 3,
    "<|solution_start|>",
    "<|solution_end|><|solution_start|>",
    "t<|thinking_end|><|solution_start|>",
    "t<|thinking_end|><|solution_end|>",
    "t<|thinking_end|><|solution_start|><|solution_start|><|solution_end|>",
    "\x00\x01\x02<|thinking_end|>\x00",
    "\ud800 lone surrogate <|thinking_end|> \udfff",
    "{instruction} {solution} %s {0}<|thinking_end|>{}",
    "t<|thinking_end|>" + "x" * 100_000,
    "<|thinking_end|" + "|" * 10,
    "\r\n\r\n<|thinking_end|>\r\n",
]


@pytest.mark.parametrize("text", GARBAGE)
@pytest.mark.parametrize("finish_reason", ["stop", "length", "error", ""])
def test_parse_never_raises(text, finish_reason):
    fields, verdicts = parse(text, finish_reason=finish_reason)
    assert set(fields) == {"instruction", "solution", "trace", "messages"}
    assert verdicts and all(isinstance(v, Verdict) and isinstance(v.reason, str) and v.reason for v in verdicts)
    # messages only when every verdict passed; trace is never an empty string
    assert (fields["messages"] is not None) == all(v.passed for v in verdicts)
    assert fields["trace"] is None or fields["trace"].strip()


def test_parse_leaves_its_inputs_alone():
    values = dict(VALUES)
    parse("Think.\n<|thinking_end|>", values=values)
    assert values == VALUES


# -- the reasoning minimum (the card: steps of concrete decisions and validations) ------------------------------
REASONED = (
    "The instruction asks for the sum of two and two. Adding two to two gives four, "
    "which matches the provided solution, so nothing needs refining."
)


def reasoning_verdict(trace: str, values: dict = VALUES, task: BackfillTask | None = None) -> Verdict:
    _, verdicts = parse(f"{trace}\n<|thinking_end|>", values=values, task=task or BackfillTask())
    return by_name(verdicts)["trace_reasoning"]


@pytest.mark.parametrize(
    ("trace", "solution"),
    [
        ("9", "9"),  # the README demo's case: the trace is the answer
        ("2 + 2 = 4.\nThe answer is 4.", SOLUTION),
        ("2 + 2 = 4. The answer is 4. 2 + 2 = 4. The answer is 4.", SOLUTION),  # restated twice
        ("The answer is 4.", SOLUTION),  # a part of it
    ],
)
def test_a_trace_that_only_restates_the_solution_is_rejected(trace, solution):
    values = {"instruction": "What is 4 + 5?" if solution == "9" else INSTRUCTION, "solution": solution}
    verdict = reasoning_verdict(trace, values)
    assert verdict == Verdict("trace_reasoning", False, "the trace only restates the solution")


def test_a_trace_under_the_minimum_is_rejected_with_its_count():
    verdict = reasoning_verdict("Adding gives 4.")
    assert verdict == Verdict(
        "trace_reasoning", False, f"2 word(s) of reasoning beyond the solution; at least {MIN_TRACE_WORDS} are needed"
    )


def test_a_reasoned_trace_passes_and_words_of_the_solution_inside_it_do_not_count():
    assert reasoning_verdict(REASONED).passed
    fields, verdicts = parse(f"{REASONED}\n<|thinking_end|>", task=BackfillTask())
    assert all(v.passed for v in verdicts) and fields["messages"] is not None
    padded = "2 + 2 = 4. The answer is 4. Four, yes."  # the solution plus two words
    assert reasoning_verdict(padded).reason.startswith("2 word(s) of reasoning beyond the solution")


def test_the_minimum_is_a_task_option_and_part_of_the_template_hash():
    assert reasoning_verdict("Adding gives 4.", task=BackfillTask(min_trace_words=2)).passed
    assert get_task("backfill", min_trace_words=3).min_trace_words == 3
    assert BackfillTask(min_trace_words=3).template_hash() != BackfillTask().template_hash()
    with pytest.raises(ValueError, match="min_trace_words must be an integer >= 0"):
        BackfillTask(min_trace_words=-1)


# -- the training recipe: the card's axolotl config ------------------------------------------------------------
def test_the_recipe_is_the_cards_axolotl_config():
    import yaml

    from harness.stages.train import load_train_config
    from trainers.common import resolve_optim

    # The card's YAML lost its indentation on the way (fixtures README): read its top-level `key: value` lines.
    text = (CARD_PROMPT.parent / "backfill-qwen3-4b.axolotl.yaml").read_text(encoding="utf-8")
    card = {k: yaml.safe_load(v) for k, v in re.findall(r"^(\w+): (.+)$", text, re.MULTILINE)}
    cfg = load_train_config("sft", "backfill-sft", {"input": "x", "output": "y"})
    assert (cfg.batch_size, cfg.gradient_accumulation_steps) == (
        card["micro_batch_size"],
        card["gradient_accumulation_steps"],
    )
    assert (cfg.num_train_epochs, cfg.optim, cfg.lr_scheduler_type) == (
        card["num_epochs"],
        card["optimizer"],
        card["lr_scheduler"],
    )
    assert (cfg.learning_rate, cfg.max_grad_norm, cfg.weight_decay) == (
        float(card["learning_rate"]),
        card["max_grad_norm"],
        card["weight_decay"],
    )
    assert (cfg.max_length, cfg.packing, cfg.warmup_steps) == (
        card["sequence_len"],
        card["sample_packing"],
        card["warmup_steps"],
    )
    assert cfg.chat_template == card["chat_template"]
    # Without a GPU (or bitsandbytes) the 8-bit optimizer cannot run: plain AdamW, and the reason is recorded.
    used, why = resolve_optim(cfg.model_copy(update={"device": "cpu"}))
    assert used == "adamw_torch" and why == "adamw_bnb_8bit needs a GPU; plain AdamW instead"
