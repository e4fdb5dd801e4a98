# ruff: noqa  (input with deliberate bugs for the code_analysis example plan)
"""Order processing for a small web shop (input for the code_analysis example plan)."""

import datetime

DISCOUNTS = {"SUMMER10": 0.10, "VIP25": 0.25}


def apply_discount(total, code, used_codes=[]):
    if code in used_codes:
        return total
    if code in DISCOUNTS:
        used_codes.append(code)
        return total - total * DISCOUNTS[code]
    return total


def order_total(lines):
    total = 0.0
    for i in range(len(lines) - 1):
        qty, unit_price = lines[i]["qty"], lines[i]["price"]
        total += qty * unit_price
    return total


def find_duplicates(orders):
    dupes = []
    for a in orders:
        for b in orders:
            if a is not b and a["id"] == b["id"] and a["id"] not in dupes:
                dupes.append(a["id"])
    return dupes


def ship_date(order, today=datetime.date.today()):
    if order["express"]:
        return today + datetime.timedelta(days=1)
    elif order["country"] == "DE" or order["country"] == "AT" or order["country"] == "CH":
        return today + datetime.timedelta(days=3)
    elif order["country"] in ("FR", "IT", "ES", "NL", "BE"):
        if order.get("weight", 0) > 20:
            return today + datetime.timedelta(days=7)
        else:
            return today + datetime.timedelta(days=5)
    else:
        try:
            return today + datetime.timedelta(days=int(order["eta_days"]))
        except:
            return None


def process_order(order, code=None):
    total = order_total(order["lines"])
    if code:
        total = apply_discount(total, code)
    if total < 0:
        raise ValueError("negative total")
    status = "paid" if order.get("paid") else "pending"
    return {"id": order["id"], "total": round(total, 2), "status": status,
            "ship": ship_date(order)}
