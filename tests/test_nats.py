"""The ``nats`` transport against the real JetStream server on 127.0.0.1:4222.

Each test has its own stream and subjects (deleted after it); the tests that kill
or restart a server are in test_nats_kill.py, on private servers.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("zeroevents_nats", reason="zeroevents-nats is not installed")

import contextlib

import nats
from nats_peer import wait_for

from zeroevents_core import (
    PULL_ERROR,
    PUSH_ERROR,
    SCHEMA_ERROR,
    ConfigurationError,
    Dispatcher,
    EventListener,
    EventService,
)
from zeroevents_core.aio import AsyncEventListener, AsyncEventService
from zeroevents_core.errors import ConnectError, SendError
from zeroevents_core.hookspecs import hookimpl
from zeroevents_core.plugins import register_plugin, unregister_plugin
from zeroevents_core.schemas import SchemaRegistry

SHARED = "nats://127.0.0.1:4222"


def _reachable() -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", 4222)) == 0


pytestmark = pytest.mark.skipif(
    not _reachable(), reason="no NATS server with JetStream on 127.0.0.1:4222"
)


async def _admin(action: Any) -> Any:
    nc = await nats.connect(SHARED)
    try:
        return await action(nc.jetstream())
    finally:
        await nc.close()


def admin(action: Any) -> Any:
    """Run ``await action(js)`` on a connection of the test's own (raw nats-py)."""
    return asyncio.run(_admin(action))


