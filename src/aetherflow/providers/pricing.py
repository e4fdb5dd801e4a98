"""What an attempt cost, from normalised usage and a per-million-token price table.

``cost = uncached input × input price + cache reads × cache-read price
       + cache writes × cache-write price + output × output price``

where ``uncached input = input - cache reads - cache writes`` (normalised ``Usage.input``
includes both). Prices come from, in order:

1. a user override file (TOML or JSON; see :func:`load_price_overrides`), recorded as
   ``price_source = "override file PATH"``;
2. the ``genai-prices`` package's bundled data snapshot (offline: AetherFlow never starts
   its ``UpdatePrices`` background fetcher), recorded as ``"genai-prices X.Y.Z (bundled
   snapshot)"``.

``price_date`` is the date the prices apply to: for genai-prices, the day they were
selected for (the snapshot's prices in force that day); for an override file, its ``date``,
or ``"unknown"`` when the file gives none (AetherFlow cannot know when a hand-written price
was valid, so it does not pretend it is today's). An unknown model gives
``total_usd = None`` with the note ``"no price for provider/model"``, never 0. The
``local`` provider costs 0.0 (no per-token charge). A missing cache-read or cache-write
price falls back to the input price (noted).
"""

from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
from genai_prices import data_snapshot
from genai_prices.types import TieredPrices
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aetherflow.errors import ConfigError
from aetherflow.results.run import CostBreakdown, Usage

__all__ = [
    "GENAI_PRICES_PROVIDER_IDS",
    "LOCAL_PRICE_SOURCE",
    "UNKNOWN_PRICE_DATE",
    "ModelPrice",
    "PriceOverrides",
    "ResolvedPrice",
    "load_price_overrides",
    "lookup_price",
    "price_attempt",
]

LOCAL_PRICE_SOURCE = "local model: no per-token charge"
#: ``price_date`` of an override file that states no ``date``.
UNKNOWN_PRICE_DATE = "unknown"

#: AetherFlow provider name -> genai-prices provider id.
GENAI_PRICES_PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "groq": "groq",
    "gemini": "google",
}

_MTOK = Decimal(1_000_000)


class ModelPrice(BaseModel):
    """USD per million tokens for one model (an override table entry)."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)


class PriceOverrides(BaseModel):
    """A user price table: ``prices[provider][model]``, where it came from and its date."""

    model_config = ConfigDict(extra="forbid")

    prices: dict[str, dict[str, ModelPrice]] = Field(default_factory=dict)
    source: str = "override table"
    date: str | None = None

    def lookup(self, provider: str, model: str) -> ModelPrice | None:
        """The entry for ``provider``/``model`` (exact, then case-insensitive model name)."""
        table = self.prices.get(provider) or {}
        if model in table:
            return table[model]
        lowered = {k.lower(): v for k, v in table.items()}
        return lowered.get(model.lower())


@dataclass(frozen=True)
class ResolvedPrice:
    """Per-million-token prices for one attempt (tiers already resolved), with provenance."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None
    cache_write: Decimal | None
    source: str
    date: str


def load_price_overrides(path: Path | str) -> PriceOverrides:
    """Read an override file: JSON if it ends in ``.json``, TOML otherwise.

    Format (TOML shown; JSON has the same shape)::

        date = "2025-06-01"            # optional: when these prices were valid
                                       # (recorded as price_date; "unknown" without it)

        [deepseek."deepseek-chat"]
        input = 0.27                   # USD per million uncached input tokens
        cached_input = 0.07            # per million cache-read tokens (default: input)
        cache_write = 0.27             # per million cache-write tokens (default: input)
        output = 1.10                  # per million output tokens
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
        raw: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"price override file {path}: cannot read: {exc.strerror}") from exc
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"price override file {path}: invalid: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"price override file {path}: expected a table of providers")
    when = raw.pop("date", None)
    if when is not None:
        when = str(when)
    try:
        return PriceOverrides(prices=raw, source=f"override file {path}", date=when)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"][1:])
        raise ConfigError(f"price override file {path}: {loc}: {first['msg']}") from None


def _tiered(price: Any, total_input: int) -> Decimal | None:
    """A genai-prices price (plain or tiered by total input tokens) as a Decimal."""
    if price is None:
        return None
    if isinstance(price, TieredPrices):
        applicable = price.base
        for tier in reversed(price.tiers):
            if total_input > tier.start:
                applicable = tier.price
                break
        return Decimal(applicable)
    return Decimal(price)


@functools.lru_cache(maxsize=256)
def _find_model(provider_id: str, model: str) -> Any:
    """The snapshot's model entry (cached: the lookup is the costly part of pricing)."""
    try:
        return data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)[1]
    except LookupError:
        return None


