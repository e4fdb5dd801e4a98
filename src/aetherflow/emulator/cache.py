"""The emulator's prefix-cache model.

Prompts are token sequences. A prefix is remembered as the chained hash of its whole
``block_tokens``-sized blocks, per provider. A request reads the longest remembered
block-aligned prefix of its prompt (if at least ``min_cached_tokens`` long) and then writes
every whole block of its own prompt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from aetherflow.emulator.profile import CacheModel

__all__ = ["CacheOutcome", "PrefixCache"]


@dataclass(frozen=True)
class CacheOutcome:
    """Cache result of one request: tokens read from the cache and newly written to it."""

    read_tokens: int
    written_tokens: int


def _block_hashes(tokens: Sequence[str], block: int) -> list[bytes]:
    """Chained hash of each whole block: ``h_k`` identifies ``tokens[: k*block]``."""
    out: list[bytes] = []
    h = b""
    for start in range(0, len(tokens) - block + 1, block):
        h = hashlib.sha256(h + "\x00".join(tokens[start : start + block]).encode()).digest()
        out.append(h)
    return out


class PrefixCache:
    """Remembers prompt prefixes per provider."""

    def __init__(self) -> None:
        self._seen: dict[str, set[bytes]] = {}

    def reset(self) -> None:
        """Forget everything."""
        self._seen.clear()

    def lookup(self, provider: str, tokens: Sequence[str], model: CacheModel) -> int:
        """Cached tokens the prompt would read now (without writing anything)."""
        if not model.enabled:
            return 0
        seen = self._seen.get(provider, set())
        hits = 0
        for h in _block_hashes(tokens, model.block_tokens):
            if h not in seen:
                break
            hits += 1
        cached = hits * model.block_tokens
        return cached if cached >= max(model.min_cached_tokens, 1) else 0

    def access(
        self, provider: str, tokens: Sequence[str], model: CacheModel, write: bool = True
    ) -> CacheOutcome:
        """Read the cached prefix, then (if ``write``) remember every whole block."""
        read = self.lookup(provider, tokens, model)
        if not (model.enabled and write):
            return CacheOutcome(read, 0)
        seen = self._seen.setdefault(provider, set())
        hashes = _block_hashes(tokens, model.block_tokens)
        new = [h for h in hashes if h not in seen]
        seen.update(hashes)
        if len(hashes) * model.block_tokens < model.min_cached_tokens:
            return CacheOutcome(read, 0)
        return CacheOutcome(read, len(new) * model.block_tokens)
