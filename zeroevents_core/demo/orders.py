"""The orders the demo fires: which event each is, and which break the contract."""

from __future__ import annotations

from typing import Any

INVALID_EVERY = 25

CREATED: dict[str, Any] = {
    "id": 1,
    "seq": 0,
    "sent_at": 0.0,
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [
        {"sku": "BOO-1843", "quantity": 1, "price": 24.5},
        {"sku": "PEN-0007", "quantity": 2, "price": 9.99},
    ],
    "total": 44.48,
    "currency": "EUR",
}
SHIPPED: dict[str, Any] = {
    "id": 1,
    "seq": 0,
    "sent_at": 0.0,
    "carrier": "DHL",
    "tracking": "JD0146000062",
}
# What the producer gets wrong, in turn: each breaks one rule of the contract.
BROKEN: list[tuple[str, dict[str, Any]]] = [
    ("orders.created", {**CREATED, "total": -12.5}),
    ("orders.created", {**CREATED, "customer": {"name": "Ada", "email": "ada.example.com"}}),
    ("orders.shipped", {**SHIPPED, "carrier": "pigeon"}),
    ("orders.created", {**CREATED, "items": [{"sku": "pen", "quantity": 1, "price": 2.5}]}),
]


def make_event(seq: int) -> tuple[str, dict[str, Any], bool]:
    """The ``seq``-th event of the demo: name, order, whether it keeps the contract."""
    if seq % INVALID_EVERY == INVALID_EVERY - 1:
        event, template = BROKEN[(seq // INVALID_EVERY) % len(BROKEN)]
        valid = False
    elif seq % 3 == 2:
        event, template, valid = "orders.shipped", SHIPPED, True
    else:
        event, template, valid = "orders.created", CREATED, True
    order = dict(template)
    order["id"] = 1000 + seq
    order["seq"] = seq
    return event, order, valid


def invalid_among(count: int) -> int:
    """How many of the first ``count`` events break the contract."""
    return count // INVALID_EVERY


def describe(event: str, order: dict[str, Any]) -> str:
    """One line about an order, as the service reports the first of each event."""
    if event == "orders.created":
        items = len(order.get("items", []))
        return (
            f"order {order.get('id')}, {items} items, {order.get('total')} "
            f"{order.get('currency')}, for {order.get('customer', {}).get('name')}"
        )
    return f"order {order.get('id')} by {order.get('carrier')}, tracking {order.get('tracking')}"
