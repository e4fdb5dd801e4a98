"""A small stock-keeping package (the example project of AetherFlow's `--project`)."""

from inventory.pricing import order_total
from inventory.store import Inventory, Item

__all__ = ["Inventory", "Item", "order_total"]
