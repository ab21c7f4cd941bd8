"""At-least-once delivery through EventListener and EventService (issue 13): real
sockets, real processes, kill -9, counted by event id."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket as sockets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio
from procs import take
from procs_at_least_once import consume, fired_ids

from zeroevents_core import ConfigurationError, Dispatcher, EventListener, EventService
from zeroevents_core.aio import AsyncEventListener, AsyncEventService
from zeroevents_core.envelope import (
    Ack,
    Envelope,
    Kind,
    decode_ack,
    decode_event,
    encode_ack,
    encode_event,
    kind_of,
    new_producer_id,
)

PUSH_ERROR = "zeroevents.push.error"
WAIT_S = 60.0


def free_tcp() -> str:
    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture(params=["ipc", "tcp"])
def endpoint(request: pytest.FixtureRequest, ipc: Callable[[str], str]) -> str:
    return ipc("alo") if request.param == "ipc" else free_tcp()


@pytest.fixture
def raw_router(endpoint: str) -> Iterator[zmq.Socket[bytes]]:
    """A bare ROUTER that receives and never acknowledges (unless a test does)."""
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind(endpoint)
    yield router
    router.close(linger=0)
    context.term()


def producer(endpoint: str, dispatcher: Dispatcher, **options: Any) -> EventListener:
    listener = EventListener(
        {"connect": endpoint, "delivery": "at-least-once", **options}, dispatcher
    )
    dispatcher.listen("orders.*", listener)
    return listener


def errors_of(dispatcher: Dispatcher) -> list[tuple[str, list[Any]]]:
    errors: list[tuple[str, list[Any]]] = []
    dispatcher.listen(
        PUSH_ERROR, lambda socket, event, payload, reply_to: errors.append((event, list(payload)))
    )
    return errors


def received(router: zmq.Socket[bytes], seconds: float) -> list[list[bytes]]:
    """Every message the bare ROUTER gets within ``seconds``."""
    got: list[list[bytes]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if router.poll(int(left * 1000) + 1):
            got.append(router.recv_multipart())
    return got


def start_consumer(
    spawn: Any,
    queue: Any,
    endpoint: str,
    log: Path,
    hang_on: int = -1,
    delay: float = 0.0,
    socket_type: str = "ROUTER",
) -> Any:
    options = {"bind": endpoint, "socket_type": socket_type}
    process = spawn(consume, options, str(log), queue, hang_on, delay)
    take(queue, "ready")
    return process


def kill(process: Any) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.join(20)


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within 60 s"
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("receiver", "sender"), [("ROUTER", "DEALER"), ("DEALER", "DEALER"), ("PAIR", "PAIR")]
)
def test_a_consumer_killed_and_restarted_loses_nothing(
    endpoint: str, spawn: Any, queue: Any, tmp_path: Path, receiver: str, sender: str
) -> None:
    log = tmp_path / "fired.log"
    # Slow (1 ms an event): a backlog to lose when it is killed.
    consumer = start_consumer(spawn, queue, endpoint, log, delay=0.001, socket_type=receiver)
    dispatcher = Dispatcher()
    errors = errors_of(dispatcher)
    total = 3000
    options = {"socket_type": sender, "socket_options": {"SNDTIMEO": 60_000}}
    with producer(endpoint, dispatcher, **options) as listener:
        for number in range(total):
            dispatcher.fire("orders.created", {"id": number})
            if number == 1000:
                wait_for(lambda: len(fired_ids(str(log))) >= 500)
                kill(consumer)
                consumer = start_consumer(spawn, queue, endpoint, log, socket_type=receiver)
        report = listener.flush(60)
        stats = listener.stats
    assert report.done and report.tracked
    assert errors == []
    fired = Counter(fired_ids(str(log)))
    assert set(fired) == set(range(total))  # every event, at least once
    duplicates = sum(count - 1 for count in fired.values())
    assert duplicates <= 1000  # at most a window per kill
    assert stats.sent == total and stats.acknowledged == total and stats.failed == 0
    assert stats.retried > 0  # what the first consumer lost came again


def test_two_receivers_behind_one_dealer_one_killed_and_restarted(
    spawn: Any, queue: Any, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    endpoints = [ipc("first"), free_tcp()]
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = start_consumer(spawn, queue, endpoints[0], logs[0], delay=0.001)
    start_consumer(spawn, queue, endpoints[1], logs[1], delay=0.001)
    dispatcher = Dispatcher()
    errors = errors_of(dispatcher)
    total = 3000
    listener = EventListener(
        {
            "connect": endpoints,
            "delivery": "at-least-once",
            "socket_options": {"SNDTIMEO": 60_000},
        },
        dispatcher,
    )
    dispatcher.listen("orders.*", listener)
    with listener:
        for number in range(total):
            dispatcher.fire("orders.created", {"id": number})
            if number == 1200:
                wait_for(lambda: len(fired_ids(str(logs[0]))) >= 300)
                kill(first)
                start_consumer(spawn, queue, endpoints[0], logs[0])
        report = listener.flush(60)
        stats = listener.stats
    assert report.done and errors == []
    each = [Counter(fired_ids(str(log))) for log in logs]
    assert set(each[0]) | set(each[1]) == set(range(total))
    assert each[0] and each[1]  # dealt to both, each acknowledging what it got
    duplicates = sum(count - 1 for fired in each for count in fired.values())
    duplicates += len(set(each[0]) & set(each[1]))  # fired by both
    assert duplicates <= 1000
    assert stats.acknowledged == total and stats.retried > 0


def test_an_event_whose_fire_was_killed_is_sent_again_never_acknowledged(
    endpoint: str, spawn: Any, queue: Any, tmp_path: Path
) -> None:
    log = tmp_path / "fired.log"
    consumer = start_consumer(spawn, queue, endpoint, log, hang_on=3)
    dispatcher = Dispatcher()
    with producer(endpoint, dispatcher, retry_after_ms=100) as listener:
        for number in range(6):
            dispatcher.fire("orders.created", {"id": number})
        wait_for(lambda: 3 in fired_ids(str(log)))
        time.sleep(0.3)  # the acknowledgements of 0 to 2 come back meanwhile
        assert listener.flush(0.2).count >= 1  # 3 (and what follows it) is not acknowledged
        kill(consumer)  # in the middle of the fire of 3
        start_consumer(spawn, queue, endpoint, log)
        report = listener.flush(30)
        stats = listener.stats
    assert report.done
    fired = fired_ids(str(log))
    assert fired.count(3) == 2  # fired by the killed consumer, then again by the new one
    assert set(fired) == set(range(6))
    assert stats.retried >= 1 and stats.acknowledged == 6


def test_an_event_never_acknowledged_is_given_up_through_push_error(
    endpoint: str, raw_router: zmq.Socket[bytes]
) -> None:
    dispatcher = Dispatcher()
    errors = errors_of(dispatcher)
    options = {"retry_after_ms": 30, "max_retry_after_ms": 60, "max_attempts": 3}
    with producer(endpoint, dispatcher, **options) as listener:
        dispatcher.fire("orders.created", {"id": 1})
        dispatcher.fire("orders.shipped", {"id": 2})
        report = listener.flush(2)  # retransmits while it waits
        stats = listener.stats
    got = received(raw_router, 0.3)
    attempts = Counter(decode_event(frames[1:]).envelope.seq for frames in got)
    assert attempts == {1: 3, 2: 3}  # each sent max_attempts times
    assert sorted(errors) == [("orders.created", [{"id": 1}]), ("orders.shipped", [{"id": 2}])]
    assert report.done  # given up: no longer pending
    assert stats.failed == 2 and stats.push_errors == 2 and stats.acknowledged == 0


def test_flush_says_what_is_pending_and_close_reports_it(
    endpoint: str, raw_router: zmq.Socket[bytes]
) -> None:
    dispatcher = Dispatcher()
    errors = errors_of(dispatcher)
    listener = producer(endpoint, dispatcher, socket_options={"LINGER": 200})
    for number in range(3):
        dispatcher.fire("orders.created", {"id": number})
    frames = received(raw_router, 0.3)
    report = listener.flush(0.2)
    assert report.tracked and report.count == 3
    assert [(p.event, p.payload) for p in report.pending] == [
        ("orders.created", ({"id": n},)) for n in range(3)
    ]
    producer_id = decode_event(frames[0][1:]).envelope.producer
    assert [p.event_id for p in report.pending] == [
        f"{producer_id.hex()}-{seq:016x}" for seq in (1, 2, 3)
    ]
    # The receiver acknowledges the second one only (a selective range).
    raw_router.send_multipart([frames[0][0], *encode_ack(Ack(producer_id, 0, ((2, 2),)))])
    wait_for(lambda: listener.flush(0.05).count == 2)
    assert errors == []
    assert listener.close() == 2  # not acknowledged within LINGER
    assert errors == [("orders.created", [{"id": 0}]), ("orders.created", [{"id": 2}])]


@pytest.mark.parametrize("flavour", ["sync", "asyncio"])
@pytest.mark.parametrize("when", ["while push.error runs", "0.3 s after it"])
def test_an_event_given_up_at_close_never_reaches_a_peer_that_comes_up_after(
    endpoint: str, flavour: str, when: str
) -> None:
    # Close has waited LINGER for the event already: it must not keep it queued for a
    # second LINGER, nor while push.error's listeners run (one that binds a receiver and
    # waits there would get an event it is told was not delivered).
    context = zmq.Context()
    late = context.socket(zmq.ROUTER)
    dispatcher = Dispatcher()
    reported: list[str] = []
    binding = threading.Timer(0.3, late.bind, (endpoint,))

    def given_up(socket: Any, event: str, payload: Any, reply_to: Any) -> str:
        reported.append(event)
        if when == "0.3 s after it":
            binding.start()
        else:
            late.bind(endpoint)
            time.sleep(0.5)  # RECONNECT_IVL is 100 ms: an open socket reconnects meanwhile
        return "reported"

    dispatcher.listen(PUSH_ERROR, given_up)
    options = {"connect": endpoint, "delivery": "at-least-once", "socket_options": {"LINGER": 1000}}
    try:
        if flavour == "sync":
            listener = EventListener(options, dispatcher)
            listener.socket().push("orders.created", [{"id": 1}])
            assert listener.close() == 1
        else:

            async def close_async() -> int:
                listener = AsyncEventListener(options, dispatcher)
                await listener.socket().push("orders.created", [{"id": 1}])
                return await listener.aclose()

            assert asyncio.run(close_async()) == 1
        assert reported == ["orders.created"]
        if when == "0.3 s after it":
            binding.join()
        assert not late.poll(1500), "an event reported undelivered was delivered after"
    finally:
        binding.cancel()
        late.close(linger=0)
        context.term()


def test_a_duplicate_is_fired_once_counted_and_acknowledged_again(endpoint: str) -> None:
    dispatcher = Dispatcher()
    fired: list[Any] = []
    dispatcher.listen("orders.*", lambda order: fired.append(order))
    service = EventService(dispatcher).poll_timeout(20)
    service.listen(EventListener({"bind": endpoint, "socket_type": "ROUTER"}, dispatcher))
    thread = threading.Thread(target=service.run)
    thread.start()
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.connect(endpoint)
    try:
        producer_id = new_producer_id()
        envelope = Envelope(producer_id, 7, "json", {}, ack_requested=True)
        acks: list[Ack] = []
        for _ in range(3):
            dealer.send_multipart(encode_event(envelope, "orders.created", [b'{"id":7}']))
            assert dealer.poll(10_000), "no acknowledgement"
            frames = dealer.recv_multipart()
            assert kind_of(frames) is Kind.ACK
            acks.append(decode_ack(frames))
    finally:
        service.stop()
        thread.join(20)
        dealer.close(linger=0)
        context.term()
    assert fired == [{"id": 7}]
    assert service.stats.duplicates == 2 and service.stats.fired == 1
    assert all(ack.producer == producer_id and 7 in _acked(ack) for ack in acks)


def _acked(ack: Ack) -> set[int]:
    numbers = set(range(1, ack.cumulative + 1))
    for first, last in ack.ranges:
        numbers.update(range(first, last + 1))
    return numbers


@pytest.mark.parametrize("socket_type", ["PUSH", "PULL", "PUB", "SUB"])
def test_socket_types_without_a_way_back_are_refused(socket_type: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        EventListener(
            {"connect": "ipc:///tmp/x.ipc", "socket_type": socket_type, "delivery": "at-least-once"}
        )
    message = str(refused.value)
    assert f"a {socket_type} socket" in message
    assert "DEALER to ROUTER, DEALER to DEALER and PAIR to PAIR" in message


def test_delivery_options_are_checked() -> None:
    for options, key in (
        ({"delivery": "exactly-once"}, "'delivery'"),
        ({"wire": "v3"}, "'wire'"),
        ({"window": 0}, "'window'"),
        ({"ack_every": "10"}, "'ack_every'"),
        ({"delivery": "at-least-once", "confirmed": True}, "'confirmed'"),
    ):
        with pytest.raises(ConfigurationError, match=key):
            EventListener({"connect": "ipc:///tmp/x.ipc", **options})
    listener = EventListener({"connect": "ipc:///tmp/x.ipc", "delivery": "at-least-once"})
    assert listener.options["wire"] == "v2"  # implied


def test_headers_and_the_event_id_reach_the_listeners(endpoint: str) -> None:
    receiving = Dispatcher()
    seen: list[Any] = []
    receiving.listen("orders.*", lambda order: seen.append(receiving.firing_message()))
    service = EventService(receiving).poll_timeout(20)
    service.listen(EventListener({"bind": endpoint, "socket_type": "ROUTER"}, receiving))
    thread = threading.Thread(target=service.run)
    thread.start()
    sending = Dispatcher()
    try:
        with producer(endpoint, sending, wire="v2", delivery="at-most-once") as listener:
            sending.fire("orders.created", {"id": 1}, headers={"traceparent": "00-ab-cd-01"})
            sending.fire("orders.created", {"id": 2})
            wait_for(lambda: len(seen) == 2)
            producer_id = listener.socket().outgoing.producer
    finally:
        service.stop()
        thread.join(20)
    assert [m.headers for m in seen] == [{"traceparent": "00-ab-cd-01"}, {}]
    assert [m.event_id for m in seen] == [f"{producer_id.hex()}-{n:016x}" for n in (1, 2)]
    assert seen[0].payload == [{"id": 1}]
    assert receiving.firing_message() is None  # only while a service fires


# The asyncio flavour: the same option, the same steps, awaited.


def test_asyncio_a_consumer_killed_and_restarted_loses_nothing(
    endpoint: str, spawn: Any, queue: Any, tmp_path: Path
) -> None:
    log = tmp_path / "fired.log"
    consumer = start_consumer(spawn, queue, endpoint, log, delay=0.001)  # a backlog to lose
    total = 1500

    async def produce() -> tuple[Any, Any, list[Any]]:
        nonlocal consumer
        dispatcher = Dispatcher()
        errors = errors_of(dispatcher)
        listener = AsyncEventListener(
            {
                "connect": endpoint,
                "delivery": "at-least-once",
                "socket_options": {"SNDTIMEO": 60_000},
            },
            dispatcher,
        )
        dispatcher.listen("orders.*", listener)
        async with listener:
            for number in range(total):
                await dispatcher.fire_async("orders.created", {"id": number})
                if number == 500:
                    while len(fired_ids(str(log))) < 250:
                        await asyncio.sleep(0.01)
                    kill(consumer)
                    consumer = start_consumer(spawn, queue, endpoint, log)
            report = await listener.flush(60)
            return report, listener.stats, errors

    report, stats, errors = asyncio.run(produce())
    assert report.done and errors == []
    fired = Counter(fired_ids(str(log)))
    assert set(fired) == set(range(total))
    assert sum(count - 1 for count in fired.values()) <= 1000
    assert stats.acknowledged == total and stats.retried > 0


def test_asyncio_give_up_flush_and_close_report(
    endpoint: str, raw_router: zmq.Socket[bytes]
) -> None:
    async def produce() -> tuple[Any, Any, int, list[Any]]:
        dispatcher = Dispatcher()
        errors = errors_of(dispatcher)
        options = {
            "connect": endpoint,
            "delivery": "at-least-once",
            "retry_after_ms": 30,
            "max_retry_after_ms": 60,
            "max_attempts": 3,
            "socket_options": {"LINGER": 100},
        }
        listener = AsyncEventListener(options, dispatcher)
        dispatcher.listen("orders.*", listener)
        await dispatcher.fire_async("orders.created", {"id": 1})
        given_up = await listener.flush(2)  # retransmitted twice, then given up
        await dispatcher.fire_async("orders.created", {"id": 2})
        pending = await listener.flush(0.01)
        return given_up, pending, await listener.aclose(), errors

    given_up, pending, undelivered, errors = asyncio.run(produce())
    assert given_up.done and pending.count == 1
    assert pending.pending[0].payload == ({"id": 2},)
    assert undelivered == 1
    assert errors == [("orders.created", [{"id": 1}]), ("orders.created", [{"id": 2}])]
    seqs = Counter(decode_event(frames[1:]).envelope.seq for frames in received(raw_router, 0.3))
    assert seqs[1] == 3


@pytest.mark.parametrize("concurrency", [1, 4])
def test_asyncio_service_drops_duplicates_and_acknowledges_after_the_fire(
    endpoint: str, concurrency: int
) -> None:
    async def serve() -> tuple[list[Any], list[Ack], Any]:
        dispatcher = Dispatcher()
        fired: list[Any] = []
        release = asyncio.Event()

        async def slow(order: Any) -> None:
            fired.append(order)
            await release.wait()

        dispatcher.listen("orders.*", slow)
        service = AsyncEventService(dispatcher, max_concurrency=concurrency).poll_timeout(20)
        service.listen(AsyncEventListener({"bind": endpoint, "socket_type": "ROUTER"}, dispatcher))
        running = asyncio.create_task(service.run())
        context = zmq.asyncio.Context()
        dealer = context.socket(zmq.DEALER)
        dealer.connect(endpoint)
        acks: list[Ack] = []
        try:
            envelope = Envelope(new_producer_id(), 1, "json", {}, ack_requested=True)
            for _ in range(2):
                await dealer.send_multipart(encode_event(envelope, "orders.created", [b"{}"]))
            # The fire is under way: nothing is acknowledged before it returns.
            assert not await dealer.poll(300)
            release.set()
            while len(acks) < 1 or 1 not in _acked(acks[-1]):
                assert await dealer.poll(10_000), "no acknowledgement"
                acks.append(decode_ack(await dealer.recv_multipart()))
        finally:
            service.stop()
            await running
            dealer.close(linger=0)
            context.term()
        return fired, acks, service.stats

    fired, _acks, stats = asyncio.run(serve())
    assert fired == [{}]
    assert stats.duplicates == 1 and stats.fired == 1


def test_pull_acknowledges_what_it_returns_and_skips_duplicates(endpoint: str) -> None:
    with EventListener({"bind": endpoint, "socket_type": "ROUTER"}) as receiving:
        pulling = receiving.socket()
        dispatcher = Dispatcher()
        with producer(endpoint, dispatcher) as listener:
            for number in range(3):
                dispatcher.fire("orders.created", {"id": number})
            got = [pulling.pull() for _ in range(3)]
            report = listener.flush(WAIT_S)
        assert [m.payload for m in got] == [[{"id": n}] for n in range(3)]
        assert report.done
        context = zmq.Context()
        dealer = context.socket(zmq.DEALER)
        dealer.connect(endpoint)
        try:
            envelope = Envelope(new_producer_id(), 1, "json", {}, ack_requested=True)
            for _ in range(2):
                dealer.send_multipart(encode_event(envelope, "orders.twice", [b"1"]))
            dealer.send_multipart([b"orders.after", b"2"])
            assert [pulling.pull().event for _ in range(2)] == ["orders.twice", "orders.after"]
        finally:
            dealer.close(linger=0)
            context.term()


def test_zeroevents_listen_prints_ids_and_its_stats(
    tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    command = str(Path(sys.executable).parent / "zeroevents")
    endpoint = ipc("cli")
    listen = subprocess.Popen(
        [command, "listen", "--bind", endpoint, "--socket-type", "ROUTER", "--count", "2",
         "--stats", "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert listen.stderr is not None
        assert "listening on" in listen.stderr.readline()
        dispatcher = Dispatcher()
        with producer(endpoint, dispatcher) as listener:
            dispatcher.fire("orders.created", {"id": 1}, headers={"k": "v"})
            dispatcher.fire("orders.created", {"id": 2})
            out, err = listen.communicate(timeout=WAIT_S)
            report = listener.flush(WAIT_S)
    finally:
        if listen.poll() is None:
            listen.kill()
        listen.wait(10)
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["payload"] for line in lines] == [[{"id": 1}], [{"id": 2}]]
    assert lines[0]["headers"] == {"k": "v"} and "headers" not in lines[1]
    assert [line["id"][-2:] for line in lines] == ["01", "02"]
    stats = json.loads(err.split("zeroevents listen: stats ", 1)[1].splitlines()[0])
    assert stats["fired"] == 2 and stats["duplicates"] == 0
    assert report.done  # acknowledged by the command
