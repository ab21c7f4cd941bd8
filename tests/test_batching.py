"""The batched mode of wire v2 (issue 18, item 3): options, the batch's bytes, and
real producer and service processes over ipc.

Batches of the tests that need an exact composition (one bad event among good ones,
garbage) are sent from a plain ZeroMQ socket with the bytes of docs/wire-format.md;
the others by ``EventListener`` with ``batch_max``, in a child process.
"""

from __future__ import annotations

import json
import os
import signal
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zmq
from delivery_peer import wait_for
from procs_batching import consume, produce, produce_then_wait
from vectors import V2_BATCH, V2_PRODUCER

from zeroevents_core import ConfigurationError, DecodeError, EventListener, get_serializer
from zeroevents_core.envelope import (
    Envelope,
    Kind,
    Limits,
    decode_batch_headers,
    decode_event,
    encode_batch,
    encode_event,
    kind_of,
    split_batch,
)
from zeroevents_core.transports.batching import unbatched

CONTRACTS = Path(__file__).parent.parent / "examples" / "contracts"
GOOD = {
    "id": 7,
    "customer": {"id": "6f1c1f5e-8d2b-4c8e-9a51-6c1f1d1e2a3b", "email": "ada@example.com"},
    "items": [{"sku": "BOO-1234", "quantity": 1, "price": 12.5}],
    "total": 12.5,
    "currency": "EUR",
    "created_at": "2026-11-26T12:00:00Z",
}
WAIT = 60.0
Spawn = Callable[..., Any]


def unhex(frames: list[str]) -> list[bytes]:
    return [bytes.fromhex(frame) for frame in frames]


def event_frames(seq: int, payload: Any, ack: bool = False) -> list[bytes]:
    envelope = Envelope(V2_PRODUCER, seq, "json", {}, ack_requested=ack)
    return encode_event(envelope, "orders.created", [json.dumps(payload).encode()])


def mixed_batch() -> list[list[bytes]]:
    """Events whose headers differ in more than their number: names, headers, flags."""
    out = []
    for seq, name, headers, ack in [
        (1, "orders.created", {}, False),
        (2, "orders.created", {}, False),
        (3, "orders.paid", {"trace": "a"}, False),
        (4, "orders.paid", {"trace": "a"}, False),
        (5, "orders.paid", {"trace": "b"}, True),
        (6, "orders.created", {}, False),
    ]:
        envelope = Envelope(V2_PRODUCER, seq, "json", headers, ack_requested=ack)
        out.append(encode_event(envelope, name, [json.dumps({"id": seq}).encode(), b"7"]))
    return out


# The bytes -------------------------------------------------------------------------


def test_the_batch_vector_encodes_and_splits() -> None:
    events, frames = V2_BATCH
    built = [
        encode_event(Envelope(V2_PRODUCER, seq, "json"), "orders.created", [payload])
        for seq, payload in events
    ]
    assert [frame.hex() for frame in encode_batch(built)] == frames
    assert kind_of(unhex(frames)) is Kind.BATCH
    assert split_batch(unhex(frames), 16) == built


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[:5], "batch header needs 6 bytes"),
        (lambda b: b[:4] + b"\x00\x00", "a batch of 0 events"),
        (lambda b: b[:4] + b"\xff\xff" + b[6:], "65535 events is over the limit of 16"),
        (lambda b: b[:-3], "event 1: frame needs"),
        (lambda b: b + b"x", "1 bytes after the last event"),
        (lambda b: b[:6] + struct.pack(">I", 2**32 - 1) + b[10:], "event 0: header needs"),
    ],
)
def test_a_malformed_batch_names_the_frame_and_the_event(
    mangle: Callable[[bytes], bytes], message: str
) -> None:
    _, frames = V2_BATCH
    batch = unhex(frames)
    with pytest.raises(DecodeError, match=message) as raised:
        split_batch([b"", mangle(batch[1])], 16)
    assert raised.value.frame == 1


def test_the_frame_limit_applies_per_event_in_a_batch() -> None:
    many = encode_event(Envelope(V2_PRODUCER, 2, "json"), "a", [b"1"] * 5)
    batch = encode_batch([event_frames(1, 1), many])
    with pytest.raises(DecodeError, match="event 1: 6 frames is over the limit of 4"):
        split_batch(batch, 16, Limits(max_frames=4))
    assert decode_event(split_batch(batch, 16)[1]).event == "a"


