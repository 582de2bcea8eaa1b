"""`reasoning-gym` answers scored by the generator's own `score_answer`, for the exact entry a row came from.

A reasoning-gym entry is rebuilt from what produced it: the dataset name, the seed and config given to
`reasoning_gym.create_dataset`, and the entry's index (entry i depends only on seed + i, not on the dataset's
size). The bundled sample (`harness/data/backfill_sample.jsonl`) records exactly these as `generator`, `seed`,
`config` and `index`. Scores are the generator's: 1.0, 0.0, or partial credit for some datasets.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from judges.verifiers import Checked, completion_text, reward_from_check

MAX_ANSWER_CHARS = 10_000  # some scorers compare by substring or parse; a hostile answer is cut


def check_reasoning_gym(prediction: Any, generator: Any, seed: Any, index: Any, config: Any = None) -> Checked:
    if not isinstance(generator, str) or not generator:
        return Checked(None, "no reasoning-gym dataset name (generator)")
    if not _is_int(seed) or not _is_int(index) or index < 0:
        return Checked(None, f"seed and index must be integers, got seed={seed!r}, index={index!r}")
    options = _config(config)
    if options is None:
        return Checked(None, f"config must be a mapping of create_dataset keywords (or its JSON), got {config!r}")
    try:
        dataset, entry = _entry(generator, seed, json.dumps(options, sort_keys=True), index)
    except Exception as err:  # an unknown name or a bad config: the row cannot be judged
        return Checked(None, f"cannot rebuild {generator}[{index}] (seed {seed}): {type(err).__name__}: {err}")
    answer = completion_text(prediction).strip()[:MAX_ANSWER_CHARS]
    if not answer:
        return Checked(0.0, "empty answer", unparsable=True)
    try:
        score = float(dataset.score_answer(answer=answer, entry=entry))
    except Exception as err:  # a scorer that chokes on odd text is a zero with a reason, never a crash
        return Checked(0.0, f"{generator}.score_answer failed: {type(err).__name__}", unparsable=True)
    return Checked(score, f"{generator} score_answer = {score:g} (expected {_shorten(str(entry['answer']))!r})")


# TRL reward: `reasoning_gym_answer(completions, generator=[...], seed=[...], index=[...], config=[...])`.
reasoning_gym_answer = reward_from_check(
    check_reasoning_gym, "reasoning_gym_answer", ("generator", "seed", "index"), optional=("config",)
)


@lru_cache(maxsize=4096)  # a question's samples share one entry
def _entry(name: str, seed: int, options: str, index: int) -> tuple[Any, dict[str, Any]]:
    dataset = _dataset(name, seed, options, _size_for(index))
    return dataset, dataset[index]


@lru_cache(maxsize=256)
def _dataset(name: str, seed: int, options: str, size: int):
    import reasoning_gym  # heavy; loaded on first use

    return reasoning_gym.create_dataset(name, size=size, seed=seed, **json.loads(options))


def _size_for(index: int) -> int:
    """A power of two above the index: one cached dataset serves many rows, and the size stays small."""
    return 1 << max(index, 1).bit_length()


def _config(config: Any) -> dict[str, Any] | None:
    if config is None:
        return {}
    if isinstance(config, str):
        try:
            config = json.loads(config) if config.strip() else {}
        except json.JSONDecodeError:
            return None
    return dict(config) if isinstance(config, dict) else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
