"""Chat templates with `{% generation %}` markers, shipped for TRL's `assistant_only_loss`.

TRL computes the assistant mask from the spans a template wraps in `{% generation %}`; the default model's
template has none. Each template here renders the text of the template it stands for (tests compare them), so a
model trained with it and saved with it prompts the same way at inference, with one difference: `chatml` adds no
system turn to a conversation that has none. The default model's template adds SmolLM's own system prompt there;
a recipe's template trains every model, and the saved template is what the next round's synth prompts with, so
that prompt would spread to every model and round. A conversation's own system turn is kept.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

TEMPLATES = {
    "chatml": "chatml.jinja",  # the default model's (SmolLM2) ChatML, assistant turns marked, no added system turn
    "reasoning": "reasoning.jinja",  # tasks.reasoning_token.REASONING_CHAT_TEMPLATE, reasoning + assistant marked
}


def load_chat_template(spec: str) -> str:
    """A shipped template by name, or the text of a `.jinja` file."""
    if spec in TEMPLATES:
        return (files("trainers") / "chat_templates" / TEMPLATES[spec]).read_text(encoding="utf-8")
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ValueError(f"chat_template {spec!r}: not one of {', '.join(TEMPLATES)} and not a .jinja file")
    return path.read_text(encoding="utf-8")


def has_generation_markers(template: str | None) -> bool:
    return bool(template) and "{% generation %}" in template.replace("{%-", "{%").replace("-%}", "%}")