class Names:
    """A stream and a subject root of this test's own."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.stream = f"ZE_{tag}"
        self.root = f"ze{tag}"
        self.subjects = f"{self.root}.>"
        self.dead = f"{self.root}.dead"

    def producer(self, **options: Any) -> dict[str, Any]:
        return {
            "transport": "nats",
            "servers": SHARED,
            "stream": self.stream,
            "subjects": self.subjects,
            "create_stream": True,
            **options,
        }

    def consumer(self, durable: str = "c", **options: Any) -> dict[str, Any]:
        return self.producer(durable=durable, subjects=f"{self.root}.orders.*", **options)


@pytest.fixture
def names() -> Iterator[Names]:
    made = Names()
    yield made

    async def delete(js: Any) -> None:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(made.stream)

    admin(delete)


def serve(options: dict[str, Any], dispatcher: Dispatcher, until: Any) -> EventService:
    """Run a service on ``options`` in a thread until ``until()``; the service, stopped."""
    service = EventService(dispatcher).poll_timeout(50)
    listener = EventListener(options, dispatcher)
    service.listen(listener)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            service.run()
        except BaseException as error:  # reported by the test's thread
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_for(lambda: until() or failure, 60, "the service's events")
    finally:
        service.stop()
        thread.join(30)
    assert not failure, failure
    return service


def consumer_info(names: Names, durable: str = "c") -> Any:
    return admin(lambda js: js.consumer_info(names.stream, durable))


def dead_letters(names: Names, count: int) -> list[Any]:
    """The first ``count`` messages stored on the dead-letter subject."""

    async def fetch(js: Any) -> list[Any]:
        sub = await js.pull_subscribe(names.dead, durable="dead-reader", stream=names.stream)
        messages = await sub.fetch(count, timeout=5)
        return [(message.headers, message.data) for message in messages]

    letters: list[Any] = admin(fetch)
    return letters


def test_round_trip_blocking(names: Names) -> None:
    producer_events = Dispatcher()
    producer = EventListener(names.producer(), producer_events)
    producer_events.listen(f"{names.root}.orders.*", producer)
    for number in range(20):
        producer_events.fire(f"{names.root}.orders.created", {"id": number}, "eur", [1.5, None])
    assert producer.socket().flush(5000)
    assert producer.close() == 0

    got: list[tuple[Any, ...]] = []
    events = Dispatcher()
    events.listen(f"{names.root}.orders.*", lambda *payload: got.append(payload))
    service = serve(names.consumer(), events, lambda: len(got) >= 20)

    assert got == [({"id": n}, "eur", [1.5, None]) for n in range(20)]
    assert service.stats.fired == 20
    info = consumer_info(names)
    assert (info.num_ack_pending, info.num_pending) == (0, 0)  # all acked


def test_round_trip_asyncio(names: Names) -> None:
    got: list[Any] = []

    async def main() -> None:
        producer_events = Dispatcher()
        producer = AsyncEventListener(names.producer(), producer_events)
        producer_events.listen(f"{names.root}.orders.*", producer)
        for number in range(20):
            await producer_events.fire_async(f"{names.root}.orders.paid", number)
        assert await producer.socket().flush(5000)
        assert await producer.aclose() == 0

        events = Dispatcher()
        service = AsyncEventService(events).poll_timeout(50)

        async def fired(number: int) -> None:
            got.append(number)
            if len(got) == 20:
                service.stop()

        events.listen(f"{names.root}.orders.*", fired)
        service.listen(AsyncEventListener(names.consumer(), events))
        await asyncio.wait_for(service.run(), 60)

    asyncio.run(main())
    assert got == list(range(20))
    info = consumer_info(names)
    assert (info.num_ack_pending, info.num_pending) == (0, 0)


def test_an_event_is_acked_only_once_its_listeners_returned(names: Names) -> None:
    """Asked from inside the listener, ten times over two seconds (the server applies
    acks on its own time), the server still counts the event unacked."""
    producer = EventListener(names.producer(), Dispatcher())
    producer.socket().push(f"{names.root}.orders.created", [1])
    producer.close()
    during: list[int] = []
    events = Dispatcher()
    listener = EventListener(names.consumer(), events)

    def watch(number: int) -> None:
        seen = []
        for _ in range(10):
            seen.append(listener.socket().consumer_info().num_ack_pending)
            time.sleep(0.2)
        during.append(min(seen))

    events.listen(f"{names.root}.orders.*", watch)
    serve_listener = EventService(events).poll_timeout(50).listen(listener)
    events.listen("zeroevents.service.idle", lambda _: during and serve_listener.stop())
    thread = threading.Thread(target=serve_listener.run)
    thread.start()
    thread.join(60)
    assert during == [1]
    assert consumer_info(names).num_ack_pending == 0  # acked after it returned


def test_message_layout_headers_and_body(names: Names) -> None:
    """What other NATS clients see: the documented headers and length-prefixed frames."""
    events = Dispatcher()
    producer = EventListener(names.producer(), events)
    events.listen("*.*.*", producer)
    events.fire(f"{names.root}.orders.created", {"a": 1}, 2)
    producer.close()

    async def read(js: Any) -> Any:
        sub = await js.pull_subscribe(f"{names.root}.>", durable="raw", stream=names.stream)
        (message,) = await sub.fetch(1, timeout=5)
        return message

    message = admin(read)
    assert message.subject == f"{names.root}.orders.created"
    assert message.headers["Zeroevents-Event"] == f"{names.root}.orders.created"
    assert message.headers["Content-Type"] == "application/json"
    assert message.headers["Nats-Msg-Id"]
    frames = [b'{"a":1}', b"2"]
    assert message.data == b"".join(len(f).to_bytes(4, "big") + f for f in frames)


def test_the_trace_context_of_the_producer_travels_in_traceparent(names: Names) -> None:
    from zeroevents_nats import traceparent

    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    producer = EventListener(names.producer(), Dispatcher())
    token = traceparent.set(trace)
    try:
        producer.socket().push(f"{names.root}.orders.traced", [])
    finally:
        traceparent.reset(token)
    producer.socket().push(f"{names.root}.orders.plain", [])
    producer.close()

    async def read(js: Any) -> Any:
        sub = await js.pull_subscribe(f"{names.root}.>", durable="raw", stream=names.stream)
        return await sub.fetch(2, timeout=5)

    traced, plain = admin(read)
    assert traced.headers["traceparent"] == trace
    assert "traceparent" not in plain.headers


def test_the_otel_plugins_traceparent_wins_and_parents_the_consumer_span(names: Names) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from zeroevents_nats import traceparent
    from zeroevents_otel import Tracing

    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)

    class Plugin:  # on its own provider: the global one stays a no-op for the others
        @hookimpl
        def register_observers(self, register: Any) -> None:
            register(tracing)

    plugin, event = Plugin(), f"{names.root}.orders.created"
    seen: list[Any] = []
    register_plugin(plugin)
    try:
        events = Dispatcher()
        producer = EventListener(names.producer(), events)
        events.listen(f"{names.root}.orders.*", producer)
        token = traceparent.set("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        try:
            with provider.get_tracer("test").start_as_current_span("request"):
                events.fire(event, 1)
        finally:
            traceparent.reset(token)
        assert producer.socket().flush(5000)
        producer.close()
        received = Dispatcher()
        received.listen(event, lambda n: seen.append((received.firing_message() or n).headers))
        serve(names.consumer(), received, lambda: seen)
    finally:
        unregister_plugin(plugin)
        provider.shutdown()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    send, process = spans[f"send {event}"], spans[f"process {event}"]
    assert send.context is not None and process.parent is not None
    _, trace_id, span_id, _ = seen[0]["traceparent"].split("-")
    assert (trace_id, span_id) == (f"{send.context.trace_id:032x}", f"{send.context.span_id:016x}")
    assert process.parent.span_id == send.context.span_id
    assert process.attributes is not None and process.attributes["messaging.system"] == "nats"


def test_headers_given_to_fire_reach_the_consumer_with_the_event_id(names: Names) -> None:
    events = Dispatcher()
    producer = EventListener(names.producer(), events)
    events.listen(f"{names.root}.orders.*", producer)
    events.fire(f"{names.root}.orders.created", 1, headers={"tenant": "acme", "X-Try": "2"})
    events.fire(f"{names.root}.orders.created", 2)
    assert producer.socket().flush(5000)
    producer.close()

    seen: list[tuple[Any, ...]] = []
    consumer_events = Dispatcher()

    def record(number: int) -> None:
        message = consumer_events.firing_message()
        assert message is not None
        seen.append((number, message.headers, message.event_id))

    consumer_events.listen(f"{names.root}.orders.*", record)
    serve(names.consumer(), consumer_events, lambda: len(seen) >= 2)
    (one, tagged, first_id), (two, untagged, second_id) = seen
    assert (one, tagged, two, untagged) == (1, {"tenant": "acme", "X-Try": "2"}, 2, None)
    assert first_id and second_id and first_id != second_id


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Nats-Msg-Id": "x"}, "reserved"),
        ({"Zeroevents-Event": "x"}, "reserved"),
        ({"bad name": "x"}, "without spaces"),
        ({"ok": "two\nlines"}, "line break"),
    ],
)
def test_headers_nats_cannot_carry_are_refused_naming_them(
    names: Names, headers: dict[str, str], message: str
) -> None:
    producer = EventListener(names.producer(), Dispatcher())
    try:
        with pytest.raises(ConfigurationError, match=message) as error:
            producer.socket().push(f"{names.root}.orders.created", [1], headers=headers)
        assert repr(next(iter(headers))) in str(error.value)
    finally:
        producer.close()


def test_a_listener_that_raises_gets_naks_then_the_dead_letter(names: Names) -> None:
    calls: list[int] = []
    events = Dispatcher()

    def failing(number: int) -> None:
        calls.append(number)
        raise ValueError(f"cannot bill {number}")

    events.listen(f"{names.root}.orders.*", failing)
    producer = EventListener(names.producer(), Dispatcher())
    producer.socket().push(f"{names.root}.orders.created", [7])
    producer.close()

    options = names.consumer(max_deliver=3, backoff_ms=[10, 20], dead_letter=names.dead)
    serve(options, events, lambda: len(calls) >= 3 and consumer_info(names).num_ack_pending == 0)

    assert calls == [7, 7, 7]  # delivered max_deliver times, then given up
    ((headers, data),) = dead_letters(names, 1)
    assert headers["Zeroevents-Event"] == f"{names.root}.orders.created"
    assert "ValueError: cannot bill 7" in headers["Zeroevents-Failure"]
    assert headers["Zeroevents-Deliveries"] == "3"
    assert headers["Zeroevents-Subject"] == f"{names.root}.orders.created"
    assert data == len(b"7").to_bytes(4, "big") + b"7"  # the event as it was


def test_a_listener_that_recovers_is_fired_again_and_acked(names: Names) -> None:
    calls: list[int] = []
    events = Dispatcher()

    def flaky(number: int) -> None:
        calls.append(number)
        if len(calls) < 3:
            raise ConnectionError("billing is down")

    events.listen(f"{names.root}.orders.*", flaky)
    producer = EventListener(names.producer(), Dispatcher())
    producer.socket().push(f"{names.root}.orders.created", [1])
    producer.close()

    options = names.consumer(max_deliver=5, backoff_ms=[10], dead_letter=names.dead)
    service = serve(options, events, lambda: len(calls) >= 3)

    assert calls == [1, 1, 1]
    assert service.stats.listener_errors == 2
    info = consumer_info(names)
    assert (info.num_ack_pending, info.num_pending, info.num_redelivered) == (0, 0, 0)


def test_an_event_breaking_its_contract_is_dead_lettered_and_terminated(names: Names) -> None:
    schemas = SchemaRegistry()
    schemas.add(f"{names.root}.orders.created", {"type": "integer"})
    rejected: list[Any] = []
    fired: list[Any] = []
    events = Dispatcher()
    events.listen(SCHEMA_ERROR, lambda *error: rejected.append(error))
    events.listen(f"{names.root}.orders.*", lambda *payload: fired.append(payload))
    producer = EventListener(names.producer(), Dispatcher())
    producer.socket().push(f"{names.root}.orders.created", ["not an int"])
    producer.socket().push(f"{names.root}.orders.created", [5])
    producer.close()

    options = names.consumer(schemas=schemas, dead_letter=names.dead)
    serve(options, events, lambda: fired and rejected)

    assert fired == [(5,)]
    assert rejected[0][0] == f"{names.root}.orders.created"
    ((headers, _),) = dead_letters(names, 1)
    assert "breaks its contract: at $[0]" in headers["Zeroevents-Failure"]
    assert consumer_info(names).num_ack_pending == 0  # terminated, never redelivered


def test_a_service_dead_letter_on_nats_gets_the_rejected_event(names: Names) -> None:
    """Without a listener 'dead_letter' subject: terminated, and forwarded to the
    service's own dead letter (nats options: published behind its subject_prefix)."""
    schemas = SchemaRegistry()
    schemas.add(f"{names.root}.orders.created", {"type": "integer"})
    producer = EventListener(names.producer(), Dispatcher())
    producer.socket().push(f"{names.root}.orders.created", ["not an int"])
    producer.close()
    dead = {"transport": "nats", "servers": SHARED, "subject_prefix": f"{names.root}.dl"}
    events = Dispatcher()
    service = EventService(events, dead_letter=dead).poll_timeout(50)
    service.listen(EventListener(names.consumer(schemas=schemas), events))
    events.listen("zeroevents.service.idle", lambda _: _stored(names, 2) and service.stop())
    thread = threading.Thread(target=service.run)
    thread.start()
    thread.join(60)

    assert not thread.is_alive()
    assert service.stats.schema_errors == 1

    async def forwarded(js: Any) -> Any:
        subject = f"{names.root}.dl.{names.root}.orders.created"
        sub = await js.pull_subscribe(subject, durable="dl", stream=names.stream)
        (message,) = await sub.fetch(1, timeout=5)
        return message

    assert admin(forwarded).data == len(b'"not an int"').to_bytes(4, "big") + b'"not an int"'
    info = consumer_info(names)
    assert (info.num_ack_pending, info.num_redelivered) == (0, 0)  # terminated at once


