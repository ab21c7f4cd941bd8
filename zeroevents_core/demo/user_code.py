"""The code the demo runs in its two processes, shown on screen as it is written here.

Nothing in it is particular to the demo: the library's defaults (socket type,
timeouts, the barrier a closing sender waits for), the process-wide ``events``
dispatcher, one service. The harness (:mod:`.children`) only hands it the endpoint,
the settings, the orders to fire and a listener that counts what arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from zeroevents_core import EventListener, EventService, events

Orders = Iterable[tuple[str, dict[str, Any]]]
Settings = dict[str, str]
Listener = Callable[..., object]


def producer(endpoint: str, settings: Settings, orders: Orders) -> None:
    """Process 1: whatever it fires under orders.* crosses to the service."""
    with EventListener({"connect": endpoint, **settings}) as forward:
        events.listen("orders.*", forward)
        for name, order in orders:
            events.fire(name, order)


def service(endpoint: str, settings: Settings, contracts: str, on_order: Listener) -> None:
    """Process 2: fires here every order that keeps the contract; SIGTERM stops it."""
    events.listen("orders.*", on_order)
    EventService(schemas=contracts).listen(EventListener({"bind": endpoint, **settings})).run()
