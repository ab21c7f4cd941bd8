"""The shared suite, blocking flavour: an EventService fires what an EventListener
forwards, on every transport (``transport_link``: zmq over ipc and tcp, memory,
the docs' udp),
and survives what a long-running service must survive."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest
from transport_suite import IDLE, PUSH_ERROR, WAIT, Link, Running

from zeroevents_core import DecodeError, Dispatcher, EventListener, EventService, Message

PAYLOADS: list[list[Any]] = [
    [],
    [1, 2.5, "three", None, True],
    [{"nested": {"list": [1, [2, [3]]]}, "unicode": "zéro ☃"}],
    [[], {}, "", 0, False],
]


def test_the_service_fires_what_the_listener_forwards_in_order(transport_link: Link) -> None:
    with Running(transport_link.receiver()) as running:
        dispatcher = Dispatcher()
        with EventListener(transport_link.sender(), dispatcher) as listener:
            dispatcher.listen("orders.*", listener)
            for number in range(100):
                dispatcher.fire(f"orders.n{number}", number)
            for payload in PAYLOADS:
                dispatcher.fire("orders.payload", *payload)
            got = running.take(100 + len(PAYLOADS))
    assert got[:100] == [(f"orders.n{number}", [number]) for number in range(100)]
    assert got[100:] == [("orders.payload", payload) for payload in PAYLOADS]
    assert running.service.stats.fired == 100 + len(PAYLOADS)


def test_many_senders_fan_in_to_one_service(transport_link: Link) -> None:
    with Running(transport_link.receiver()) as running:
        listeners = [EventListener(transport_link.sender()) for _ in range(3)]
        try:
            for number, listener in enumerate(listeners):
                listener.socket().push("from", [number])
            got = sorted(payload for _, payload in running.take(3))
        finally:
            for listener in listeners:
                listener.close()
    assert got == [[0], [1], [2]]


def test_confirmed_push_returns_the_confirmation(transport_link: Link) -> None:
    with Running(transport_link.receiver(confirmed=True)) as running:
        with EventListener(transport_link.sender(confirmed=True)) as listener:
            reply = listener.socket().push("orders.created", [{"id": 1}])
        assert running.take() == [("orders.created", [{"id": 1}])]
    assert isinstance(reply, Message)
    assert (reply.event, reply.payload) == ("zeroevents.confirmed", ["orders.created"])


def test_confirmed_push_with_no_receiver_fires_push_error(transport_link: Link) -> None:
    dispatcher = Dispatcher()
    failures: list[tuple[str, list[Any]]] = []

    def failed(socket: Any, event: str, payload: Any, reply_to: Any) -> str:
        failures.append((event, list(payload)))
        return "gave up"

    dispatcher.listen(PUSH_ERROR, failed)
    options = transport_link.sender(confirmed=True, **transport_link.timeouts(100))
    with EventListener(options, dispatcher) as listener:
        assert listener.socket().push("orders.created", [1]) == "gave up"
    assert failures == [("orders.created", [1])]


def test_an_undecodable_message_fires_pull_error_and_the_service_goes_on(
    transport_link: Link,
) -> None:
    with Running(transport_link.receiver()) as running:
        send_raw = transport_link.raw_sender()
        send_raw([b"orders.bad", b"{not json"])
        kind, error = running.error()
        with EventListener(transport_link.sender()) as listener:
            listener.socket().push("orders.good", [1])
            assert running.take() == [("orders.good", [1])]
    assert kind == "zeroevents.pull.error"
    assert isinstance(error, DecodeError)
    assert error.frame == 1
    assert running.service.stats.decode_errors == 1


def test_a_listener_that_raises_does_not_stop_the_service(transport_link: Link) -> None:
    with Running(transport_link.receiver()) as running:

        def explode(*_: Any) -> None:
            raise RuntimeError("listener failed")

        running.dispatcher.listen("orders.boom", explode)
        with EventListener(transport_link.sender()) as listener:
            listener.socket().push("orders.boom", [1])
            listener.socket().push("orders.after", [2])
            got = running.take(2)
    assert got == [("orders.boom", [1]), ("orders.after", [2])]
    assert running.service.stats.listener_errors == 1
    assert running.service.stats.fired == 1


def test_stop_from_another_thread_ends_the_run(transport_link: Link) -> None:
    running = Running(transport_link.receiver())
    polling = threading.Event()

    def first_idle(service: EventService) -> None:
        service.poll_timeout(-1)  # from the next poll on, only the stop can end it
        polling.set()

    running.dispatcher.listen(IDLE, first_idle)
    running.start()
    assert polling.wait(WAIT)  # the loop runs: a stop now cannot come before it
    running.stop()  # asserts the thread ended


def test_sigterm_stops_a_service_running_in_the_main_thread(transport_link: Link) -> None:
    dispatcher = Dispatcher()
    fired: list[Any] = []
    received = threading.Event()
    dispatcher.listen("orders.*", lambda *payload: (fired.append(payload), received.set()))
    service = EventService(dispatcher).poll_timeout(-1)
    receiver = EventListener(transport_link.receiver(), dispatcher)
    receiver.socket()  # bound before the sender starts: a datagram to nobody is lost
    service.listen(receiver)

    def send_then_signal() -> None:
        with EventListener(transport_link.sender()) as listener:
            listener.socket().push("orders.created", [1])
            if received.wait(WAIT):
                os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=send_then_signal)
    sender.start()
    try:
        service.run()  # returns on SIGTERM: the default handlers stop it
    finally:
        sender.join(WAIT)
    assert fired == [(1,)]


def test_one_listener_pushes_from_many_threads_at_once(transport_link: Link) -> None:
    if not transport_link.lossless:
        pytest.skip(f"{transport_link.transport} drops a flood of datagrams: no flow control")
    running = Running(transport_link.receiver())
    with running, EventListener(transport_link.sender()) as listener:
        socket = listener.socket()

        def push_all(thread: int) -> None:
            for number in range(200):
                socket.push("orders.threaded", [thread, number])

        threads = [threading.Thread(target=push_all, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        got = running.take(800)
    for thread in range(4):  # each thread's events arrive, in its order
        assert [n for t, n in (payload for _, payload in got) if t == thread] == list(range(200))
