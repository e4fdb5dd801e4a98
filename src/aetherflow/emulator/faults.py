"""Fault injection: pick at most one fault rule for each request."""

from __future__ import annotations

import random
from collections import Counter

from aetherflow.emulator.profile import FaultRule

__all__ = ["FaultInjector"]


class FaultInjector:
    """Matches requests against :class:`FaultRule` s in order; the first that fires wins.

    Request numbers are 1-based and counted per provider for rules naming a provider, and
    over all requests otherwise. Probabilities are drawn from the seeded ``rng`` (only for
    rules whose other conditions match, so the draw sequence is deterministic).
    """

    def __init__(self, rules: list[FaultRule], rng: random.Random) -> None:
        self._rules = list(rules)
        self._rng = rng
        self._fired: Counter[int] = Counter()
        self._per_provider: Counter[str] = Counter()
        self._total = 0

    @property
    def rules(self) -> list[FaultRule]:
        """The active rules (a copy)."""
        return list(self._rules)

    def set_rules(self, rules: list[FaultRule]) -> None:
        """Replace the rules and forget how often the old ones fired."""
        self._rules = list(rules)
        self._fired.clear()

    def reset(self, rng: random.Random | None = None) -> None:
        """Forget request counts and firing counts (rules stay); optionally swap the RNG."""
        if rng is not None:
            self._rng = rng
        self._fired.clear()
        self._per_provider.clear()
        self._total = 0

    def choose(self, provider: str, prompt: str) -> FaultRule | None:
        """Count this request and return the fault it gets, if any."""
        self._total += 1
        self._per_provider[provider] += 1
        for idx, rule in enumerate(self._rules):
            if self._matches(idx, rule, provider, prompt):
                self._fired[idx] += 1
                return rule
        return None

    def _matches(self, idx: int, rule: FaultRule, provider: str, prompt: str) -> bool:
        if rule.provider is not None and rule.provider != provider:
            return False
        if rule.times is not None and self._fired[idx] >= rule.times:
            return False
        if rule.prompt_contains is not None and rule.prompt_contains not in prompt:
            return False
        number = self._per_provider[provider] if rule.provider else self._total
        if rule.nth is not None and number != rule.nth:
            return False
        if rule.every is not None and number % rule.every != 0:
            return False
        return rule.probability >= 1.0 or self._rng.random() < rule.probability