def test_an_undecodable_message_fires_pull_error_and_is_dead_lettered(names: Names) -> None:
    errors: list[Any] = []
    events = Dispatcher()
    events.listen(PULL_ERROR, lambda socket, error, received: errors.append(error))
    admin(lambda js: js.add_stream(name=names.stream, subjects=[names.subjects]))

    async def publish(js: Any) -> None:
        await js.publish(f"{names.root}.orders.x", b"no headers")
        await js.publish(
            f"{names.root}.orders.y",
            b"\x00\x00\x00\x09{}",  # declares 9 bytes, has 2
            headers={"Zeroevents-Event": "orders.y", "Content-Type": "application/json"},
        )

    admin(publish)
    serve(names.consumer(dead_letter=names.dead), events, lambda: len(errors) >= 2)

    assert "no 'Zeroevents-Event' header" in str(errors[0])
    assert errors[1].frame == 1 and "declares 9 bytes" in str(errors[1])
    letters = dead_letters(names, 2)
    assert all("undecodable" in headers["Zeroevents-Failure"] for headers, _ in letters)


def test_max_in_flight_is_never_exceeded_on_the_server(names: Names) -> None:
    """Sampled from inside the listeners: the server's num_ack_pending stays within
    max_in_flight while a slow consumer works through 60 events."""
    producer = EventListener(names.producer(), Dispatcher())
    for number in range(60):
        producer.socket().push(f"{names.root}.orders.created", [number])
    producer.close()

    pending: list[int] = []
    events = Dispatcher()
    listener = EventListener(names.consumer(max_in_flight=7, fetch_batch=100), events)
    events.listen(
        f"{names.root}.orders.*",
        lambda number: pending.append(listener.socket().consumer_info().num_ack_pending),
    )
    service = EventService(events).poll_timeout(50).listen(listener)
    events.listen("zeroevents.service.idle", lambda _: len(pending) >= 60 and service.stop())
    thread = threading.Thread(target=service.run)
    thread.start()
    thread.join(120)

    assert len(pending) == 60
    assert max(pending) == 7  # reached, never passed
    assert consumer_info(names).config.max_ack_pending == 7


