"""Examples of testing event flows with the ``zeroevents.testing`` fixtures.

Each runs over the ``memory`` link and again over real ZeroMQ sockets (``ipc``):
the same test, the same assertions, whichever link carries the events.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from zeroevents_core import SchemaValidationError, events
from zeroevents_core.testing import EventLink, EventRecorder

CONTRACTS = Path(__file__).parent.parent / "examples" / "contracts"
ORDER = {
    "id": 7,
    "customer": {"id": "6f1c1f5e-8d2b-4c8e-9a51-6c1f1d1e2a3b", "email": "ada@example.com"},
    "items": [{"sku": "BOO-1234", "quantity": 1, "price": 12.5}],
    "total": 12.5,
    "currency": "EUR",
    "created_at": "2026-11-26T12:00:00Z",
}


@pytest.fixture(params=["memory", "ipc"])
def with_real(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def link(event_link: Any, with_real: str) -> EventLink:
    made: EventLink = event_link(with_real=with_real)
    return made


def test_firing_here_fires_there(link: EventLink) -> None:
    # The consumer's code: an order makes an invoice request.
    link.remote.listen(
        "orders.created", lambda order: link.remote.fire("invoices.requested", order["id"])
    )
    link.local.fire("orders.created", {"id": 1})
    assert link.fired.wait_for("invoices.requested").payload == (1,)
    link.fired.assert_fired("orders.created", {"id": 1})


def test_events_arrive_in_order_with_their_payload_types(link: EventLink) -> None:
    payloads: list[tuple[Any, ...]] = [
        (1, 2.5, "три", None, True),
        ([1, [2, 3]], {"nested": {"list": [1, 2]}}),
        (),
    ]
    for n, payload in enumerate(payloads):
        link.local.fire(f"sample.{n}", *payload)
    link.fired.wait_for(f"sample.{len(payloads) - 1}")
    assert [(e.name, e.payload) for e in link.fired.events] == [
        (f"sample.{n}", payload) for n, payload in enumerate(payloads)
    ]


def test_only_the_forwarded_names_cross(event_link: Any, with_real: str) -> None:
    link = event_link(with_real=with_real, events="orders.*")
    link.local.fire("refunds.created", 1)
    link.local.fire("orders.created", 2)
    link.fired.wait_for("orders.created")
    link.fired.assert_not_fired("refunds.*")


def test_a_failing_consumer_does_not_stop_the_service(link: EventLink) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("a consumer bug")

    link.remote.listen("jobs.bad", broken)
    link.local.fire("jobs.bad")
    link.local.fire("jobs.good")
    link.fired.wait_for("jobs.good")
    assert link.service.stats.listener_errors == 1


def test_the_code_under_test_fires_on_the_default_dispatcher(
    event_link: Any, with_real: str, fired: EventRecorder
) -> None:
    link = event_link(with_real=with_real, dispatcher=events, events="shop.*")
    events.fire("shop.checkout", {"cart": 3})
    fired.assert_fired("shop.checkout", {"cart": 3})  # here, at once
    assert link.fired.wait_for("shop.checkout").payload == ({"cart": 3},)  # there


def test_events_fired_from_many_threads_all_arrive(link: EventLink) -> None:
    def produce(first: int) -> None:
        for n in range(first, first + 25):
            link.local.fire(f"jobs.{n}", n)

    threads = [threading.Thread(target=produce, args=(first,)) for first in range(0, 100, 25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n in range(100):
        link.fired.wait_for(f"jobs.{n}")
    assert len(link.fired.assert_fired_matching("jobs.*", count=100)) == 100


def test_another_serializer_carries_bytes(event_link: Any, with_real: str) -> None:
    link = event_link(with_real=with_real, serializer="msgpack")
    link.local.fire("files.stored", b"\x00\xff", "name.bin")
    assert link.fired.wait_for("files.stored").payload == (b"\x00\xff", "name.bin")


def test_contracts_refuse_a_payload_that_breaks_them(event_link: Any, with_real: str) -> None:
    link = event_link(with_real=with_real, contracts=CONTRACTS)
    with pytest.raises(SchemaValidationError) as refused:
        link.local.fire("orders.created", {**ORDER, "id": "seven"})
    assert refused.value.event == "orders.created"
    link.local.fire("orders.created", ORDER)
    assert link.fired.wait_for("orders.created").payload == (ORDER,)
    assert link.schema_errors == []
