"""Normalise each provider's usage fields into :class:`~aetherflow.metrics.records.Usage`.

Conventions (DESIGN.md):
* OpenAI: ``prompt_tokens`` includes ``prompt_tokens_details.cached_tokens``.
* DeepSeek: ``prompt_tokens`` = ``prompt_cache_hit_tokens`` + ``prompt_cache_miss_tokens``.
* Anthropic: ``input_tokens`` excludes ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``.
The normalised ``input`` always includes cache reads and writes.
"""

from __future__ import annotations

from typing import Any

from aetherflow.metrics.records import TokenCount, Usage

__all__ = ["normalise_anthropic_usage", "normalise_openai_usage"]


def _server(value: Any) -> TokenCount:
    return TokenCount(value=int(value), provenance="server")


def _absent(what: str) -> TokenCount:
    return TokenCount.unknown(f"server usage has no {what} field")


def normalise_openai_usage(raw: dict[str, Any]) -> Usage:
    """OpenAI-style ``usage`` (also DeepSeek, Groq, Mistral, vLLM) to :class:`Usage`."""
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    details = raw.get("prompt_tokens_details") or {}
    if "prompt_cache_hit_tokens" in raw:  # DeepSeek
        cache_read = _server(raw["prompt_cache_hit_tokens"])
        if prompt is None and "prompt_cache_miss_tokens" in raw:
            prompt = int(raw["prompt_cache_hit_tokens"]) + int(raw["prompt_cache_miss_tokens"])
    elif isinstance(details, dict) and details.get("cached_tokens") is not None:
        cache_read = _server(details["cached_tokens"])
    else:
        cache_read = TokenCount(value=0, provenance="server",
                                note="no cached-token field: provider reported no cache read")
    return Usage(
        input=_server(prompt) if prompt is not None else _absent("prompt_tokens"),
        output=_server(completion) if completion is not None else _absent("completion_tokens"),
        cache_read=cache_read,
        cache_write=TokenCount(value=0, provenance="server",
                               note="OpenAI-style APIs bill no separate cache write"),
    )


def normalise_anthropic_usage(raw: dict[str, Any]) -> Usage:
    """Anthropic Messages ``usage`` to :class:`Usage` (input re-includes cache tokens)."""
    base = int(raw.get("input_tokens") or 0)
    read = int(raw.get("cache_read_input_tokens") or 0)
    write = int(raw.get("cache_creation_input_tokens") or 0)
    out = raw.get("output_tokens")
    return Usage(
        input=_server(base + read + write),
        output=_server(out) if out is not None else _absent("output_tokens"),
        cache_read=_server(read),
        cache_write=_server(write),
    )