def test_a_missing_stream_is_a_configuration_error_naming_it(names: Names) -> None:
    listener = EventListener(names.producer(create_stream=False))
    with pytest.raises(ConfigurationError, match=f"no stream '{names.stream}'.*create_stream"):
        listener.socket()


def test_subjects_of_another_stream_are_a_configuration_error_naming_them(names: Names) -> None:
    EventListener(names.producer()).socket().close()
    other = Names()
    other.subjects = names.subjects  # a second stream cannot take the first one's subjects
    with pytest.raises(ConfigurationError, match=f"option 'subjects'.*'{other.stream}'.*overlap"):
        EventListener(other.producer()).socket()


def test_sockets_opened_at_once_share_the_stream_they_create(names: Names) -> None:
    # Each sees no stream and creates it: every create after the first must pass.
    opened: list[Any] = []
    failed: list[BaseException] = []
    start = threading.Barrier(6)

    def open_one() -> None:
        start.wait()
        try:
            opened.append(EventListener(names.producer()).socket())
        except BaseException as error:
            failed.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for socket_ in opened:
        socket_.close()
    assert failed == []
    assert len(opened) == 6


def test_a_server_that_is_down_is_a_connect_error_after_the_timeout() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = {"transport": "nats", "servers": f"nats://127.0.0.1:{port}"}
    listener = EventListener({**options, "connect_timeout_ms": 200})
    with pytest.raises(ConnectError, match=f"127.0.0.1:{port}.*connect_timeout_ms"):
        listener.socket()


