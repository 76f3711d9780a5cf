"""A tiny instrumented "shop" service: the code under test in the demo suite."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

tracer = trace.get_tracer("demo.shop", "1.0")


class Declined(Exception):
    """The payment provider refused the card."""


def charge(card: str, amount: float) -> str:
    with tracer.start_as_current_span("payments.charge", kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("payment.amount", amount)
        span.set_attribute("payment.card_suffix", card[-4:])
        if card.startswith("0000"):
            raise Declined(f"card ending {card[-4:]} declined")
        return "receipt-" + card[-4:]


def checkout(user: str, items: list[str], card: str) -> str | None:
    with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER) as span:
        span.set_attribute("user.id", user)
        span.set_attribute("cart.items", items)
        with tracer.start_as_current_span("inventory.reserve") as reserve:
            reserve.set_attribute("inventory.count", len(items))
        try:
            return charge(card, 9.5 * len(items))
        except Declined as exc:
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            span.set_attribute("error.type", f"{Declined.__module__}.{Declined.__qualname__}")
            return None
