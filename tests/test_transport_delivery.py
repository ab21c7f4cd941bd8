"""The shared suite, wire v2 and at-least-once: on every link that carries them (zmq
over ipc and tcp, DEALER to DEALER there; memory), the same behaviour."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from transport_suite import PUSH_ERROR, WAIT, Link, Running

from zeroevents_core import Dispatcher, EventListener
from zeroevents_core.aio import AsyncEventListener, AsyncEventService
from zeroevents_core.envelope import Envelope, encode_event, new_producer_id


@pytest.fixture
def link(transport_link: Link) -> Link:
    if not transport_link.speaks_v2:
        pytest.skip(f"{transport_link.transport} carries no wire v2")
    return transport_link


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():  # bounded by the deadline
        assert time.monotonic() < deadline, f"timed out after {WAIT} s waiting for {what}"
        time.sleep(0.01)


def test_at_least_once_events_are_fired_with_their_ids_and_acknowledged(link: Link) -> None:
    with Running(link.receiver()) as running:
        seen: list[Any] = []
        dispatcher = running.dispatcher
        dispatcher.listen("orders.*", lambda *_: seen.append(dispatcher.firing_message()))
        sending = Dispatcher()
        errors: list[Any] = []
        sending.listen(PUSH_ERROR, lambda *args: errors.append(args[1:]))
        with EventListener(link.sender(delivery="at-least-once"), sending) as listener:
            sending.listen("orders.*", listener)
            for number in range(300):
                sending.fire("orders.created", number, headers={"n": str(number)})
            got = running.take(300)
            report = listener.flush(WAIT)
            stats = listener.stats
            producer = listener.socket().outgoing.producer
    assert got == [("orders.created", [number]) for number in range(300)]
    assert [m.headers for m in seen] == [{"n": str(number)} for number in range(300)]
    assert [m.event_id for m in seen] == [f"{producer.hex()}-{n:016x}" for n in range(1, 301)]
    assert report.done and report.tracked and errors == []
    assert (stats.sent, stats.acknowledged, stats.in_flight) == (300, 300, 0)
    assert stats.ack_latency.count == sum(stats.ack_latency.counts) == 300
    assert 0 < stats.ack_latency.sum < 300 * WAIT
    assert running.service.stats.duplicates == 0


def test_an_idle_sender_resends_what_a_closed_receiver_dropped(link: Link) -> None:
    # The first receiver takes the events and closes unread (nothing acknowledged,
    # its queue dropped); the sender pushes nothing more: its retry timer resends.
    receiver = EventListener(link.receiver())
    receiver.socket()
    sending = Dispatcher()
    options = link.sender(delivery="at-least-once", retry_after_ms=50, max_retry_after_ms=200)
    with EventListener(options, sending) as listener:
        sending.listen("orders.*", listener)
        for number in range(5):
            sending.fire("orders.created", number)
        time.sleep(0.2)  # taken by the first receiver
        receiver.close()
        with Running(link.receiver()) as running:
            got = sorted(running.take(5))
            stats = listener.stats
            wait_until(lambda: stats.in_flight == 0, "the resent events to be acknowledged")
    assert got == [("orders.created", [number]) for number in range(5)]
    assert stats.retried >= 5 and stats.acknowledged == 5


def test_a_duplicate_is_fired_once(link: Link) -> None:
    with Running(link.receiver()) as running:
        send = link.raw_sender()
        envelope = Envelope(new_producer_id(), 1, "json", {}, ack_requested=True)
        for _ in range(3):
            send(encode_event(envelope, "orders.created", [b"1"]))
        send([b"orders.after", b"2"])  # v1 on the same link
        assert running.take(2) == [("orders.created", [1]), ("orders.after", [2])]
    assert running.service.stats.duplicates == 2
    assert running.service.stats.fired == 2


def test_wire_v2_at_most_once_carries_headers_and_asks_for_no_acknowledgement(
    link: Link,
) -> None:
    with Running(link.receiver()) as running:
        headers: list[Any] = []
        dispatcher = running.dispatcher
        dispatcher.listen("t.*", lambda *_: headers.append(dispatcher.firing_message().headers))
        with EventListener(link.sender(wire="v2")) as listener:
            listener.socket().push("t.one", [1], headers={"traceparent": "00-1-2-01"})
            assert running.take() == [("t.one", [1])]
            assert listener.flush(0.1).tracked is False
    assert headers == [{"traceparent": "00-1-2-01"}]


def test_asyncio_at_least_once_over_the_link(link: Link) -> None:
    if not link.supports_async:
        pytest.skip("no asyncio side")

    async def main() -> tuple[list[Any], Any, Any]:
        dispatcher = Dispatcher()
        fired: list[Any] = []

        async def on(number: int) -> None:
            fired.append((number, dispatcher.firing_message().event_id))

        dispatcher.listen("orders.*", on)
        service = AsyncEventService(dispatcher).poll_timeout(20)
        service.listen(AsyncEventListener(link.receiver(), dispatcher))
        running = asyncio.create_task(service.run())
        await asyncio.sleep(0.05)
        sending = Dispatcher()
        listener = AsyncEventListener(link.sender(delivery="at-least-once"), sending)
        sending.listen("orders.*", listener)
        try:
            for number in range(200):
                await sending.fire_async("orders.created", number)
            report = await listener.flush(WAIT)
            stats = listener.stats
        finally:
            await listener.aclose()
            service.stop()
            await running
        return fired, report, stats

    fired, report, stats = asyncio.run(main())
    assert [number for number, _ in fired] == list(range(200))
    assert len({event_id for _, event_id in fired}) == 200
    assert report.done and stats.acknowledged == 200
