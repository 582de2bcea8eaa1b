"""Adding `<|reasoning|>` to the default model: one id, resized embeddings, round-trips through save/load."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.special_tokens import add_special_tokens
from tasks.reasoning_token import REASONING_CHAT_TEMPLATE, REASONING_TOKEN

pytestmark = pytest.mark.slow


def test_reasoning_token_round_trips(tmp_path, default_model):
    tokenizer = AutoTokenizer.from_pretrained(default_model.path)
    model = AutoModelForCausalLM.from_pretrained(default_model.path, dtype=torch.float32)
    before = model.get_input_embeddings().weight.shape[0]
    assert len(tokenizer(REASONING_TOKEN, add_special_tokens=False)["input_ids"]) > 1  # split before

    ids = add_special_tokens(model, tokenizer, [REASONING_TOKEN])
    token_id = ids[REASONING_TOKEN]
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) >= before + 1
    assert add_special_tokens(model, tokenizer, [REASONING_TOKEN]) == ids  # idempotent

    tokenizer.chat_template = REASONING_CHAT_TEMPLATE
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    tokenizer2 = AutoTokenizer.from_pretrained(tmp_path)
    model2 = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert tokenizer2.convert_tokens_to_ids(REASONING_TOKEN) == token_id
    text = tokenizer2.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_reasoning_prompt=True
    )
    encoded = tokenizer2(text, add_special_tokens=False)["input_ids"]
    assert encoded.count(token_id) == 1
    assert torch.equal(model2.get_input_embeddings().weight[token_id], model.get_input_embeddings().weight[token_id])
