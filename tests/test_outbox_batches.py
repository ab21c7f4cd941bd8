"""The outbox sender's messages: rows committed together go as one wire v2 batch
(``outbox_batch_max``, ``outbox_linger_ms``), each row in flight under its own number.

The first tests read what the sender sends with a plain ZeroMQ ROUTER in this process,
which acknowledges nothing (retries are set out of reach, so that only first sends
are read); the last one runs a service in a child process that refuses the batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from delivery_peer import wait_for
from test_batching import WAIT, Spawn, fired, lines, started, stopped

from zeroevents_core import ConfigurationError, Dispatcher, EventListener, get_serializer
from zeroevents_core.envelope import decode_event, split_batch
from zeroevents_core.transports.batching import is_batch

FIRED = 300
JSON = get_serializer("json")


@pytest.fixture
def router(ipc: Callable[[str], str]) -> Iterator[tuple[str, zmq.Socket[bytes]]]:
    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    endpoint = ipc("outbox-batches")
    socket.bind(endpoint)
    try:
        yield endpoint, socket
    finally:
        context.destroy(linger=0)


def fire_through_outbox(endpoint: str, outbox: Path, count: int, **options: Any) -> EventListener:
    dispatcher = Dispatcher()
    listener = EventListener(
        {"connect": endpoint, "outbox": str(outbox), "retry_after_ms": 600_000, **options},
        dispatcher,
    )
    dispatcher.listen("orders.*", listener)
    for n in range(1, count + 1):
        assert dispatcher.fire("orders.created", {"id": n}, halt=True) is True
    return listener


def messages_until(socket: zmq.Socket[bytes], count: int) -> list[list[tuple[int, int]]]:
    """The messages read until ``count`` events came: each as its (seq, id) pairs."""
    messages: list[list[tuple[int, int]]] = []
    deadline = time.monotonic() + WAIT
    while sum(map(len, messages)) < count:  # bounded: the deadline
        assert time.monotonic() < deadline, f"{sum(map(len, messages))} of {count} events came"
        if not socket.poll(100):
            continue
        frames = socket.recv_multipart()[1:]  # after the DEALER's routing id
        events = split_batch(frames, 65535) if is_batch(frames, 0) else [frames]
        decoded = [decode_event(event) for event in events]
        messages.append(
            [(one.envelope.seq, JSON.unserialize(one.frames)[0]["id"]) for one in decoded]
        )
    return messages


def test_rows_committed_together_go_as_one_message(
    tmp_path: Path, router: tuple[str, zmq.Socket[bytes]]
) -> None:
    endpoint, socket = router
    listener = fire_through_outbox(endpoint, tmp_path / "outbox.db", FIRED, outbox_linger_ms=50)
    try:
        messages = messages_until(socket, FIRED)
    finally:
        listener.close()
    events = [pair for message in messages for pair in message]
    assert events == [(n, n) for n in range(1, FIRED + 1)]  # in order, each once
    # 300 commits within the 50 ms that the sender waits for rows still coming: a
    # handful of messages (one per row without batches)
    assert len(messages) <= FIRED // 10, [len(message) for message in messages]
    assert max(map(len, messages)) <= 256  # the default outbox_batch_max


def test_a_lone_row_is_not_held_for_the_linger(
    tmp_path: Path, router: tuple[str, zmq.Socket[bytes]]
) -> None:
    # An hour of linger: a row fired alone (nothing else coming) goes at once, each
    # time; only rows found several at a time wait for company.
    endpoint, socket = router
    listener = fire_through_outbox(endpoint, tmp_path / "outbox.db", 1, outbox_linger_ms=3_600_000)
    try:
        assert messages_until(socket, 1) == [[(1, 1)]]
        assert listener.dispatcher.fire("orders.created", {"id": 2}, halt=True) is True
        assert messages_until(socket, 1) == [[(2, 2)]]
    finally:
        listener.close()


def test_rows_resent_after_a_restart_go_in_full_batches(
    tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    # Ten rows left in the file by a listener whose peer never came; the next one
    # resends them five a message. The second message goes while the first is in
    # flight, its acknowledgement due: read first, not by a lone push of row 6.
    endpoint, outbox = ipc("resent"), tmp_path / "outbox.db"
    assert fire_through_outbox(endpoint, outbox, 10, flush_timeout_ms=0).close() == 10
    context = zmq.Context()
    try:
        socket = context.socket(zmq.ROUTER)
        socket.bind(endpoint)
        listener = fire_through_outbox(endpoint, outbox, 0, outbox_batch_max=5)
        listener.socket()  # opens the outbox, whose sender resends what it holds
        try:
            messages = messages_until(socket, 10)
        finally:
            listener.close()
    finally:
        context.destroy(linger=0)
    assert messages == [[(n, n) for n in range(1, 6)], [(n, n) for n in range(6, 11)]]


@pytest.mark.parametrize("batch_max", [1, 8])
def test_outbox_batch_max_bounds_the_rows_of_a_message(
    tmp_path: Path, router: tuple[str, zmq.Socket[bytes]], batch_max: int
) -> None:
    endpoint, socket = router
    listener = fire_through_outbox(
        endpoint, tmp_path / "outbox.db", FIRED, outbox_linger_ms=50, outbox_batch_max=batch_max
    )
    try:
        messages = messages_until(socket, FIRED)
    finally:
        listener.close()
    assert [pair for message in messages for pair in message] == [
        (n, n) for n in range(1, FIRED + 1)
    ]
    assert max(map(len, messages)) == batch_max
    assert len(messages) >= FIRED // batch_max


def test_a_receiver_that_refuses_the_batches_gets_the_rows_alone(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    # Its max_batch_events is below the sender's batches: it reports each batch as
    # undecodable and acknowledges none of it, the window sends every row again alone.
    endpoint, record = ipc("refusing"), tmp_path / "record"
    consumer = started(
        spawn, {"bind": endpoint, "socket_type": "ROUTER", "max_batch_events": 2}, record
    )
    try:
        listener = fire_through_outbox(
            endpoint, tmp_path / "outbox.db", 20, outbox_linger_ms=50, retry_after_ms=50
        )
        try:
            assert listener.flush(WAIT).done
        finally:
            assert listener.close() == 0
        wait_for(lambda: len(fired(record)) >= 20, WAIT, "every event")
    finally:
        stopped(consumer)
    assert sorted(fired(record)) == list(range(1, 21))
    refused = [line for line in lines(record) if line.startswith("decode")]
    assert refused and all("max_batch_events" in line for line in refused), refused


def test_flush_and_close_do_not_wait_for_the_linger(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    # An hour of linger: rows still "coming" would wait that long for company.
    endpoint, record = ipc("hurry"), tmp_path / "record"
    consumer = started(spawn, {"bind": endpoint, "socket_type": "ROUTER"}, record)
    try:
        listener = fire_through_outbox(
            endpoint, tmp_path / "outbox.db", 5, outbox_linger_ms=3_600_000
        )
        try:
            assert listener.flush(WAIT).done
            dispatcher = listener.dispatcher
            assert dispatcher.fire("orders.created", {"id": 6}, halt=True) is True
        finally:
            assert listener.close() == 0  # within flush_timeout_ms, not the linger
        wait_for(lambda: len(fired(record)) >= 6, WAIT, "every event")
    finally:
        stopped(consumer)
    assert sorted(fired(record)) == list(range(1, 7))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"outbox_batch_max": 0}, "option 'outbox_batch_max': expected an int from 1"),
        ({"outbox_batch_max": 65536}, "option 'outbox_batch_max'"),
        ({"outbox_batch_max": True}, "option 'outbox_batch_max'"),
        ({"outbox_linger_ms": -1}, "option 'outbox_linger_ms': expected milliseconds"),
        ({"outbox_linger_ms": 1.5}, "option 'outbox_linger_ms'"),
    ],
)
def test_the_batch_options_are_checked(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        EventListener({"connect": "ipc:///tmp/x.ipc", "outbox": str(tmp_path / "o.db"), **options})
