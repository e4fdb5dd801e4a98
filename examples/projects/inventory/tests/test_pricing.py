"""order_total's behaviour, pinned before any refactoring."""

import pytest
from inventory.pricing import order_total

SMALL = [{"price": 10.0, "qty": 2}]
BULK = [{"price": 10.0, "qty": 10}]


@pytest.mark.parametrize(("items", "customer", "expected"), [
    (SMALL, "regular", 20.0), (BULK, "regular", 95.0),
    (SMALL, "member", 19.4), (BULK, "member", 90.0),
    (SMALL, "staff", 16.0), (BULK, "staff", 80.0),
    ([], "regular", 0), ([{"price": 5.0, "qty": 0}], "nobody", 0),
    (SMALL + BULK, "member", 109.4),
])
def test_customer_types(items: list[dict[str, float]], customer: str, expected: float) -> None:
    assert order_total(items, customer) == expected


@pytest.mark.parametrize(("items", "coupon", "expected"), [
    (BULK, "SAVE5", 90.0), (SMALL, "SAVE5", 20.0), (BULK, "HALF", 47.5), (BULK, None, 95.0),
])
def test_coupons(items: list[dict[str, float]], coupon: str | None, expected: float) -> None:
    assert order_total(items, "regular", coupon) == expected


def test_unknown_values_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown customer type"):
        order_total(SMALL, "vip")
    with pytest.raises(ValueError, match="unknown coupon"):
        order_total(SMALL, "regular", "FREE")
