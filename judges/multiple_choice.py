"""Multiple-choice answers: read the chosen option from free text, normalize the gold, verify.

Options are 1-based numbers throughout ("option 3" = the third choice). A prediction may name its option
by letter ("Answer: C", "(c)", "C.") or by number ("3", "option 3", "(3)", as the structured card answers);
a gold answer may be a 0-based index (MMLU's `answer` column), a letter, or a 1-based number as text.
Whatever the text, parsing never raises and never guesses: an ambiguous answer is no answer.
"""

from __future__ import annotations

import re
from typing import Any

from judges.verifiers import Checked, completion_text, reward_from_check

# "2", "2.", "(2)", "[2]", "Option 2", "option (2)." : the whole text.
OPTION_ONLY = re.compile(r"(?:option\s*)?[(\[]?\s*(\d{1,3})\s*[)\]]?\s*\.?", re.IGNORECASE)
OPTION_WORD = re.compile(r"\boption\s*[(\[]?\s*(\d{1,3})\b", re.IGNORECASE)
LEADING_NUMBER = re.compile(r"\s*[(\[]?(\d{1,3})[)\].:](?!\d)")
INTEGER = re.compile(r"(?<![\d.])\d{1,3}(?![\d.]|\.\d)")
# "C", "(c)", "[C]", "C.", "C)" : the whole text is one letter.
LETTER_ONLY = re.compile(r"[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.:]?")
# "Answer: C", "the answer is (c)", "Option B", "choice: d" : a letter introduced by an answer word.
LETTER_AFTER_WORD = re.compile(
    r"\b(?:answer|option|choice)(?:\s+is)?\s*[:=]?\s*[(\[]?\s*([A-Za-z])\b(?![.'’]\w)", re.IGNORECASE
)
PAREN_LETTER = re.compile(r"[(\[]([A-Za-z])[)\]]")
CAPITAL_LETTER = re.compile(r"(?<![\w'’])([A-Z])(?![\w'’])")
MAX_SCAN = 2000  # characters of a prediction read for a lone number or letter (hostile output can be huge)
DEFAULT_CHOICES = 4  # letters A-D when the row does not say how many choices there are


def parse_option(output: str | None) -> int | None:
    """The option number in a text: "2", "2.", "(2)", "Option 2", also "2. Paris" or "the answer is 2"."""
    if not output:
        return None
    match = OPTION_ONLY.fullmatch(output) or OPTION_WORD.search(output) or LEADING_NUMBER.match(output)
    if match:
        return int(match.group(1))
    numbers = INTEGER.findall(output[:1000])  # a lone number in a sentence; two or more: ambiguous
    return int(numbers[0]) if len(numbers) == 1 else None


def normalize_answer(value: Any, n_choices: int | None = None) -> int | None:
    """A gold answer as a 1-based option number, or None when it is not one.

    An integer is a 0-based index (as in MMLU's `answer` column); a letter is A=1, B=2, ...; a string of
    digits ("2", "Option 2", "(2)") is already a 1-based option number. Out of range for `n_choices`: None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        option = value + 1
    elif isinstance(value, str):
        text = value.strip().strip("().[]").strip()
        if len(text) == 1 and text.isascii() and text.isalpha():
            option = ord(text.upper()) - ord("A") + 1
        else:
            match = OPTION_ONLY.fullmatch(value.strip())
            if match is None:
                return None
            option = int(match.group(1))
    else:
        return None
    if option < 1 or (n_choices is not None and option > n_choices):
        return None
    return option


def parse_choice(text: Any, n_choices: int | None = None) -> int | None:
    """The option a free-text answer chooses, as a 1-based number; None when there is none or it is ambiguous.

    In order: the whole text is a letter or an option number; a letter after "answer"/"option"/"choice"; an
    option number ("option 3", "3. Paris", a lone number); a lone letter in brackets; a lone capital letter.
    Letters count only within the choices (A-D when their number is unknown), so "I think B" reads B.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    letters = n_choices or DEFAULT_CHOICES
    if match := LETTER_ONLY.fullmatch(text):
        return _in_range(_letter(match.group(1)), letters)
    if OPTION_ONLY.fullmatch(text):
        return _in_range(parse_option(text), n_choices)
    head = text[:MAX_SCAN]
    named = {_letter(m) for m in LETTER_AFTER_WORD.findall(head)} & set(range(1, letters + 1))
    if named:
        return named.pop() if len(named) == 1 else None
    if (option := parse_option(head)) is not None:
        return _in_range(option, n_choices)
    for pattern in (PAREN_LETTER, CAPITAL_LETTER):
        found = {_letter(m) for m in pattern.findall(head)} & set(range(1, letters + 1))
        if found:
            return found.pop() if len(found) == 1 else None
    return None


def check_choice(prediction: Any, gold: Any, choices: Any = None) -> Checked:
    """Score one multiple-choice answer: 1.0 right, 0.0 wrong or unreadable, None when the gold is unusable."""
    n_choices = len(choices) if isinstance(choices, list | tuple) and choices else None
    expected = normalize_answer(gold, n_choices)
    if expected is None:
        return Checked(None, f"gold answer {gold!r} is not an option" + (f" of 1..{n_choices}" if n_choices else ""))
    chosen = parse_choice(completion_text(prediction), n_choices)
    if chosen is None:
        return Checked(0.0, "no single option found in the answer", unparsable=True)
    if chosen != expected:
        return Checked(0.0, f"chose option {chosen}, the answer is option {expected}")
    return Checked(1.0, f"option {expected}")


# TRL reward: `mc_answer(completions, answer=[...], choices=[...])`.
mc_answer = reward_from_check(check_choice, "mc_answer", ("answer",), optional=("choices",))


def _letter(letter: str) -> int:
    return ord(letter.upper()) - ord("A") + 1


def _in_range(option: int | None, n_choices: int | None) -> int | None:
    if option is None or option < 1 or (n_choices is not None and option > n_choices):
        return None
    return option