def test_an_event_over_max_payload_is_refused_before_sending(names: Names) -> None:
    producer = EventListener(names.producer())
    socket = producer.socket()
    with pytest.raises(SendError, match="over the server's max_payload"):
        socket.push(f"{names.root}.orders.big", ["x" * (socket.link.max_payload + 1)])
    assert socket.push(f"{names.root}.orders.small", ["x"]) is True
    producer.close()
    info = admin(lambda js: js.stream_info(names.stream))
    assert info.state.messages == 1


def test_publishes_no_stream_takes_fire_push_error_at_flush(names: Names) -> None:
    failed: list[Any] = []
    events = Dispatcher()
    events.listen(PUSH_ERROR, lambda socket, event, payload, reply_to: failed.append(event))
    producer = EventListener({"transport": "nats", "servers": SHARED}, events)
    socket = producer.socket()
    assert socket.push(f"{names.root}.nowhere", [1]) is True  # fire() does not wait
    assert socket.flush(5000) is False
    assert failed == [f"{names.root}.nowhere"]
    producer.close()


def _publish_counted(socket: Any, names: Names) -> None:
    """20 events the stream takes and 3 no stream takes, pushed before any PubAck."""
    for number in range(20):
        assert socket.push(f"{names.root}.orders.created", [number]) is True
    for number in range(3):
        assert socket.push(f"x{names.root}.nowhere", [number]) is True


