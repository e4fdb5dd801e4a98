"""Normalise each provider's usage fields into :class:`~aetherflow.results.run.Usage`.

Conventions (DESIGN.md, docs/providers.md):

* OpenAI / Groq / Mistral / vLLM / Ollama / llama.cpp: ``prompt_tokens`` includes
  ``prompt_tokens_details.cached_tokens``. Groq may carry the usage object under
  ``x_groq.usage`` in its last stream chunk (the parser picks it; the fields are the same).
* DeepSeek: ``prompt_tokens`` = ``prompt_cache_hit_tokens`` + ``prompt_cache_miss_tokens``.
* Anthropic: ``input_tokens`` *excludes* ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``.
* Gemini: ``promptTokenCount`` *includes* ``cachedContentTokenCount``; the output is
  ``candidatesTokenCount`` plus ``thoughtsTokenCount`` (thinking tokens are billed as output).

The normalised ``input`` always includes cache reads and writes, so
``Usage.uncached_input`` = input - cache_read - cache_write is what is billed at the full
input price.

**Absent means unknown.** A field the server did not send (or sent as ``null``, or as
something that is not a token count) is recorded as unknown (value None) with a note
naming the field and the provider - never as 0. A 0 is recorded only when the server sent
it. Many OpenAI-compatible servers (vLLM without ``--enable-prompt-tokens-details``,
Ollama, most Groq models) send no ``cached_tokens``: their cache reads are unknown, so a
prompt-cache hit rate over them is n/a rather than a measured 0 %. The one exception is
Gemini's ``cachedContentTokenCount``: Gemini's JSON is proto3, whose encoding *omits*
zero-valued ``int32`` fields, so when a usage object with ``promptTokenCount`` has no
``cachedContentTokenCount`` the server did report 0 (noted as such).
"""

from __future__ import annotations

from typing import Any, Protocol

from aetherflow.results.run import TokenCount, Usage

__all__ = [
    "USAGE_NORMALISERS",
    "UsageNormaliser",
    "normalise_anthropic_usage",
    "normalise_gemini_usage",
    "normalise_mistral_usage",
    "normalise_openai_usage",
    "normalise_usage",
    "token_count",
]

#: Longest digit string accepted as a count (Python refuses int() past ~4300 digits).
_MAX_DIGITS = 18


class UsageNormaliser(Protocol):
    """Turns one provider usage object into :class:`Usage`; ``provider`` names the source
    in the notes of unknown counts."""

    def __call__(self, raw: dict[str, Any], provider: str | None = None) -> Usage:
        """Normalise ``raw``."""
        ...


def token_count(value: Any) -> int | None:
    """``value`` as a token count: a non-negative integer (an integral float or a digit
    string is accepted, as some JSON encoders send them); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and 0 <= value < 2**63 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value) if len(value) <= _MAX_DIGITS else None
    return None


def _field(raw: dict[str, Any], key: str, provider: str, note: str | None = None) -> TokenCount:
    """The server's ``raw[key]`` as a count, or unknown naming the field and provider."""
    value = raw.get(key)
    if value is None:
        return TokenCount.unknown(f"{provider}: usage has no {key} field")
    count = token_count(value)
    if count is None:
        return TokenCount.unknown(f"{provider}: usage field {key} is not a token count "
                                  f"({str(value)[:40]!r})")
    return TokenCount(value=count, provenance="server", note=note)


def _server(value: int, note: str | None = None) -> TokenCount:
    return TokenCount(value=value, provenance="server", note=note)


def _openai_cache_read(raw: dict[str, Any], provider: str) -> TokenCount:
    if raw.get("prompt_cache_hit_tokens") is not None:  # DeepSeek
        return _field(raw, "prompt_cache_hit_tokens", provider,
                      "DeepSeek prompt_cache_hit_tokens")
    details = raw.get("prompt_tokens_details")
    if isinstance(details, dict) and details.get("cached_tokens") is not None:
        return _field(details, "cached_tokens", provider)
    return TokenCount.unknown(
        f"{provider}: usage has no prompt_tokens_details.cached_tokens field "
        "(the server does not report prompt-cache reads)")


def normalise_openai_usage(raw: dict[str, Any], provider: str | None = None) -> Usage:
    """OpenAI-style ``usage`` (also DeepSeek, Groq, Mistral, vLLM, Ollama) to :class:`Usage`.

    ``cache_read`` is ``prompt_tokens_details.cached_tokens`` (DeepSeek:
    ``prompt_cache_hit_tokens``), unknown when neither was sent. ``cache_write`` is unknown:
    these APIs report no cache-write tokens (writes are billed as ordinary input).
    """
    name = provider or "openai-compatible"
    prompt = _field(raw, "prompt_tokens", name)
    cache_read = _openai_cache_read(raw, name)
    miss = token_count(raw.get("prompt_cache_miss_tokens"))
    if prompt.value is None and cache_read.value is not None and miss is not None:
        prompt = _server(cache_read.value + miss,
                         "DeepSeek prompt_cache_hit_tokens + prompt_cache_miss_tokens")
    return Usage(
        input=prompt,
        output=_field(raw, "completion_tokens", name),
        cache_read=cache_read,
        cache_write=TokenCount.unknown(
            f"{name}: OpenAI-style usage has no cache-write field (writes are not billed "
            "separately)"),
    )