# The options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_max": 0}, "option 'batch_max': expected an int from 1"),
        ({"batch_max": True}, "option 'batch_max'"),
        ({"batch_max": 70000}, "option 'batch_max'"),
        ({"batch_max": 8}, "batches are wire v2 .* PHP original, cannot read them"),
        ({"batch_max": 8, "wire": "v2", "confirmed": True}, "'batch_max' and 'confirmed'"),
        ({"linger_ms": -1}, "option 'linger_ms': expected milliseconds"),
        ({"linger_ms": 1.5}, "option 'linger_ms'"),
        ({"max_batch_events": 0}, "option 'max_batch_events'"),
    ],
)
def test_invalid_batch_options_name_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        EventListener({"connect": "ipc:///tmp/zeroevents-batching.ipc", **options})


def test_the_defaults_are_off() -> None:
    listener = EventListener({"connect": "ipc:///tmp/zeroevents-batching.ipc"})
    assert (listener.options["batch_max"], listener.options["linger_ms"]) == (1, 0)
    assert listener.options["max_batch_events"] == 1024


# Real processes ------------------------------------------------------------------


def started(spawn: Spawn, options: dict[str, Any], record: Path, flavour: str = "blocking") -> Any:
    record.touch()
    consumer = spawn(consume, options, str(record), flavour)
    running = Path(f"{record}.running")
    wait_for(lambda: running.exists() or not consumer.is_alive(), WAIT, "the consumer to poll")
    assert consumer.is_alive(), f"the consumer ended on its own ({consumer.exitcode})"
    return consumer


def stopped(consumer: Any) -> None:
    os.kill(consumer.pid, signal.SIGTERM)
    consumer.join(WAIT)
    assert consumer.exitcode == 0


def lines(record: Path) -> list[str]:
    return [line for line in record.read_text().splitlines() if line]


def fired(record: Path) -> list[int]:
    return [int(line.split()[1]) for line in lines(record) if line.startswith("fired ")]


def sent_raw(endpoint: str, messages: list[list[bytes]]) -> None:
    context = zmq.Context()
    try:
        socket = context.socket(zmq.PUSH)
        socket.connect(endpoint)
        for frames in messages:
            socket.send_multipart(frames)
    finally:
        context.destroy(linger=5000)


