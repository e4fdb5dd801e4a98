"""What an order costs."""


def order_total(items, customer_type, coupon=None):
    """The total of ``items`` (dicts with ``price`` and ``qty``) for a customer type
    (``regular``, ``member`` or ``staff``), after an optional coupon, rounded to cents."""
    total = 0
    for item in items:
        if item["qty"] > 0:
            if customer_type == "regular":
                if item["qty"] >= 10:
                    total = total + item["price"] * item["qty"] * 0.95
                else:
                    total = total + item["price"] * item["qty"]
            elif customer_type == "member":
                if item["qty"] >= 10:
                    total = total + item["price"] * item["qty"] * 0.90
                else:
                    total = total + item["price"] * item["qty"] * 0.97
            elif customer_type == "staff":
                total = total + item["price"] * item["qty"] * 0.80
            else:
                raise ValueError("unknown customer type: " + str(customer_type))
    if coupon != None:  # noqa: E711
        if coupon == "SAVE5":
            if total >= 50:
                total = total - 5
        elif coupon == "HALF":
            total = total / 2
        else:
            raise ValueError("unknown coupon: " + str(coupon))
    return round(total, 2)
