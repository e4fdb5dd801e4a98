"""Inventory's behaviour."""

import json
from pathlib import Path

import pytest
from inventory.store import Inventory

DATA = Path(__file__).resolve().parents[1] / "data" / "sample.json"


def test_add_merges_and_remove_checks_stock() -> None:
    inv = Inventory()
    inv.add("bolt", 10, 0.5)
    inv.add("bolt", 5, 0.6)
    assert inv.quantity("bolt") == 15 and inv.items["bolt"].price == 0.6
    assert inv.remove("bolt", 20) is False and inv.quantity("bolt") == 15
    assert inv.remove("bolt", 15) is True and inv.quantity("bolt") == 0
    assert "bolt" not in inv.items
    with pytest.raises(ValueError):
        inv.add("nut", 0, 1.0)


def test_value_and_round_trip(tmp_path: Path) -> None:
    inv = Inventory.load(DATA)
    assert inv.quantity("hinge") == 4
    assert inv.value() == round(120 * 0.1 + 3 * 0.05 + 4 * 2.5 + 12 * 19.9, 2)
    inv.save(tmp_path / "stock.json")
    assert json.loads((tmp_path / "stock.json").read_text())[0]["name"] == "bolt"
    assert Inventory.load(tmp_path / "stock.json").value() == inv.value()
