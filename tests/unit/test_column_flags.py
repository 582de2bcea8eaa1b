"""`--col LOGICAL=COLUMN`: the one generic way to map a task's columns (harness/config.py parse_column_flags)."""

from __future__ import annotations

import pytest

from harness.config import ConfigError, parse_column_flags


def test_flags_become_a_mapping():
    flags = ["question=prompt", " choices = options ", "answer=label", "answer=label"]
    assert parse_column_flags(flags) == {"question": "prompt", "choices": "options", "answer": "label"}
    assert parse_column_flags([]) == {}
    assert parse_column_flags(["expr=a=b"]) == {"expr": "a=b"}  # only the first "=" separates


@pytest.mark.parametrize("flag", ["question", "=prompt", "question=", " = "])
def test_malformed_flags_are_config_errors(flag):
    with pytest.raises(ConfigError, match="expected LOGICAL=COLUMN"):
        parse_column_flags([flag])


def test_a_column_mapped_twice_is_an_error():
    with pytest.raises(ConfigError, match="'answer' is mapped twice \\('a' and 'b'\\)"):
        parse_column_flags(["answer=a", "answer=b"])
