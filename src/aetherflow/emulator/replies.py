"""Scripted replies and the deterministic default filler."""

from __future__ import annotations

import re

from aetherflow.emulator.profile import ReplyRule
from aetherflow.emulator.tokenizer import tokenize

__all__ = ["DEFAULT_FILLER", "choose_reply", "choose_rule", "filler_tokens"]

DEFAULT_FILLER = "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\n"
"""One unit of the default reply; repeated and cut to ``default_output_tokens`` tokens."""


def choose_rule(rules: list[ReplyRule], provider: str, prompt: str) -> int | None:
    """The index of the first rule matching ``prompt`` (and ``provider``), else None."""
    for index, rule in enumerate(rules):
        if rule.provider is not None and rule.provider != provider:
            continue
        if rule.contains is not None and rule.contains in prompt:
            return index
        if rule.regex is not None and re.search(rule.regex, prompt):
            return index
    return None


def choose_reply(rules: list[ReplyRule], provider: str, prompt: str) -> str | None:
    """The reply of the first rule matching ``prompt`` (and ``provider``), else None."""
    index = choose_rule(rules, provider, prompt)
    return None if index is None else rules[index].reply


def filler_tokens(count: int) -> list[str]:
    """Exactly ``count`` tokens of the repeated default filler."""
    unit = tokenize(DEFAULT_FILLER)
    reps = count // len(unit) + 1
    return (unit * reps)[:count]
