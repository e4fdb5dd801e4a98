"""Normalise each provider's usage fields into :class:`~aetherflow.metrics.records.Usage`.

Conventions (DESIGN.md, docs/providers.md):

* OpenAI / Groq / Mistral: ``prompt_tokens`` includes ``prompt_tokens_details.cached_tokens``.
  Groq may carry the usage object under ``x_groq.usage`` in its last stream chunk.
* DeepSeek: ``prompt_tokens`` = ``prompt_cache_hit_tokens`` + ``prompt_cache_miss_tokens``.
* Anthropic: ``input_tokens`` *excludes* ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``.
* Gemini: ``promptTokenCount`` *includes* ``cachedContentTokenCount``; the output is
  ``candidatesTokenCount`` plus ``thoughtsTokenCount`` (thinking tokens are billed as output).

The normalised ``input`` always includes cache reads and writes, so
``Usage.uncached_input`` = input - cache_read - cache_write is what is billed at the full
input price. A field the server did not send is *unknown* (value None with a note), never 0,
except where the provider's convention says its absence means "none" (noted as such).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aetherflow.metrics.records import TokenCount, Usage

__all__ = [
    "USAGE_NORMALISERS",
    "normalise_anthropic_usage",
    "normalise_gemini_usage",
    "normalise_mistral_usage",
    "normalise_openai_usage",
    "normalise_usage",
]


def _server(value: Any, note: str | None = None) -> TokenCount:
    return TokenCount(value=int(value), provenance="server", note=note)


def _absent(what: str) -> TokenCount:
    return TokenCount.unknown(f"server usage has no {what} field")


def _none_reported(note: str) -> TokenCount:
    return TokenCount(value=0, provenance="server", note=note)


def normalise_openai_usage(raw: dict[str, Any]) -> Usage:
    """OpenAI-style ``usage`` (also DeepSeek, Groq, Mistral, vLLM) to :class:`Usage`."""
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    details = raw.get("prompt_tokens_details") or {}
    if raw.get("prompt_cache_hit_tokens") is not None:  # DeepSeek
        cache_read = _server(raw["prompt_cache_hit_tokens"], "DeepSeek prompt_cache_hit_tokens")
        if prompt is None and raw.get("prompt_cache_miss_tokens") is not None:
            prompt = int(raw["prompt_cache_hit_tokens"]) + int(raw["prompt_cache_miss_tokens"])
    elif isinstance(details, dict) and details.get("cached_tokens") is not None:
        cache_read = _server(details["cached_tokens"])
    else:
        cache_read = _none_reported("no cached-token field: provider reported no cache read")
    return Usage(
        input=_server(prompt) if prompt is not None else _absent("prompt_tokens"),
        output=_server(completion) if completion is not None else _absent("completion_tokens"),
        cache_read=cache_read,
        cache_write=_none_reported("OpenAI-style APIs bill no separate cache write"),
    )


def normalise_mistral_usage(raw: dict[str, Any]) -> Usage:
    """Mistral ``usage`` (chat and FIM): the OpenAI shape, ``prompt_tokens`` is the whole prompt.

    Mistral reports ``prompt_tokens`` / ``completion_tokens`` / ``total_tokens``; when it
    sends ``prompt_tokens_details.cached_tokens`` that is a subset of ``prompt_tokens``.
    """
    return normalise_openai_usage(raw)


def normalise_anthropic_usage(raw: dict[str, Any]) -> Usage:
    """Anthropic Messages ``usage`` to :class:`Usage` (input re-includes cache tokens)."""
    base = raw.get("input_tokens")
    read = int(raw.get("cache_read_input_tokens") or 0)
    write = int(raw.get("cache_creation_input_tokens") or 0)
    out = raw.get("output_tokens")
    return Usage(
        input=_server(int(base) + read + write) if base is not None else _absent("input_tokens"),
        output=_server(out) if out is not None else _absent("output_tokens"),
        cache_read=_server(read),
        cache_write=_server(write),
    )


def normalise_gemini_usage(raw: dict[str, Any]) -> Usage:
    """Gemini ``usageMetadata`` to :class:`Usage`.

    ``promptTokenCount`` already includes ``cachedContentTokenCount``; thinking tokens
    (``thoughtsTokenCount``) are added to the output because they are billed as output.
    """
    prompt = raw.get("promptTokenCount")
    candidates = raw.get("candidatesTokenCount")
    thoughts = raw.get("thoughtsTokenCount")
    cached = raw.get("cachedContentTokenCount")
    if candidates is not None:
        note = "candidatesTokenCount + thoughtsTokenCount" if thoughts else None
        output = _server(int(candidates) + int(thoughts or 0), note)
    elif thoughts is not None:
        output = _server(thoughts, "thoughtsTokenCount only (no candidatesTokenCount)")
    else:
        output = _absent("candidatesTokenCount")
    return Usage(
        input=_server(prompt) if prompt is not None else _absent("promptTokenCount"),
        output=output,
        cache_read=(_server(cached) if cached is not None
                    else _none_reported("no cachedContentTokenCount: no cache read")),
        cache_write=_none_reported("Gemini reports no cache-write tokens"),
    )


#: Usage conventions by name (a provider module names the one its wire format uses).
USAGE_NORMALISERS: dict[str, Callable[[dict[str, Any]], Usage]] = {
    "openai": normalise_openai_usage,
    "deepseek": normalise_openai_usage,
    "groq": normalise_openai_usage,
    "mistral": normalise_mistral_usage,
    "anthropic": normalise_anthropic_usage,
    "gemini": normalise_gemini_usage,
}


def normalise_usage(convention: str, raw: dict[str, Any]) -> Usage:
    """Normalise ``raw`` with the named convention (a key of :data:`USAGE_NORMALISERS`)."""
    try:
        normaliser = USAGE_NORMALISERS[convention]
    except KeyError:
        raise ValueError(f"unknown usage convention {convention!r}") from None
    return normaliser(raw)