def _genai_price(provider: str, model: str, total_input: int,
                 at: datetime) -> ResolvedPrice | None:
    provider_id = GENAI_PRICES_PROVIDER_IDS.get(provider)
    if provider_id is None:
        return None
    info = _find_model(provider_id, model)
    if info is None:
        return None
    mp = info.get_prices(at)
    inp = _tiered(getattr(mp, "input_mtok", None), total_input)
    out = _tiered(getattr(mp, "output_mtok", None), total_input)
    if inp is None or out is None:
        return None
    return ResolvedPrice(
        input=inp, output=out,
        cache_read=_tiered(getattr(mp, "cache_read_mtok", None), total_input),
        cache_write=_tiered(getattr(mp, "cache_write_mtok", None), total_input),
        source=f"genai-prices {genai_prices.__version__} (bundled snapshot, model {info.id})",
        date=at.date().isoformat(),
    )


def _dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def lookup_price(provider: str, model: str, *, total_input: int = 0,
                 overrides: PriceOverrides | None = None,
                 at: datetime | None = None) -> ResolvedPrice | None:
    """The price for ``provider``/``model``: override table first, then genai-prices.

    ``total_input`` selects the tier of tiered prices (the provider's cliff rule: above a
    tier's start, all tokens pay that tier's price).
    """
    at = at or datetime.now(tz=UTC)
    if overrides is not None and (entry := overrides.lookup(provider, model)) is not None:
        return ResolvedPrice(
            input=Decimal(str(entry.input)), output=Decimal(str(entry.output)),
            cache_read=_dec(entry.cached_input), cache_write=_dec(entry.cache_write),
            source=overrides.source, date=overrides.date or UNKNOWN_PRICE_DATE,
        )
    return _genai_price(provider, model, total_input, at)


def _usd(tokens: int, per_mtok: Decimal) -> Decimal:
    return Decimal(tokens) * per_mtok / _MTOK


def price_attempt(provider: str, model: str, usage: Usage, *,
                  overrides: PriceOverrides | None = None,
                  at: datetime | None = None) -> CostBreakdown:
    """Price one attempt's normalised ``usage`` (see the module doc for the formula)."""
    if provider == "local":
        return CostBreakdown(total_usd=0.0, input_usd=0.0, cache_read_usd=0.0,
                             cache_write_usd=0.0, output_usd=0.0,
                             price_source=LOCAL_PRICE_SOURCE,
                             price_date=date.today().isoformat())
    total_input = usage.input.value or 0
    price = lookup_price(provider, model, total_input=total_input, overrides=overrides, at=at)
    if price is None:
        return CostBreakdown(note=f"no price for {provider}/{model}")
    if usage.output.value is None:
        return CostBreakdown(price_source=price.source, price_date=price.date,
                             note="output tokens unknown: cannot price")
    if usage.input.value is None:
        # A stream cut before its usage arrived: what is known is the output; the input's
        # cost is unknown but not zero, so the total is a lower bound (and says so).
        output_usd = _usd(usage.output.value, price.output)
        return CostBreakdown(
            total_usd=float(output_usd), output_usd=float(output_usd),
            price_source=price.source, price_date=price.date, lower_bound=True,
            note=f"lower bound: input tokens unknown ({usage.input.note or 'not reported'}); "
                 f"only the {usage.output.value} output tokens "
                 f"({usage.output.provenance or 'unknown provenance'}) are priced")
    notes: list[str] = []
    read = usage.cache_read.value
    write = usage.cache_write.value
    if read is None:
        notes.append("cache reads not reported: all input priced as uncached (an upper bound)")
    if write is None and price.cache_write is not None:
        # Without a separate write price, unreported writes cost the input price: exact.
        notes.append("cache writes not reported: priced as uncached input "
                     "(the cache-write price is not applied)")
    read, write = read or 0, write or 0
    read_price, write_price = price.cache_read, price.cache_write
    if read and read_price is None:
        read_price = price.input
        notes.append("no cache-read price: cache reads priced at the input price")
    if write and write_price is None:
        write_price = price.input
        notes.append("no cache-write price: cache writes priced at the input price")
    uncached = usage.input.value - read - write
    if uncached < 0:
        return CostBreakdown(price_source=price.source, price_date=price.date,
                             note="inconsistent usage: cache tokens exceed input tokens")
    parts = {
        "input_usd": _usd(uncached, price.input),
        "cache_read_usd": _usd(read, read_price or Decimal(0)),
        "cache_write_usd": _usd(write, write_price or Decimal(0)),
        "output_usd": _usd(usage.output.value, price.output),
    }
    return CostBreakdown(
        total_usd=float(sum(parts.values(), Decimal(0))),
        input_usd=float(parts["input_usd"]), cache_read_usd=float(parts["cache_read_usd"]),
        cache_write_usd=float(parts["cache_write_usd"]),
        output_usd=float(parts["output_usd"]),
        price_source=price.source, price_date=price.date,
        note="; ".join(notes) or None,
    )
