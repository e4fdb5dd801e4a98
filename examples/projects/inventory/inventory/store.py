"""Stock kept in memory, saved to and loaded from JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Item:
    """One line of stock."""

    name: str
    qty: int
    price: float


class Inventory:
    """Items by name."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}

    def add(self, name: str, qty: int, price: float) -> None:
        """Add ``qty`` of ``name``; the latest price wins."""
        if qty <= 0:
            raise ValueError("qty must be positive")
        current = self.items.get(name)
        self.items[name] = Item(name, (current.qty if current else 0) + qty, price)

    def remove(self, name: str, qty: int) -> bool:
        """Take ``qty`` of ``name`` out; False (and nothing changes) if there is not enough."""
        current = self.items.get(name)
        if current is None or current.qty < qty:
            return False
        current.qty -= qty
        if current.qty == 0:
            del self.items[name]
        return True

    def quantity(self, name: str) -> int:
        """How many of ``name`` are in stock (0 if none)."""
        item = self.items.get(name)
        return item.qty if item else 0

    def value(self) -> float:
        """The stock's worth, rounded to cents."""
        return round(sum(i.qty * i.price for i in self.items.values()), 2)

    def save(self, path: Path) -> None:
        """Write the stock to ``path`` as JSON."""
        Path(path).write_text(json.dumps([asdict(i) for i in self.items.values()], indent=1))

    @classmethod
    def load(cls, path: Path) -> Inventory:
        """The stock saved at ``path``."""
        inventory = cls()
        for row in json.loads(Path(path).read_text()):
            inventory.add(row["name"], row["qty"], row["price"])
        return inventory

    # AETHERFLOW: new methods here