def test_one_bad_event_in_a_batch_is_reported_the_others_fired(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    endpoint, record = ipc("contracts"), tmp_path / "record"
    options = {"bind": endpoint, "socket_type": "PULL", "schemas": str(CONTRACTS)}
    consumer = started(spawn, options, record)
    bad = {**GOOD, "id": 2, "items": []}
    batch = encode_batch(
        [
            event_frames(1, {**GOOD, "id": 1}),
            event_frames(2, bad),
            event_frames(3, {**GOOD, "id": 3}),
        ]
    )
    sent_raw(endpoint, [batch])
    wait_for(lambda: len(lines(record)) >= 3, WAIT, "the three events")
    stopped(consumer)
    assert lines(record) == ["fired 1", "schema 2", "fired 3"]


def test_a_garbage_batch_is_reported_and_the_service_goes_on(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    endpoint, record = ipc("garbage"), tmp_path / "record"
    consumer = started(spawn, {"bind": endpoint, "socket_type": "PULL"}, record)
    good = encode_batch([event_frames(1, {"id": 1}), event_frames(2, {"id": 2})])
    hostile = [b"", good[1][:4] + b"\xff\xff" + good[1][6:]]  # 65535 events announced
    truncated = [b"", good[1][:-2]]
    bad_header = encode_batch([event_frames(3, {"id": 3}), [b"", b"ZE\x02\x01" + b"\x00" * 3]])
    sent_raw(endpoint, [hostile, truncated, bad_header, good])
    wait_for(lambda: len(fired(record)) >= 3, WAIT, "the good events after the garbage")
    stopped(consumer)
    got = lines(record)
    decode = [line for line in got if line.startswith("decode")]
    assert "65535 events is over the limit of 1024 (option 'max_batch_events')" in decode[0]
    assert "event 1: frame needs" in decode[1]
    assert "event 1 of a batch: event header needs" in decode[2]
    assert all("frame 1" in line for line in decode), decode
    assert fired(record) == [3, 1, 2]


def test_a_batched_producer_process_to_a_service_counted_by_id(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    # Four threads firing at once into one batching socket (linger_ms 1, so that
    # batches form whatever the scheduling), each event fired once.
    endpoint, record, report = ipc("threads"), tmp_path / "record", tmp_path / "report"
    consumer = started(spawn, {"bind": endpoint, "socket_type": "ROUTER"}, record)
    options = {"connect": endpoint, "wire": "v2", "batch_max": 64, "linger_ms": 1,
               "delivery": "at-least-once"}  # fmt: skip
    producer = spawn(produce, options, list(range(5000)), str(report), 4)
    producer.join(WAIT * 2)
    assert producer.exitcode == 0
    wait_for(lambda: len(fired(record)) >= 5000, WAIT, "every event")
    stopped(consumer)
    assert sorted(fired(record)) == list(range(5000))
    assert not [line for line in lines(record) if line.startswith("decode")]
    assert outcome_retried(report) == 0  # not recovered by lone retransmissions
    assert report.read_text().startswith("0 0 5000 ")  # nothing pending or undelivered


def test_flush_and_close_send_what_lingers(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    endpoint, record, report = ipc("linger"), tmp_path / "record", tmp_path / "report"
    consumer = started(spawn, {"bind": endpoint, "socket_type": "PULL"}, record)
    # An hour of linger: only flush() and close() can send these.
    options = {"connect": endpoint, "socket_type": "PUSH", "wire": "v2", "batch_max": 100,
               "linger_ms": 3_600_000}  # fmt: skip
    producer = spawn(produce_then_wait, options, str(record), str(report))
    producer.join(WAIT)
    assert producer.exitcode == 0
    wait_for(lambda: len(fired(record)) >= 10, WAIT, "the events sent by close()")
    stopped(consumer)
    assert report.read_text() == "0 5"  # the 5 fired after flush(), before close()
    assert fired(record) == list(range(10))


def test_linger_ms_sends_a_lone_event_within_its_time(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    # No flush, no further push: the flusher thread sends it once linger_ms passed.
    endpoint, record = ipc("lone"), tmp_path / "record"
    consumer = started(spawn, {"bind": endpoint, "socket_type": "PULL"}, record)
    listener = EventListener(
        {
            "connect": endpoint,
            "socket_type": "PUSH",
            "wire": "v2",
            "batch_max": 100,
            "linger_ms": 50,
        }
    )
    try:
        listener.dispatcher.listen("orders.created", listener)
        listener.dispatcher.fire("orders.created", {"id": 1})
        wait_for(lambda: fired(record) == [1], WAIT, "the lone event")
    finally:
        listener.close()
        stopped(consumer)


def outcome_retried(report: Path) -> int:
    return int(report.read_text().split()[3])


def test_a_batched_producer_to_an_asyncio_service(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    endpoint, record, report = ipc("aio"), tmp_path / "record", tmp_path / "report"
    consumer = started(spawn, {"bind": endpoint, "socket_type": "ROUTER"}, record, "asyncio")
    options = {"connect": endpoint, "wire": "v2", "batch_max": 32, "linger_ms": 5,
               "delivery": "at-least-once"}  # fmt: skip
    producer = spawn(produce, options, list(range(3000)), str(report))
    producer.join(WAIT * 2)
    assert producer.exitcode == 0
    wait_for(lambda: len(fired(record)) >= 3000, WAIT, "every event")
    stopped(consumer)
    assert sorted(fired(record)) == list(range(3000))
    # Not recovered by retransmissions of lone events: each batch was read.
    assert not [line for line in lines(record) if line.startswith("decode")]
    assert outcome_retried(report) == 0
    assert report.read_text().startswith("0 0 3000")


def test_the_asyncio_listener_refuses_to_send_batches() -> None:
    from zeroevents_core import AsyncEventListener

    with pytest.raises(ConfigurationError, match="only the blocking EventListener sends"):
        AsyncEventListener(
            {"connect": "ipc:///tmp/zeroevents-batching.ipc", "wire": "v2", "batch_max": 8}
        )


def test_batched_at_least_once_survives_kills_of_the_consumer(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    # Issue 13's harness (counted by id, consumer killed -9 and restarted), the producer
    # batching: lost none, duplicates bounded by the window per kill.
    from test_delivery_kill import check, kill_run

    kills = 5
    batched = {"wire": "v2", "batch_max": 64, "linger_ms": 2}
    outcome = kill_run(spawn, tmp_path, [ipc("consumer")], "at-least-once", kills, extra=batched)
    check(outcome, kills, f"{kills} kills -9 of the consumer of a batched producer")


@pytest.mark.parametrize("flavour", ["blocking", "asyncio"])
def test_the_rest_of_a_batch_is_fired_with_nothing_after_it(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str], flavour: str
) -> None:
    # Two batches of 1,000 queued before the service starts: its first read of 1,024
    # messages stops inside the second batch, and no message comes after to wake its
    # poll: the rest must be fired anyway.
    endpoint, record = ipc("rest"), tmp_path / "record"
    context = zmq.Context()
    try:
        sender = context.socket(zmq.PUSH)
        sender.connect(endpoint)  # queued until the consumer binds
        for first in (0, 1000):
            batch = [event_frames(seq + 1, {"id": seq}) for seq in range(first, first + 1000)]
            sender.send_multipart(encode_batch(batch))
        consumer = started(spawn, {"bind": endpoint, "socket_type": "PULL"}, record, flavour)
        wait_for(lambda: len(fired(record)) >= 2000, WAIT, "both batches")
        stopped(consumer)
    finally:
        context.destroy(linger=0)
    assert fired(record) == list(range(2000))


# Decoded together ------------------------------------------------------------------


def test_batch_headers_read_together_are_those_read_alone() -> None:
    events = mixed_batch()
    headers = [frames[1] for frames in events]
    alone = [decode_event(frames) for frames in events]
    together = decode_batch_headers(headers)
    assert together == [(one.envelope, one.event) for one in alone]
    envelopes = [read[0] for read in together if read is not None]
    # Each event its own headers, though read from the one before it.
    assert envelopes[2].headers is not envelopes[3].headers


def test_a_header_that_is_not_an_events_is_left_to_be_refused_alone() -> None:
    events = mixed_batch()
    ack = bytes.fromhex("5a450202") + events[1][1][4:]
    short = events[3][1][:10]
    read = decode_batch_headers([events[0][1], ack, events[2][1], short, events[4][1]])
    assert [entry is None for entry in read] == [False, True, False, True, False]
    assert read[4] == (decode_event(events[4]).envelope, "orders.paid")


def test_a_batch_is_decoded_in_one_pass_as_each_event_would_be_alone() -> None:
    serializer = get_serializer("json")
    batch = encode_batch(mixed_batch())
    events = unbatched(batch, 0, 16, Limits(), serializer)
    for index, (event, frames) in enumerate(zip(events, split_batch(batch, 16), strict=True)):
        alone = decode_event(frames)
        assert event.batch_index == index
        assert event.decoded == (
            alone.event,
            serializer.unserialize(alone.frames),
            alone.envelope.headers,
            alone.envelope,
        )


def test_one_refused_payload_leaves_each_event_to_be_decoded_alone() -> None:
    events = mixed_batch()
    events[2] = [*events[2][:2], b"{"]
    decoded = unbatched(encode_batch(events), 0, 16, Limits(), get_serializer("json"))
    assert [event.decoded for event in decoded] == [None] * len(events)


def test_unserialize_many_is_unserialize_of_each_and_refuses_as_it_does() -> None:
    serializer = get_serializer("json")
    payloads = [[b'{"id":1}', b"2"], [], [b'"x"']]
    assert serializer.unserialize_many(payloads) == [[{"id": 1}, 2], [], ["x"]]
    with pytest.raises(DecodeError, match="frame 0"):
        serializer.unserialize_many([[b"1"], [b"{"]])


def test_a_refused_payload_in_a_batch_names_its_index_the_others_fired(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    endpoint, record = ipc("payload"), tmp_path / "record"
    consumer = started(spawn, {"bind": endpoint, "socket_type": "PULL"}, record)
    bad = [*event_frames(2, {"id": 2})[:2], b'{"id": 2']
    batch = encode_batch([event_frames(1, {"id": 1}), bad, event_frames(3, {"id": 3})])
    sent_raw(endpoint, [batch])
    wait_for(lambda: len(lines(record)) >= 3, WAIT, "the three events")
    stopped(consumer)
    got = lines(record)
    assert fired(record) == [1, 3]
    assert got[0] == "fired 1" and got[2] == "fired 3"
    assert "frame 1: event 1 of a batch: JSONDecodeError" in got[1], got
