"""The flush barrier is negotiated: only a receiver that said hello gets it.

A receiver that does not announce itself in its handshake (a plain ZeroMQ socket,
as the PHP original's) gets exactly the events sent, and the closing sender reports
nothing undelivered. A zeroevents receiver greets a zeroevents sender (its handshake
metadata) with ``zeroevents.hello`` and answers the barrier; a sender without the
metadata (the original) is never greeted. In confirmed mode a receiver confirms
every message it took from the wire, an undecodable one too.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
import zmq
from procs import WAIT, serve, take

from zeroevents_core import (
    AsyncEventListener,
    ConfigurationError,
    Dispatcher,
    EventListener,
    get_serializer,
)

EVENTS = [("orders.created", [{"id": n}]) for n in range(5)]


def plain_router(endpoint: str, queue: Any) -> None:
    """A ROUTER with no zeroevents in it (as the original's): report each message's
    frames until 1 s passes with nothing."""
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind(endpoint)
    queue.put(("ready", endpoint))
    received = 0
    while router.poll(1000 if received else WAIT * 1000):
        queue.put(("frames", router.recv_multipart()[1:]))
        received += 1
    queue.put(("idle", received))
    context.destroy(linger=0)


def test_a_receiver_that_does_not_announce_itself_gets_no_barrier(
    spawn: Callable[..., Any], queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("plain")
    spawn(plain_router, endpoint, queue)
    take(queue, "ready")
    dispatcher = Dispatcher()
    listener = EventListener({"connect": endpoint}, dispatcher)  # DEALER, flush_on_close
    dispatcher.listen("orders.*", listener)
    for event, payload in EVENTS:
        dispatcher.fire(event, *payload)
    assert listener.close() == 0
    frames = [take(queue, "frames")[1] for _ in EVENTS]
    assert take(queue, "idle") == ("idle", len(EVENTS))  # no zeroevents.flush after them
    assert frames == [listener_frames(event, payload) for event, payload in EVENTS]


def test_an_asyncio_listener_sends_no_barrier_to_a_plain_receiver(
    spawn: Callable[..., Any], queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("plain")
    spawn(plain_router, endpoint, queue)
    take(queue, "ready")

    async def send() -> int:
        listener = AsyncEventListener({"connect": endpoint})
        for event, payload in EVENTS:
            assert await listener.push(event, payload) is True
        return await listener.aclose()

    assert asyncio.run(send()) == 0
    frames = [take(queue, "frames")[1] for _ in EVENTS]
    assert take(queue, "idle") == ("idle", len(EVENTS))
    assert frames == [listener_frames(event, payload) for event, payload in EVENTS]


def test_an_asyncio_listener_closes_behind_the_barrier_of_a_python_service(
    spawn: Callable[..., Any], queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("service")
    child = spawn(serve, {"bind": endpoint, "socket_type": "ROUTER"}, queue)
    take(queue, "ready")

    async def send() -> int:
        listener = AsyncEventListener({"connect": endpoint})
        for event, payload in EVENTS:
            await listener.push(event, payload)
        return await listener.aclose()

    assert asyncio.run(send()) == 0
    assert [take(queue, "event")[1] for _ in EVENTS] == [event for event, _ in EVENTS]
    os.kill(child.pid, signal.SIGTERM)
    stats = take(queue, "stopped")[1]
    assert (stats["received"], stats["fired"]) == (len(EVENTS) + 1, len(EVENTS))


def listener_frames(event: str, payload: list[Any]) -> list[bytes]:
    return [event.encode(), *get_serializer("json").serialize(payload)]


def raw_dealer(endpoint: str, metadata: bytes | None) -> tuple[zmq.Context[Any], zmq.Socket[Any]]:
    context: zmq.Context[Any] = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    if metadata is not None:
        dealer.set(zmq.METADATA, metadata)
    dealer.set(zmq.RCVTIMEO, int(WAIT * 1000))
    dealer.connect(endpoint)
    return context, dealer


def test_a_zeroevents_receiver_greets_only_a_sender_that_announced_itself(
    spawn: Callable[..., Any], queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("service")
    child = spawn(serve, {"bind": endpoint, "socket_type": "ROUTER"}, queue)
    take(queue, "ready")
    plain_context, plain = raw_dealer(endpoint, None)
    known_context, known = raw_dealer(endpoint, b"X-Zeroevents:flush t0k3n")
    try:
        plain.send_multipart([b"from.plain", b"1"])
        known.send_multipart([b"from.known", b"2"])
        take(queue, "event")
        take(queue, "event")
        hello = known.recv_multipart()
        assert hello[:2] == [b"zeroevents.hello", b'"t0k3n"']
        # The barrier is answered and not fired; the plain sender got nothing before it.
        plain.send_multipart([b"zeroevents.flush"])
        assert plain.recv_multipart() == [b"zeroevents.confirmed", b'"zeroevents.flush"']
    finally:
        plain_context.destroy(linger=0)
        known_context.destroy(linger=0)
    os.kill(child.pid, signal.SIGTERM)
    stats = take(queue, "stopped")[1]
    assert (stats["received"], stats["fired"]) == (3, 2)


def slow_service(endpoint: str, queue: Any) -> None:
    """A ROUTER service whose listener of 'slow' takes a second: what arrives
    meanwhile is read later in one batch, with no poll wait between."""
    import time

    from zeroevents_core import EventService

    dispatcher = Dispatcher()
    listener = EventListener({"bind": endpoint, "socket_type": "ROUTER"}, dispatcher)
    service = EventService(dispatcher).listen(listener).poll_timeout(50)

    def slow(*_: Any) -> None:
        queue.put(("slow",))
        time.sleep(1.0)

    dispatcher.listen("slow", slow)
    dispatcher.listen("from.*", lambda *_: queue.put(("event", dispatcher.firing())))
    dispatcher.listen("stop", lambda *_: service.stop())
    listener.socket()
    queue.put(("ready",))
    service.run()


def test_a_sender_is_greeted_at_its_first_message_even_in_the_middle_of_a_batch(
    spawn: Callable[..., Any], queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("batch")
    spawn(slow_service, endpoint, queue)
    take(queue, "ready")
    plain_context, plain = raw_dealer(endpoint, None)
    known_context, known = raw_dealer(endpoint, b"X-Zeroevents:flush b4tch")
    try:
        plain.send_multipart([b"slow"])
        take(queue, "slow")  # the service is busy: both arrive before its next poll
        plain.send_multipart([b"from.plain"])
        known.send_multipart([b"from.known"])
        assert {take(queue, "event")[1], take(queue, "event")[1]} == {"from.plain", "from.known"}
        assert known.recv_multipart()[:2] == [b"zeroevents.hello", b'"b4tch"']
        plain.send_multipart([b"stop"])
    finally:
        plain_context.destroy(linger=0)
        known_context.destroy(linger=0)


def test_python_listener_to_python_service_closes_behind_the_barrier(
    spawn: Callable[..., Any], queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("service")
    child = spawn(serve, {"bind": endpoint, "socket_type": "ROUTER"}, queue)
    take(queue, "ready")
    with EventListener({"connect": endpoint}) as listener:
        for event, payload in EVENTS:
            listener.socket().push(event, payload)
    assert [take(queue, "event")[1] for _ in EVENTS] == [event for event, _ in EVENTS]
    os.kill(child.pid, signal.SIGTERM)
    stats = take(queue, "stopped")[1]
    assert (stats["received"], stats["fired"]) == (len(EVENTS) + 1, len(EVENTS))  # + barrier


def test_confirmed_service_confirms_a_message_it_cannot_decode(
    spawn: Callable[..., Any], queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("confirmed")
    spawn(serve, {"bind": endpoint, "socket_type": "ROUTER", "confirmed": True}, queue)
    take(queue, "ready")
    context, dealer = raw_dealer(endpoint, None)
    try:
        dealer.send_multipart([b"bad.frame", b'{"id":'])
        assert dealer.recv_multipart() == [b"zeroevents.confirmed", b'"bad.frame"']
        assert take(queue, "pull.error")[1] == "DecodeError"
        dealer.send_multipart([b"\xff\xfe", b"1"])  # not even a UTF-8 name
        assert dealer.recv_multipart() == [b"zeroevents.confirmed", b'"\xef\xbf\xbd\xef\xbf\xbd"']
        dealer.send_multipart([b"good", b"1"])
        assert dealer.recv_multipart() == [b"zeroevents.confirmed", b'"good"']
        assert take(queue, "pull.error")[1] == "DecodeError"
        assert take(queue, "event")[1:] == ("good", [1])
    finally:
        context.destroy(linger=0)


def test_confirmed_pull_confirms_a_message_it_cannot_decode(ipc: Callable[[str], str]) -> None:
    from zeroevents_core import DecodeError

    endpoint = ipc("pull")
    with EventListener({"bind": endpoint, "socket_type": "ROUTER", "confirmed": True}) as inbox:
        socket = inbox.socket()
        context, dealer = raw_dealer(endpoint, None)
        try:
            dealer.send_multipart([b"bad.frame", b"[[["])
            try:
                socket.pull()
            except DecodeError as error:
                assert error.frame == 2  # on a ROUTER: address 0, name 1, payload 2
            else:
                raise AssertionError("pull() decoded a broken frame")
            assert dealer.recv_multipart() == [b"zeroevents.confirmed", b'"bad.frame"']
        finally:
            context.destroy(linger=0)


@pytest.mark.parametrize("key", ["flush_timeout_ms", "hello_timeout_ms"])
@pytest.mark.parametrize("value", [-1, 1.5, True, "50"])
def test_barrier_timeouts_are_bounded_milliseconds(key: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"option '{key}': expected milliseconds"):
        EventListener({"connect": "ipc:///tmp/never-opened.ipc", key: value})