def _assert_counted(stats: Any) -> None:
    assert (stats.sent, stats.acknowledged, stats.push_errors, stats.in_flight) == (23, 20, 3, 0)
    assert stats.ack_latency.count == 20 and stats.ack_latency.sum > 0


def test_the_producer_socket_counts_its_publishes_and_pubacks(names: Names) -> None:
    events = Dispatcher()
    events.listen(PUSH_ERROR, lambda *args: None)
    producer = EventListener(names.producer(), events)
    socket = producer.socket()
    _publish_counted(socket, names)
    assert socket.stats.sent == 23
    assert socket.flush(5000) is False  # the three without a stream
    _assert_counted(socket.stats)
    producer.close()


def test_the_asyncio_producer_socket_counts_its_publishes_and_pubacks(names: Names) -> None:
    async def main() -> Any:
        events = Dispatcher()
        events.listen(PUSH_ERROR, lambda *args: None)
        producer = AsyncEventListener(names.producer(), events)
        socket = producer.socket()
        await socket.opened()
        for number in range(20):
            assert await socket.push(f"{names.root}.orders.created", [number]) is True
        for number in range(3):
            assert await socket.push(f"x{names.root}.nowhere", [number]) is True
        assert await socket.flush(5000) is False
        await producer.aclose()
        return socket.stats

    _assert_counted(asyncio.run(main()))


def test_a_retried_publish_is_stored_once(names: Names) -> None:
    """The event id is the Nats-Msg-Id: JetStream drops the second copy."""

    async def twice(js: Any) -> Any:
        await js.add_stream(name=names.stream, subjects=[names.subjects])
        headers = {"Nats-Msg-Id": "same", "Zeroevents-Event": f"{names.root}.a"}
        first = await js.publish(f"{names.root}.a", b"", headers=headers)
        second = await js.publish(f"{names.root}.a", b"", headers=headers)
        return first, second

    first, second = admin(twice)
    assert not first.duplicate and second.duplicate


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"servers": "127.0.0.1:4222"}, "option 'servers'"),
        ({"durable": "c"}, "option 'durable': a consumer needs option 'stream'"),
        ({"stream": "A B"}, "option 'stream'"),
        ({"create_stream": True, "stream": "S"}, "option 'create_stream'"),
        ({"subjects": "a..b"}, "option 'subjects'"),
        ({"max_in_flight": 0}, "option 'max_in_flight'"),
        ({"backoff_ms": []}, "option 'backoff_ms'"),
        ({"dead_letter": "a.*"}, "option 'dead_letter'"),
        ({"confirmed": True}, "option 'confirmed'"),
    ],
)
def test_wrong_options_name_their_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        EventListener({"transport": "nats", **options})


def test_an_event_name_that_is_not_a_subject_is_refused(names: Names) -> None:
    producer = EventListener(names.producer())
    with pytest.raises(SendError, match="'orders created' cannot be published"):
        producer.socket().push("orders created", [])
    producer.close()


def test_a_failure_with_line_breaks_fits_in_one_dead_letter_header(names: Names) -> None:
    """NATS headers cannot hold a line break: the failure is put on one line."""
    events = Dispatcher()

    def failing() -> None:
        raise RuntimeError("line one\nline two")

    events.listen(f"{names.root}.orders.*", failing)
    producer = EventListener(names.producer(), Dispatcher())
    producer.socket().push(f"{names.root}.orders.created", [])
    producer.close()
    options = names.consumer(max_deliver=1, dead_letter=names.dead)
    serve(options, events, lambda: _stored(names, 2) and consumer_info(names).num_ack_pending == 0)
    ((headers, _),) = dead_letters(names, 1)
    assert headers["Zeroevents-Failure"].endswith("RuntimeError: line one line two")


def _stored(names: Names, count: int) -> bool:
    info = admin(lambda js: js.stream_info(names.stream))
    return bool(info.state.messages >= count)


