"""Functions run in child processes (spawned) by the transport tests.

Each reports to a multiprocessing queue with tuples whose first item says what
happened: ("ready", ...) once its sockets are usable, ("event", name, payload)
for each event fired in it, ("stopped", stats, closed) when a service ends.
Every loop here is bounded; the tests kill what is still running at teardown.
"""

from __future__ import annotations

import dataclasses
import queue as queues
from collections.abc import Sequence
from typing import Any

import zmq

from zeroevents_core import Dispatcher, EventListener, EventService, Message

IDLE = "zeroevents.service.idle"
PULL_ERROR = "zeroevents.pull.error"
PUSH_ERROR = "zeroevents.push.error"

# Generous: children start fresh interpreters on a busy 2-core machine.
WAIT = 60.0


def take(queue: Any, kind: str, timeout: float = WAIT) -> tuple[Any, ...]:
    """The next report from a child, which must be of ``kind``."""
    try:
        report: tuple[Any, ...] = queue.get(timeout=timeout)
    except queues.Empty:
        raise AssertionError(f"no report within {timeout} s (expected {kind!r})") from None
    assert report[0] == kind, f"expected a {kind!r} report, got {report!r}"
    return report


def nothing_more(queue: Any, timeout: float = 0.5) -> None:
    """Assert that no further report comes within ``timeout``."""
    try:
        report = queue.get(timeout=timeout)
    except queues.Empty:
        return
    raise AssertionError(f"unexpected report {report!r}")


def serve(
    options: dict[str, Any] | str | Sequence[dict[str, Any] | str],
    queue: Any,
    patterns: Sequence[str] = ("*",),
    poll_ms: int = 50,
    raise_on: str | None = None,
    config_env: str | None = None,
) -> None:
    """Run an EventService on the listeners made from ``options`` (one or several);
    report every event matching ``patterns``, pull errors, readiness and the end."""
    if config_env is not None:
        import os

        os.environ["ZEROEVENTS_CONFIG"] = config_env
    dispatcher = Dispatcher()
    many = options if isinstance(options, list | tuple) else [options]
    listeners = [EventListener(one, dispatcher) for one in many]
    service = EventService(dispatcher).poll_timeout(poll_ms)
    for listener in listeners:
        service.listen(listener)

    def report(*payload: Any) -> None:
        event = dispatcher.firing()
        if event == raise_on:
            raise RuntimeError(f"listener failed on {event}")
        queue.put(("event", event, list(payload)))

    for pattern in patterns:
        dispatcher.listen(pattern, report)

    def pull_error(socket: Any, error: Any = None, frames: Any = None) -> None:
        frame = getattr(error, "frame", None)
        queue.put(("pull.error", type(error).__name__, frame, frames))

    dispatcher.listen(PULL_ERROR, pull_error)
    sockets: list[Any] = []

    def ready(service: EventService) -> None:
        if not sockets:
            sockets.extend(listener.socket() for listener in listeners)
            endpoints = [s.get(zmq.LAST_ENDPOINT).decode() for s in sockets]
            queue.put(("ready", endpoints))

    dispatcher.listen(IDLE, ready)
    service.run()
    queue.put(
        ("stopped", dataclasses.asdict(service.stats), [bool(s.closed) for s in sockets]),
    )


def push(options: dict[str, Any], events: Sequence[tuple[str, list[Any]]], queue: Any) -> None:
    """Push ``events`` on a listener's socket and report each push's result."""
    dispatcher = Dispatcher()
    dispatcher.listen(PUSH_ERROR, lambda socket, event, payload, address: "push failed")
    with EventListener(options, dispatcher) as listener:
        for event, payload in events:
            result = listener.socket().push(event, payload)
            queue.put(("pushed", event, describe(result)))


def forward(options: dict[str, Any], events: Sequence[tuple[str, list[Any]]], queue: Any) -> None:
    """Forward ``my.events.*`` through an EventListener registered on a dispatcher
    and fire ``events``; report what each fire returned."""
    dispatcher = Dispatcher()
    with EventListener(options, dispatcher) as listener:
        dispatcher.listen("my.events.*", listener)
        for event, payload in events:
            responses = dispatcher.fire(event, *payload)
            queue.put(("fired", event, [describe(r) for r in responses]))


def pull(options: dict[str, Any], count: int, queue: Any) -> None:
    """Pull ``count`` events (or pull errors) and report each as a Message tuple."""
    dispatcher = Dispatcher()
    dispatcher.listen(PULL_ERROR, lambda socket: "pull timed out")
    with EventListener(options, dispatcher) as listener:
        socket = listener.socket()
        queue.put(("ready", [socket.get(zmq.LAST_ENDPOINT).decode()]))
        for _ in range(count):
            queue.put(("pulled", describe(socket.pull())))


def router_echo(options: dict[str, Any], queue: Any) -> None:
    """A confirmed ROUTER: pull one event (which confirms it to the sender), then
    push a reply to the sender's address and report the confirmation it gets."""
    dispatcher = Dispatcher()
    dispatcher.listen(PUSH_ERROR, lambda socket, event, payload, address: "push failed")
    dispatcher.listen(PULL_ERROR, lambda socket: "pull timed out")
    with EventListener(options, dispatcher) as listener:
        socket = listener.socket()
        queue.put(("ready", [socket.get(zmq.LAST_ENDPOINT).decode()]))
        message = socket.pull()
        queue.put(("pulled", describe(message)))
        if isinstance(message, Message):
            result = socket.push("reply", [message.event, *message.payload], message.address)
            queue.put(("pushed", "reply", describe(result)))


def describe(result: Any) -> Any:
    """A picklable view of a push/pull result (Messages as plain tuples)."""
    if isinstance(result, Message):
        return ("Message", result.event, result.payload, result.address)
    return result
