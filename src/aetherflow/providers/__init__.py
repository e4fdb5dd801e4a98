"""Providers: the streamed clients of every LLM API, the registry they are created from,
and what a plugin needs to add one (docs/providers.md). Exports load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aetherflow._lazy import lazy_exports

if TYPE_CHECKING:
    from aetherflow.providers.base import (
        ChatMessage,
        ChatRequest,
        ErrorEvent,
        Finish,
        Provider,
        ProviderSettings,
        StreamEvent,
        TextDelta,
        UsageReport,
    )
    from aetherflow.providers.registry import (
        ENTRY_POINT_GROUP,
        ProviderRegistry,
        create_provider,
        provider_names,
        register_provider,
    )
    from aetherflow.providers.specs import ProviderSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "ChatMessage",
    "ChatRequest",
    "ErrorEvent",
    "Finish",
    "Provider",
    "ProviderRegistry",
    "ProviderSettings",
    "ProviderSpec",
    "StreamEvent",
    "TextDelta",
    "UsageReport",
    "create_provider",
    "provider_names",
    "register_provider",
]

_EXPORTS = {
    **{name: "aetherflow.providers.base" for name in (
        "ChatMessage", "ChatRequest", "ErrorEvent", "Finish", "Provider", "ProviderSettings",
        "StreamEvent", "TextDelta", "UsageReport")},
    **{name: "aetherflow.providers.registry" for name in (
        "ENTRY_POINT_GROUP", "ProviderRegistry", "create_provider", "provider_names",
        "register_provider")},
    "ProviderSpec": "aetherflow.providers.specs",
}
__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