def normalise_mistral_usage(raw: dict[str, Any], provider: str | None = None) -> Usage:
    """Mistral ``usage`` (chat and FIM): the OpenAI shape, ``prompt_tokens`` is the whole prompt.

    Mistral reports ``prompt_tokens`` / ``completion_tokens`` / ``total_tokens``; with
    prompt caching it adds ``prompt_tokens_details.cached_tokens`` (a subset of
    ``prompt_tokens``); without that field cache reads are unknown.
    """
    return normalise_openai_usage(raw, provider or "mistral")


def normalise_anthropic_usage(raw: dict[str, Any], provider: str | None = None) -> Usage:
    """Anthropic Messages ``usage`` to :class:`Usage` (input re-includes cache tokens).

    Anthropic sends ``cache_read_input_tokens`` and ``cache_creation_input_tokens``
    explicitly, so their 0 is a measurement; when one is absent it is unknown and the
    normalised input counts only what was sent (noted).
    """
    name = provider or "anthropic"
    base = _field(raw, "input_tokens", name)
    read = _field(raw, "cache_read_input_tokens", name)
    write = _field(raw, "cache_creation_input_tokens", name)
    if base.value is None:
        total = base
    else:
        missing = [k for k, c in (("cache_read_input_tokens", read),
                                  ("cache_creation_input_tokens", write)) if c.value is None]
        note = (f"input_tokens without {' and '.join(missing)} (not reported)"
                if missing else None)
        total = _server(base.value + (read.value or 0) + (write.value or 0), note)
    return Usage(input=total, output=_field(raw, "output_tokens", name),
                 cache_read=read, cache_write=write)


def _gemini_output(raw: dict[str, Any], name: str) -> TokenCount:
    candidates = _field(raw, "candidatesTokenCount", name)
    thoughts = token_count(raw.get("thoughtsTokenCount"))
    if candidates.value is not None:
        if thoughts:
            return _server(candidates.value + thoughts, "candidatesTokenCount + thoughtsTokenCount")
        return candidates
    if thoughts is not None:
        return _server(thoughts, "thoughtsTokenCount only (no candidatesTokenCount)")
    return candidates


def normalise_gemini_usage(raw: dict[str, Any], provider: str | None = None) -> Usage:
    """Gemini ``usageMetadata`` to :class:`Usage`.

    ``promptTokenCount`` already includes ``cachedContentTokenCount``; thinking tokens
    (``thoughtsTokenCount``) are added to the output because they are billed as output.
    An absent ``cachedContentTokenCount`` next to a ``promptTokenCount`` is the proto3
    encoding of 0 (a measured "no cache read"); ``cache_write`` is unknown (not reported).
    """
    name = provider or "gemini"
    prompt = _field(raw, "promptTokenCount", name)
    if raw.get("cachedContentTokenCount") is None and prompt.value is not None:
        cache_read = _server(0, "no cachedContentTokenCount: Gemini's proto3 JSON omits a "
                                "zero count, so the server reported no cache read")
    else:
        cache_read = _field(raw, "cachedContentTokenCount", name)
    return Usage(
        input=prompt,
        output=_gemini_output(raw, name),
        cache_read=cache_read,
        cache_write=TokenCount.unknown(f"{name}: usageMetadata has no cache-write field"),
    )


#: Usage conventions by name (a provider module names the one its wire format uses).
USAGE_NORMALISERS: dict[str, UsageNormaliser] = {
    "openai": normalise_openai_usage,
    "deepseek": normalise_openai_usage,
    "groq": normalise_openai_usage,
    "mistral": normalise_mistral_usage,
    "anthropic": normalise_anthropic_usage,
    "gemini": normalise_gemini_usage,
}


def normalise_usage(convention: str, raw: dict[str, Any], provider: str | None = None) -> Usage:
    """Normalise ``raw`` with the named convention (a key of :data:`USAGE_NORMALISERS`);
    ``provider`` (default: the convention) names the source in notes."""
    try:
        normaliser = USAGE_NORMALISERS[convention]
    except KeyError:
        raise ValueError(f"unknown usage convention {convention!r}") from None
    return normaliser(raw, provider or convention)
