"""Billing service: invoices, discounts, taxes and payment reconciliation.

This module is the shared context of the prompt-cache example plan: every step of
examples/plans/shared_context.json reads it, so every prompt starts with the same
long prefix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

CENT = decimal.Decimal("0.01")
DEFAULT_CURRENCY = "EUR"
TAX_RATES = {"FR": decimal.Decimal("0.20"), "DE": decimal.Decimal("0.19"),
             "ES": decimal.Decimal("0.21"), "IT": decimal.Decimal("0.22"),
             "NL": decimal.Decimal("0.21"), "BE": decimal.Decimal("0.21")}


class InvoiceStatus(enum.Enum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    CANCELLED = "cancelled"


class BillingError(Exception):
    """Raised for every invalid billing operation."""


@dataclasses.dataclass(frozen=True)
class LineItem:
    sku: str
    description: str
    quantity: int
    unit_price: decimal.Decimal

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise BillingError(f"{self.sku}: quantity must be positive")
        if self.unit_price < 0:
            raise BillingError(f"{self.sku}: unit price must not be negative")

    @property
    def subtotal(self) -> decimal.Decimal:
        return (self.unit_price * self.quantity).quantize(CENT)


@dataclasses.dataclass
class Discount:
    code: str
    percent: decimal.Decimal = decimal.Decimal("0")
    fixed: decimal.Decimal = decimal.Decimal("0")
    min_total: decimal.Decimal = decimal.Decimal("0")
    expires: dt.date | None = None

    def applies(self, total: decimal.Decimal, today: dt.date) -> bool:
        if self.expires is not None and today > self.expires:
            return False
        return total >= self.min_total

    def amount(self, total: decimal.Decimal) -> decimal.Decimal:
        cut = total * self.percent / 100 + self.fixed
        return min(cut, total).quantize(CENT)


@dataclasses.dataclass
class Invoice:
    number: str
    customer_id: str
    country: str
    items: list[LineItem] = dataclasses.field(default_factory=list)
    discounts: list[Discount] = dataclasses.field(default_factory=list)
    status: InvoiceStatus = InvoiceStatus.DRAFT
    issued_on: dt.date | None = None
    due_days: int = 30
    currency: str = DEFAULT_CURRENCY
    payments: list[decimal.Decimal] = dataclasses.field(default_factory=list)

    def add_item(self, item: LineItem) -> None:
        if self.status is not InvoiceStatus.DRAFT:
            raise BillingError(f"{self.number}: only draft invoices can change")
        self.items.append(item)

    def net_total(self, today: dt.date | None = None) -> decimal.Decimal:
        today = today or dt.date.today()
        total = sum((i.subtotal for i in self.items), decimal.Decimal("0"))
        for discount in self.discounts:
            if discount.applies(total, today):
                total -= discount.amount(total)
        return total.quantize(CENT)

    def tax(self, today: dt.date | None = None) -> decimal.Decimal:
        rate = TAX_RATES.get(self.country)
        if rate is None:
            raise BillingError(f"{self.number}: no tax rate for country {self.country!r}")
        return (self.net_total(today) * rate).quantize(CENT)

    def gross_total(self, today: dt.date | None = None) -> decimal.Decimal:
        return self.net_total(today) + self.tax(today)

    def issue(self, on: dt.date) -> None:
        if not self.items:
            raise BillingError(f"{self.number}: cannot issue an empty invoice")
        if self.status is not InvoiceStatus.DRAFT:
            raise BillingError(f"{self.number}: already {self.status.value}")
        self.status, self.issued_on = InvoiceStatus.ISSUED, on

    def due_date(self) -> dt.date:
        if self.issued_on is None:
            raise BillingError(f"{self.number}: not issued")
        return self.issued_on + dt.timedelta(days=self.due_days)

    def is_overdue(self, today: dt.date) -> bool:
        return self.status in (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID) and \
            today > self.due_date()

    def paid_amount(self) -> decimal.Decimal:
        return sum(self.payments, decimal.Decimal("0"))

    def record_payment(self, amount: decimal.Decimal, today: dt.date | None = None) -> None:
        if self.status not in (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID):
            raise BillingError(f"{self.number}: cannot pay a {self.status.value} invoice")
        if amount <= 0:
            raise BillingError(f"{self.number}: payment must be positive")
        self.payments.append(amount.quantize(CENT))
        due = self.gross_total(today)
        if self.paid_amount() >= due:
            self.status = InvoiceStatus.PAID
        else:
            self.status = InvoiceStatus.PARTIALLY_PAID

    def cancel(self) -> None:
        if self.status is InvoiceStatus.PAID:
            raise BillingError(f"{self.number}: a paid invoice cannot be cancelled")
        self.status = InvoiceStatus.CANCELLED


class InvoiceBook:
    """All invoices of one company, with persistence and reports."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.invoices: dict[str, Invoice] = {}
        self._next = 1

    def new_invoice(self, customer_id: str, country: str) -> Invoice:
        number = f"INV-{self._next:06d}"
        self._next += 1
        invoice = Invoice(number=number, customer_id=customer_id, country=country)
        self.invoices[number] = invoice
        return invoice

    def get(self, number: str) -> Invoice:
        try:
            return self.invoices[number]
        except KeyError:
            raise BillingError(f"unknown invoice {number}") from None

    def overdue(self, today: dt.date) -> list[Invoice]:
        return sorted((i for i in self.invoices.values() if i.is_overdue(today)),
                      key=lambda i: i.due_date())

    def revenue_by_country(self, today: dt.date | None = None) -> dict[str, decimal.Decimal]:
        totals: dict[str, decimal.Decimal] = defaultdict(lambda: decimal.Decimal("0"))
        for invoice in self.invoices.values():
            if invoice.status is InvoiceStatus.PAID:
                totals[invoice.country] += invoice.net_total(today)
        return dict(sorted(totals.items()))

    def reconcile(self, bank_lines: Iterable[Mapping[str, str]]) -> list[str]:
        """Apply bank transfers whose reference is an invoice number; return the unmatched."""
        unmatched = []
        for line in bank_lines:
            reference = line.get("reference", "").strip().upper()
            amount = decimal.Decimal(line.get("amount", "0"))
            if reference in self.invoices:
                try:
                    self.invoices[reference].record_payment(amount)
                except BillingError as exc:
                    log.warning("bank line %s not applied: %s", reference, exc)
                    unmatched.append(reference)
            else:
                unmatched.append(reference or "<no reference>")
        return unmatched

    def save(self) -> None:
        data = {"next": self._next, "invoices": [self._dump(i) for i in self.invoices.values()]}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.path)

    @classmethod
    def load(cls, path: Path) -> InvoiceBook:
        book = cls(path)
        data = json.loads(path.read_text())
        book._next = data["next"]
        for raw in data["invoices"]:
            invoice = Invoice(
                number=raw["number"], customer_id=raw["customer_id"], country=raw["country"],
                items=[LineItem(i["sku"], i["description"], i["quantity"],
                                decimal.Decimal(i["unit_price"])) for i in raw["items"]],
                status=InvoiceStatus(raw["status"]),
                issued_on=dt.date.fromisoformat(raw["issued_on"]) if raw["issued_on"] else None,
                due_days=raw["due_days"], currency=raw["currency"],
                payments=[decimal.Decimal(p) for p in raw["payments"]],
            )
            book.invoices[invoice.number] = invoice
        return book

    @staticmethod
    def _dump(invoice: Invoice) -> dict[str, object]:
        return {
            "number": invoice.number, "customer_id": invoice.customer_id,
            "country": invoice.country, "status": invoice.status.value,
            "issued_on": invoice.issued_on.isoformat() if invoice.issued_on else None,
            "due_days": invoice.due_days, "currency": invoice.currency,
            "items": [{"sku": i.sku, "description": i.description, "quantity": i.quantity,
                       "unit_price": str(i.unit_price)} for i in invoice.items],
            "payments": [str(p) for p in invoice.payments],
        }
