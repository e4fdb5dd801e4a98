"""Scripted replies and the deterministic default filler."""

from __future__ import annotations

import re

from aetherflow.emulator.profile import ReplyRule
from aetherflow.emulator.tokenizer import tokenize

__all__ = ["DEFAULT_FILLER", "choose_reply", "filler_tokens"]

DEFAULT_FILLER = "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\n"
"""One unit of the default reply; repeated and cut to ``default_output_tokens`` tokens."""


def choose_reply(rules: list[ReplyRule], provider: str, prompt: str) -> str | None:
    """The reply of the first rule matching ``prompt`` (and ``provider``), else None."""
    for rule in rules:
        if rule.provider is not None and rule.provider != provider:
            continue
        if rule.contains is not None and rule.contains in prompt:
            return rule.reply
        if rule.regex is not None and re.search(rule.regex, prompt):
            return rule.reply
    return None


def filler_tokens(count: int) -> list[str]:
    """Exactly ``count`` tokens of the repeated default filler."""
    unit = tokenize(DEFAULT_FILLER)
    reps = count // len(unit) + 1
    return (unit * reps)[:count]
