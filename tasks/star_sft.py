"""The Memphis-CoT card's initial SFT data: its two prompt formats -> prompt/completion rows.

The card fine-tunes first on instruction data in two formats ("No training on inputs"):

    ### User:                      ### User:
    [insert instruction here]      [insert instruction here]

    ### Assistant:                 ### Rationale:
    [insert response here]         [insert reasoning here]

    ### User:                      ### Answer:
    ...                            [insert direct answer here]

(reddit-instruct and oasst2, multi-turn)   (TinyCoT)

Each `### Assistant:` turn becomes one row: the prompt is the conversation up to and including its header, the
completion its text, so only responses are trained on. A TinyCoT text becomes one row: the prompt ends at
`### Rationale:` and the completion is the rationale and the answer, laid out as `harness synth --task star`
prompts and parses them (tasks/star.py). Rows with columns `question`, `rationale`, `answer` (TinyCoT's
fields) are read the same way.
"""

from __future__ import annotations

import re
from typing import Any

from tasks.star import GOLD, PROMPT

HEADER = re.compile(r"^### (User|Assistant|Rationale|Answer):[ \t]*\n?", re.MULTILINE)
TRAINED = ("Assistant", "Rationale")  # the turns the model learns to write; the rest are its input


def examples_from_text(text: str) -> list[dict[str, str]]:
    """prompt/completion rows from one text in either card format; raises ValueError saying what is wrong."""
    headers = list(HEADER.finditer(text))
    if not headers or headers[0].group(1) != "User" or text[: headers[0].start()].strip():
        raise ValueError("expected the text to start with `### User:`")
    rows = []
    for i, header in enumerate(headers):
        if header.group(1) not in TRAINED:
            continue
        if headers[i - 1].group(1) != "User":
            raise ValueError(f"`### {header.group(1)}:` must follow a `### User:` turn")
        end = next((h.start() for h in headers[i + 1 :] if h.group(1) == "User"), len(text))
        completion = text[header.end() : end].strip()
        if header.group(1) == "Rationale" and "### Answer:" not in completion:
            raise ValueError("a `### Rationale:` needs its `### Answer:`")
        if completion:
            rows.append({"prompt": text[: header.end()], "completion": completion})
    if not rows:
        raise ValueError("no `### Assistant:` or `### Rationale:` turn to train on")
    return rows


def examples_from_row(row: dict[str, Any]) -> list[dict[str, str]]:
    """A row with `text` in a card format, or TinyCoT's `question`, `rationale`, `answer` columns."""
    if isinstance(row.get("text"), str):
        return examples_from_text(row["text"])
    fields = [row.get(c) for c in ("question", "rationale", "answer")]
    if all(isinstance(f, str) and f.strip() for f in fields):
        question, rationale, answer = (f.strip() for f in fields)
        return [
            {"prompt": PROMPT.format(question=question), "completion": GOLD.format(rationale=rationale, answer=answer)}
        ]
    raise ValueError("expected a `text` column in a card format, or non-empty `question`, `rationale`, `answer`")
