"""The emulator's deterministic tokenizer.

A token is a run of word characters with the whitespace before it (``" hello"``), a single
punctuation character with the whitespace before it (``" ("``), or trailing whitespace.
The pattern covers every character, so ``"".join(tokenize(s)) == s`` for any ``s``; the
emulator streams exactly one token per content chunk, which makes its reported usage equal
what it sent. It is not any provider's real tokenizer — it is the ground truth *of the
emulator*.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["count_tokens", "tokenize", "tokenize_all"]

_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into tokens whose concatenation is exactly ``text``."""
    return _TOKEN.findall(text)


def tokenize_all(pieces: Iterable[str]) -> list[str]:
    """Tokenize each piece separately and concatenate the token lists."""
    return [tok for piece in pieces for tok in tokenize(piece)]


def count_tokens(text: str) -> int:
    """Number of emulator tokens in ``text``."""
    return len(tokenize(text))