def test_a_graceful_stop_finishes_in_flight_events_and_acks_them(names: Names) -> None:
    """Stopped while four slow listeners run (asyncio, max_concurrency 4): they finish
    and are acked, the events fetched but not handed out are nak'ed back; a second run
    fires the rest, so that each event is fired exactly once over both."""
    producer = EventListener(names.producer(), Dispatcher())
    for number in range(30):
        producer.socket().push(f"{names.root}.orders.created", [number])
    producer.close()
    fired: list[int] = []
    started: list[int] = []

    async def run_once(stop_at: int | None) -> None:
        events = Dispatcher()
        service = AsyncEventService(events, max_concurrency=4).poll_timeout(50)

        async def slow(number: int) -> None:
            started.append(number)
            if len(started) == stop_at:
                service.stop()
            await asyncio.sleep(0.05)
            fired.append(number)

        events.listen(f"{names.root}.orders.*", slow)
        events.listen("zeroevents.service.idle", lambda _: len(fired) == 30 and service.stop())
        # ack_wait far beyond the test: only the naks of the close bring the rest back.
        options = names.consumer(ack_wait_ms=600_000)
        service.listen(AsyncEventListener(options, events))
        await asyncio.wait_for(service.run(), 120)

    asyncio.run(run_once(stop_at=5))
    assert 5 <= len(fired) < 30  # stopped; the 4 in flight then finished
    asyncio.run(run_once(stop_at=None))
    assert sorted(fired) == list(range(30))


def test_every_option_is_documented_with_its_default() -> None:
    from zeroevents_nats import NatsTransport

    page = (Path(__file__).parent.parent / "docs" / "nats.md").read_text()
    section = page.split("## Options of the nats transport", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", section, re.MULTILINE)
    documented = {key: default for key, default in rows}
    expected = {key: repr(value).replace("'", '"') for key, value in NatsTransport.defaults.items()}
    assert documented == expected


def test_every_cli_flag_sets_an_option_of_the_transport() -> None:
    from zeroevents_nats import NatsTransport

    keys = {option.key for option in NatsTransport.cli_options()}
    assert keys <= set(NatsTransport.defaults) | {"dead_letter"}
    assert {"servers", "stream", "subjects", "durable"} <= keys


def test_the_cli_emits_and_listens_over_nats(names: Names) -> None:
    # `zeroevents emit/listen --transport nats` with the transport's own flags: the
    # command line reaches the broker through the contract only.
    zeroevents = Path(sys.executable).with_name("zeroevents")
    flags = ["--transport", "nats", "--servers", SHARED, "--stream", names.stream]
    flags += ["--subjects", names.subjects]
    event = [f"{names.root}.orders.created", '{"id": 7}']
    sent = subprocess.run(
        [str(zeroevents), "emit", *flags, "--create-stream", "yes", *event],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    heard = subprocess.run(
        [str(zeroevents), "listen", *flags, "--durable", "cli", "--count", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert heard.returncode == 0, heard.stderr
    printed = json.loads(heard.stdout)
    assert printed.pop("id")  # the event id, from Nats-Msg-Id
    assert printed == {"event": f"{names.root}.orders.created", "payload": [{"id": 7}]}
    assert f"listening on {SHARED} {names.stream}/cli (nats, json)" in heard.stderr


def test_the_cli_dead_letters_an_undecodable_message_once(names: Names) -> None:
    # `listen` decodes each message before its service does: the socket must give an
    # undecodable one up (dead letter + term) once, not once per decode.
    admin(lambda js: js.add_stream(name=names.stream, subjects=[names.subjects]))
    admin(lambda js: js.publish(f"{names.root}.orders.x", b"no headers"))
    zeroevents = Path(sys.executable).with_name("zeroevents")
    flags = ["--transport", "nats", "--servers", SHARED, "--stream", names.stream]
    flags += ["--subjects", f"{names.root}.orders.*", "--durable", "cli"]
    heard = subprocess.run(
        [str(zeroevents), "listen", *flags, "--dead-letter", names.dead, "--timeout", "3"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "no 'Zeroevents-Event' header" in heard.stderr
    stored = admin(lambda js: js.stream_info(names.stream))
    assert stored.state.messages == 2  # the garbage and one dead letter
