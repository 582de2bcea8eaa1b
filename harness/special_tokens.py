"""Adding special tokens (e.g. `<|reasoning|>`) to a model and its tokenizer, with the embeddings resized."""

from __future__ import annotations


def add_special_tokens(model, tokenizer, tokens: list[str]) -> dict[str, int]:
    """Add `tokens` as special tokens (one id each, never split), resize the embeddings, return their ids.

    New embedding rows start at the mean of the existing ones (transformers' default for resizes), so the new
    token begins as an average token rather than noise. Tokens already present are left as they are.
    """
    missing = [t for t in tokens if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokens}
    for token, token_id in ids.items():
        if tokenizer(token, add_special_tokens=False)["input_ids"] != [token_id]:
            raise ValueError(f"{token!r} does not encode to its single id {token_id}")
    return ids
