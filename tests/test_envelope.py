"""Wire v2 (zeroevents_core.envelope): the vectors of docs/wire-format.md, round trips,
every limit with the field and the frame index, and v1 receivers that refuse v2 bytes
instead of firing them: a Python v1 service and a PHP peer receiving as the original
does, both fed by a plain ZeroMQ socket.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st
from procs import WAIT, serve, take
from vectors import FRAMES, TRACEPARENT, V2_ACK, V2_BATCH, V2_EVENTS, V2_INLINE, V2_PRODUCER

from zeroevents_core import Dispatcher, EventListener, EventSocket
from zeroevents_core.envelope import (
    SEQ_END,
    SEQ_START,
    Ack,
    Envelope,
    Kind,
    Limits,
    decode_ack,
    decode_batch_headers,
    decode_event,
    encode_ack,
    encode_event,
    event_id,
    kind_of,
    new_producer_id,
)
from zeroevents_core.errors import ConfigurationError, DecodeError
from zeroevents_core.stats import Stats
from zeroevents_core.transports import codec, reliable
from zeroevents_core.transports.reliable import DELIVERY_DEFAULTS, Outgoing

DOC = Path(__file__).resolve().parent.parent / "docs" / "wire-format.md"
PHP_RECEIVER = Path(__file__).parent / "php" / "original_receiver.php"
PHP = shutil.which("php")


def unhex(frames: list[str]) -> list[bytes]:
    return [bytes.fromhex(frame) for frame in frames]


def header_with(name: bytes) -> bytes:
    """An event header (content type json, no headers) carrying ``name`` as it is."""
    fixed = v2_event()[1][:34]
    return fixed + len(name).to_bytes(2) + name + b"\x00\x00"


def v2_event(
    seq: int = 1, headers: dict[str, str] | None = None, inline: bool = False
) -> list[bytes]:
    envelope = Envelope(V2_PRODUCER, seq, "json", headers or {}, ack_requested=True)
    return encode_event(envelope, "orders.created", [b'{"id":1}'], inline=inline)


# The vectors ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "event", "payload", "frames"), V2_EVENTS)
def test_event_vectors_encode_and_decode(
    fields: dict[str, Any], event: str, payload: list[bytes], frames: list[str]
) -> None:
    envelope = Envelope(V2_PRODUCER, **fields)
    assert [frame.hex() for frame in encode_event(envelope, event, payload)] == frames
    assert kind_of(unhex(frames)) is Kind.EVENT
    assert decode_event(unhex(frames)) == (envelope, event, payload)


def test_inline_vector_encodes_and_decodes() -> None:
    fields, event, payload, frames = V2_INLINE
    envelope = Envelope(V2_PRODUCER, **fields)
    assert [frame.hex() for frame in encode_event(envelope, event, payload, inline=True)] == frames
    assert kind_of(unhex(frames)) is Kind.EVENT
    assert decode_event(unhex(frames)) == (envelope, event, payload)
    # Only a lone payload frame goes inline: none, or several, keep frames of their own.
    for others in ([], [b"1", b"2"]):
        assert encode_event(envelope, event, others, inline=True) == encode_event(
            envelope, event, others
        )


def test_ack_vector_encodes_and_decodes() -> None:
    fields, frames = V2_ACK
    ack = Ack(V2_PRODUCER, **fields)
    assert [frame.hex() for frame in encode_ack(ack)] == frames
    assert kind_of(unhex(frames)) is Kind.ACK
    assert decode_ack(unhex(frames)) == ack


def test_the_page_shows_the_vectors_byte_for_byte() -> None:
    section = DOC.read_text().split("## Wire v2", 1)[1]
    shown = []
    for block in re.findall(r"```text\n(.*?)```", section, re.DOTALL):
        frames = re.findall(r"^frame \d+  (.*)$", block, re.MULTILINE)
        if frames:
            shown.append(["" if f == "(empty)" else f.replace(" ", "") for f in frames])
    events = [frames for *_, frames in V2_EVENTS]
    assert shown == [*events, V2_INLINE[-1], V2_ACK[1], V2_BATCH[1]]


def test_the_name_and_frame_limits_default_to_v1_s() -> None:
    assert (Limits().max_name_bytes, Limits().max_frames) == (
        codec.DEFAULT_MAX_NAME_BYTES,
        codec.DEFAULT_MAX_FRAMES,
    )


def test_event_id_is_the_producer_and_the_sequence_number() -> None:
    envelope = Envelope(V2_PRODUCER, 42, "json")
    assert envelope.event_id == "000102030405060708090a0b0c0d0e0f-000000000000002a"
    assert event_id(V2_PRODUCER, 42) == envelope.event_id
    first, second = new_producer_id(), new_producer_id()
    assert len(first) == 16
    assert first != second


# Detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frames",
    [
        FRAMES,  # the original's own vector
        [b"orders.created", b'{"id":1}'],
        [b"ping"],
        [b""],  # v1's "no event name", refused by the v1 decoder
        [b"", b'{"id":1}'],
        [b"", b"ZE"],
        [b"", b"ZE\x01\x01"],  # another version is not v2
        [],
    ],
)
def test_anything_without_the_v2_magic_is_v1(frames: list[bytes]) -> None:
    assert kind_of(frames) is Kind.V1


def test_an_unknown_v2_kind_is_refused_at_frame_1() -> None:
    with pytest.raises(DecodeError, match=r"frame 2: unknown v2 message kind 07"):
        kind_of([b"", b"ZE\x02\x07"], offset=1)
    with pytest.raises(DecodeError, match=r"frame 1: unknown v2 message kind missing"):
        kind_of([b"", b"ZE\x02"])


# Round trips and hostile bytes ----------------------------------------------------------

texts = st.text(min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    producer=st.binary(min_size=16, max_size=16),
    seq=st.integers(1, 2**64 - 1),
    content_type=st.text(min_size=1, max_size=60),
    headers=st.dictionaries(texts, st.text(max_size=40), max_size=8),
    ack_requested=st.booleans(),
    event=texts,
    payload=st.lists(st.binary(max_size=40), max_size=8),
    inline=st.booleans(),
)
def test_events_round_trip(
    producer: bytes,
    seq: int,
    content_type: str,
    headers: dict[str, str],
    ack_requested: bool,
    event: str,
    payload: list[bytes],
    inline: bool,
) -> None:
    envelope = Envelope(producer, seq, content_type, headers, ack_requested)
    frames = encode_event(envelope, event, payload, inline=inline)
    assert len(frames) == (2 if inline and len(payload) == 1 else 2 + len(payload))
    assert kind_of(frames) is Kind.EVENT
    assert decode_event(frames) == (envelope, event, payload)


@settings(max_examples=300, deadline=None)
@given(
    producer=st.binary(min_size=16, max_size=16),
    cumulative=st.integers(0, 2**64 - 1),
    ranges=st.lists(
        st.tuples(st.integers(1, 2**64 - 1), st.integers(0, 2**20)).map(
            lambda r: (r[0], min(r[0] + r[1], 2**64 - 1))
        ),
        max_size=20,
    ),
)
def test_acks_round_trip(producer: bytes, cumulative: int, ranges: list[tuple[int, int]]) -> None:
    ack = Ack(producer, cumulative, tuple(ranges))
    assert decode_ack(encode_ack(ack)) == ack


@settings(max_examples=1000, deadline=None)
@given(
    header=st.one_of(
        st.binary(max_size=80),
        # A valid header cut short or extended: every length field met with too few bytes.
        st.tuples(st.integers(0, 200), st.binary(max_size=4)).map(
            lambda cut: v2_event(headers={"k": "v" * 50})[1][: cut[0]] + cut[1]
        ),
    ),
    kind=st.sampled_from([b"\x01", b"\x02"]),
)
def test_any_bytes_after_the_magic_decode_or_raise_decode_error(header: bytes, kind: bytes) -> None:
    frame = b"ZE\x02" + kind + header[4:]
    frames = [b"", frame, b"name"] if kind == b"\x01" else [b"", frame]
    try:
        if kind_of(frames) is Kind.EVENT:
            decode_event(frames)
        else:
            decode_ack(frames)
    except DecodeError as error:
        assert error.frame == 1


# Limits: the field, the option and the frame index --------------------------------------


@pytest.mark.parametrize("offset", [0, 1])
def test_limits_name_the_option_and_the_wire_frame(offset: int) -> None:
    limits = Limits(max_name_bytes=5, max_frames=3, max_headers=2, max_header_bytes=10)
    frames = encode_event(Envelope(V2_PRODUCER, 1, "json"), "orders", [])
    with pytest.raises(DecodeError, match=r"'max_name_bytes'") as name:
        decode_event(frames, limits, offset)
    assert name.value.frame == offset + 1  # the name is in the header
    frames = encode_event(Envelope(V2_PRODUCER, 1, "json"), "a", [b"1", b"2", b"3"])
    with pytest.raises(
        DecodeError, match=r"4 frames is over the limit of 3 .*'max_frames'"
    ) as many:
        decode_event(frames, limits, offset)
    assert many.value.frame == offset + 4  # the name and 3 arguments: frame 4 is one too many
    big = {"a": "1", "b": "2", "c": "3"}
    frames = encode_event(Envelope(V2_PRODUCER, 1, "json", big), "a", [])
    with pytest.raises(DecodeError, match=r"3 headers is over the limit of 2 .*'max_headers'") as h:
        decode_event(frames, limits, offset)
    assert h.value.frame == offset + 1
    frames = encode_event(Envelope(V2_PRODUCER, 1, "json", {"key": "a long value"}), "a", [])
    with pytest.raises(DecodeError, match=r"limit of 10 bytes at header 0 .*'max_header_bytes'"):
        decode_event(frames, limits, offset)
    ack = encode_ack(Ack(V2_PRODUCER, 0, ((1, 1), (3, 3), (5, 5))))
    with pytest.raises(
        DecodeError, match=r"3 ranges is over the limit of 2 .*'max_ack_ranges'"
    ) as r:
        decode_ack(ack, Limits(max_ack_ranges=2), offset)
    assert r.value.frame == offset + 1


def test_the_frame_limit_is_checked_before_any_frame_is_read() -> None:
    frames = [b"", b"not even a header", *([b"x"] * 100_000)]
    with pytest.raises(DecodeError, match=r"100001 frames .* 'max_frames'") as error:
        decode_event(frames)
    assert error.value.frame == 65


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (
            [b"", v2_event()[1][:34]],
            r"frame 1: length of the event name needs 2 bytes at offset 34, 0 left",
        ),
        ([b"", header_with(b"")], r"frame 1: event name is empty"),
        ([b"", header_with(b"\xff")], r"frame 1: event name is not UTF-8"),
        ([b"", header_with(b"n" * 256)], r"frame 1: event name of 256 bytes is over the limit"),
        (
            [b"", header_with(b"abc")[:-4]],
            r"frame 1: event name needs 3 bytes at offset 36, 1 left",
        ),
        ([b"", v2_event()[1] + b"!", b"a"], r"frame 1: 1 bytes after the end of the event header"),
        ([b"", v2_event()[1][:4] + b"\x04" + v2_event()[1][5:], b"a"], r"unknown flags 0x04"),
        (
            [*v2_event(inline=True), b"a"],
            r"frame 2: 1 frames after an event whose payload is in its header's frame",
        ),
        ([b"", v2_event()[1][:21] + bytes(8) + v2_event()[1][29:], b"a"], r"sequence number 0"),
        (
            [b"", v2_event(headers={"k": "v"})[1][:-1], b"a"],
            r"frame 1: header 'k' needs 1 bytes at offset \d+, 0 left",
        ),
    ],
)
def test_malformed_events_name_the_field(frames: list[bytes], message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_event(frames)


@pytest.mark.parametrize("delivery", ["at-most-once", "at-least-once"])
def test_a_sender_reuses_the_header_of_a_name_byte_for_byte(delivery: str) -> None:
    # Outgoing encodes a name's header once and changes only the number after that.
    outgoing = Outgoing({**DELIVERY_DEFAULTS, "delivery": delivery}, Stats(), Limits())
    names = [f"orders.{index}" for index in range(reliable.TAILS_KEPT + 3)]
    for seq, event in enumerate(["orders.created", "é", *names, "orders.created"], 1):
        for number in (seq, 2**32 + seq, 2**64 - 1):
            envelope = Envelope(outgoing.producer, number, "json", {}, delivery != "at-most-once")
            for payload in ([b"1"], [b"1", b"2"]):  # one frame goes inline
                _, frames = outgoing.encode(event, payload, "json", None, number)
                assert frames == encode_event(envelope, event, payload, inline=True)
    assert len(outgoing._tails) <= reliable.TAILS_KEPT
    _, traced = outgoing.encode("orders.created", [], "json", {"traceparent": TRACEPARENT}, 7)
    assert decode_event(traced).envelope.headers == {"traceparent": TRACEPARENT}
    for _ in range(2):  # refused each time, never kept
        with pytest.raises(ConfigurationError, match="'max_name_bytes'"):
            outgoing.encode("n" * 256, [], "json", None, 1)
    with pytest.raises(ConfigurationError, match="sequence number"):
        outgoing.encode("orders.created", [], "json", None, 0)


def test_a_batching_sender_keeps_payload_frames_apart() -> None:
    # A batch holds each event's frames apart: inline headers are refused inside one.
    options = {**DELIVERY_DEFAULTS, "delivery": "at-least-once", "batch_max": 8}
    _, frames = Outgoing(options, Stats(), Limits()).encode("a", [b"1"], "json", None, 1)
    assert len(frames) == 3
    assert decode_batch_headers([v2_event(inline=True)[1]]) == [None]


def test_duplicate_header_keys_are_refused() -> None:
    header = v2_event(headers={"k": "v"})[1]
    doubled = header[:-8] + b"\x00\x02" + header[-6:] + header[-6:]
    with pytest.raises(DecodeError, match=r"header 'k' is given twice"):
        decode_event([b"", doubled, b"a"])


def test_malformed_acks_name_the_field() -> None:
    frame = encode_ack(Ack(V2_PRODUCER, 0, ((5, 5),)))[1]
    with pytest.raises(DecodeError, match=r"range 0 \(5, 4\) is not 1 <= first <= last"):
        decode_ack([b"", frame[:-1] + b"\x04"])
    with pytest.raises(DecodeError, match=r"frame 1: range 0 needs 16 bytes"):
        decode_ack([b"", frame[:-1]])
    with pytest.raises(DecodeError, match=r"frame 2: an acknowledgement is 2 frames, got 3"):
        decode_ack([b"", frame, b""])


def test_encoding_refuses_what_a_receiver_would_refuse() -> None:
    with pytest.raises(ConfigurationError, match="producer id must be 16 bytes"):
        encode_event(Envelope(b"short", 1, "json"), "a", [])
    with pytest.raises(ConfigurationError, match="sequence number must be an int from 1"):
        encode_event(Envelope(V2_PRODUCER, 0, "json"), "a", [])
    with pytest.raises(ConfigurationError, match="content type must be a str of 1 to 255 bytes"):
        encode_event(Envelope(V2_PRODUCER, 1, ""), "a", [])
    with pytest.raises(ConfigurationError, match="event name must not be empty"):
        encode_event(Envelope(V2_PRODUCER, 1, "json"), "", [])
    with pytest.raises(ConfigurationError, match=r"256 bytes is over the limit of 255 .*'max_name"):
        encode_event(Envelope(V2_PRODUCER, 1, "json"), "n" * 256, [])
    with pytest.raises(
        ConfigurationError, match=r"header .k. must be a str with a str value, got 1"
    ):
        encode_event(Envelope(V2_PRODUCER, 1, "json", {"k": 1}), "a", [])  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match=r"33 headers is over the limit of 32"):
        encode_event(Envelope(V2_PRODUCER, 1, "json", {str(i): "" for i in range(33)}), "a", [])
    with pytest.raises(ConfigurationError, match=r"over the limit of 8192 bytes at 'k'"):
        encode_event(Envelope(V2_PRODUCER, 1, "json", {"k": "v" * 8192}), "a", [])
    with pytest.raises(ConfigurationError, match=r"range \(3, 2\) is not 1 <= first <= last"):
        encode_ack(Ack(V2_PRODUCER, 0, ((3, 2),)))


# v1 receivers refuse v2 -----------------------------------------------------------------


def test_the_python_v1_decoder_refuses_v2_at_frame_0() -> None:
    socket = EventSocket(zmq.Context.instance(), zmq.PUSH)
    try:
        for frames in (v2_event(), v2_event(inline=True), encode_ack(Ack(V2_PRODUCER, 1))):
            with pytest.raises(DecodeError, match="frame 0") as error:
                socket.decode(frames)
            assert error.value.frame == 0
    finally:
        socket.close(linger=0)


@pytest.mark.parametrize(
    ("service_type", "sender_type"), [("PULL", zmq.PUSH), ("ROUTER", zmq.DEALER)]
)
def test_a_python_service_reads_v1_and_v2_on_one_socket_with_no_option(
    spawn: Callable[..., Any],
    queue: Any,
    ipc: Callable[[str], str],
    service_type: str,
    sender_type: int,
) -> None:
    endpoint = ipc("v1")
    spawn(serve, {"bind": endpoint, "socket_type": service_type}, queue)
    take(queue, "ready")
    context = zmq.Context()
    sender = context.socket(sender_type)
    try:
        sender.connect(endpoint)
        sender.send_multipart(v2_event(headers={"traceparent": TRACEPARENT}))
        sender.send_multipart(v2_event(2, inline=True))
        sender.send_multipart(encode_ack(Ack(V2_PRODUCER, 7, ((9, 9),))))  # nobody's: dropped
        sender.send_multipart([b"after.v2", b"1"])
        assert take(queue, "event")[1:] == ("orders.created", [{"id": 1}])
        assert take(queue, "event")[1:] == ("orders.created", [{"id": 1}])
        assert take(queue, "event")[1:] == ("after.v2", [1])
    finally:
        sender.close(linger=0)
        context.term()


def test_a_v2_listener_sends_a_lone_payload_argument_inline(ipc: Callable[[str], str]) -> None:
    endpoint = ipc("inline")
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.RCVTIMEO, int(WAIT * 1000))
    router.bind(endpoint)
    options = {"connect": endpoint, "socket_type": "DEALER", "wire": "v2"}
    listener = EventListener(options, Dispatcher())
    try:
        listener.socket().push("orders.created", [{"id": 1}])
        listener.socket().push("orders.paid", [{"id": 1}, 2])
        one, two = router.recv_multipart(), router.recv_multipart()
    finally:
        listener.close()
        router.close(linger=0)
        context.term()
    # Routing id, frame 0, the header with the payload: two frames, as a v1 event.
    assert len(one) == 3 and one[2][4] & 0x02
    assert decode_event(one[1:])[1:] == ("orders.created", [b'{"id":1}'])
    assert len(two) == 5 and not two[2][4] & 0x02
    assert decode_event(two[1:])[1:] == ("orders.paid", [b'{"id":1}', b"2"])


def _php_has_zmq() -> bool:
    if PHP is None:
        return False
    done = subprocess.run([PHP, "-m"], capture_output=True, text=True, timeout=60)
    return "zmq" in done.stdout.split()


@pytest.fixture
def php_receiver() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        assert PHP is not None
        process = subprocess.Popen(
            [PHP, str(PHP_RECEIVER), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        assert json.loads(process.stdout.readline()) == {"ready": True}, process.stderr
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=WAIT)


@pytest.mark.skipif(not _php_has_zmq(), reason="php-cli with php-zmq is not installed")
@pytest.mark.parametrize(
    ("php_type", "confirmed"), [("ROUTER", "0"), ("ROUTER", "1"), ("DEALER", "0"), ("DEALER", "1")]
)
def test_the_php_original_fires_nothing_for_v2(
    php_receiver: Callable[..., subprocess.Popen[str]],
    ipc: Callable[[str], str],
    php_type: str,
    confirmed: str,
) -> None:
    endpoint = ipc("php")
    receiver = php_receiver(php_type, endpoint, confirmed, "4")
    context = zmq.Context()
    sender = context.socket(zmq.DEALER)
    sender.setsockopt(zmq.RCVTIMEO, int(WAIT * 1000))
    try:
        sender.connect(endpoint)
        sender.send_multipart(v2_event(headers={"traceparent": TRACEPARENT}))
        sender.send_multipart(v2_event(2, inline=True))
        sender.send_multipart(encode_ack(Ack(V2_PRODUCER, 7, ((9, 9),))))
        sender.send_multipart([b"after.v2", b"1"])
        replies = [sender.recv_multipart() for _ in range(4)] if confirmed == "1" else []
        out, err = receiver.communicate(timeout=WAIT)
    finally:
        sender.close(linger=0)
        context.term()
    assert receiver.returncode == 0, err
    taken = [json.loads(line) for line in out.splitlines()]
    # PHP took all four messages and fired only the v1 one.
    assert [(line["name"], line["fired"]) for line in taken] == [
        ("", False),
        ("", False),
        ("", False),
        (b"after.v2".hex(), True),
    ]
    assert taken[3]["payload"] == [1]
    if confirmed == "1":  # confirmations of "", which no v2 sender waits for
        assert replies == [[b"zeroevents.confirmed", b'""']] * 3 + [
            [b"zeroevents.confirmed", b'"after.v2"']
        ]


@pytest.mark.parametrize("socket_type", [zmq.ROUTER, zmq.DEALER])
def test_a_receiver_reads_a_known_header_as_the_long_way_does(socket_type: int) -> None:
    # KnownHeaders: the rest of a header after its number is checked once, then
    # recognised by its bytes; whatever it cannot vouch for goes the long way.
    socket = EventSocket(zmq.Context.instance(), socket_type, accept=["json", "msgpack"])
    try:
        route = [b"peer"] if socket_type == zmq.ROUTER else []
        outgoing = Outgoing({**DELIVERY_DEFAULTS, "delivery": "at-least-once"}, Stats(), Limits())

        def received(seq: int, payload: bytes = b'{"id": 1}', ct: str = "json") -> Any:
            return socket.message(
                [*route, *outgoing.encode("orders.created", [payload], ct, None, seq)[1]]
            )

        for seq in (1, 2, 2**64 - 1):  # the first is learnt, the others recognised
            message = received(seq)
            assert (message.event, message.payload) == ("orders.created", [{"id": 1}])
            assert message.envelope == Envelope(outgoing.producer, seq, "json", {}, True)
            assert message.event_id == event_id(outgoing.producer, seq)
            assert message.reply_to == (b"peer" if route else None)
        assert len(socket.known_headers._known) == 1
        frame = len(route) + 1
        with pytest.raises(DecodeError) as refused:  # a known header, a bad payload
            received(3, b"{not json")
        assert refused.value.frame is not None
        header = outgoing.encode("orders.created", [b"1"], "json", None, 6)[1][1]
        zero = header[:SEQ_START] + bytes(8) + header[SEQ_END:]
        with pytest.raises(DecodeError, match="sequence number 0"):
            socket.message([*route, b"", zero])
        plain = Outgoing(DELIVERY_DEFAULTS, Stats(), Limits(), producer=outgoing.producer)
        frames = plain.encode("orders.created", [b"1"], "json", None, 4)[1]
        assert not socket.message([*route, *frames]).envelope.ack_requested  # other flags
        packed = outgoing.encode("orders.created", [b"\x81\xa2id\x01"], "msgpack", None, 5)[1]
        msgpack = socket.message([*route, *packed])
        assert msgpack.payload == [{"id": 1}] and msgpack.envelope.content_type == "msgpack"
        refusing = EventSocket(zmq.Context.instance(), socket_type)  # accepts json only
        try:
            for _ in range(2):  # refused each time, never kept
                with pytest.raises(DecodeError, match="'msgpack' is not accepted") as error:
                    refusing.message([*route, *packed])
                assert error.value.frame == frame
            assert not refusing.known_headers._known
        finally:
            refusing.close(linger=0)
    finally:
        socket.close(linger=0)


# The header of event "a" in json after its number: content type, name, no headers.
KNOWN_TAIL = b"\x04json\x00\x01a\x00\x00"


@given(st.binary(max_size=80) | st.binary(max_size=20).map(KNOWN_TAIL.__add__))
def test_a_receiver_refuses_any_header_bytes_the_long_way(tail: bytes) -> None:
    # Whatever follows a known prefix, the fast path answers as the long way does.
    socket = EventSocket(zmq.Context.instance(), zmq.ROUTER)
    try:
        outgoing = Outgoing({**DELIVERY_DEFAULTS, "delivery": "at-least-once"}, Stats(), Limits())
        good = outgoing.encode("a", [b"1"], "json", None, 1)[1][1]
        assert good.endswith(KNOWN_TAIL + b"1")
        socket.message([b"peer", b"", good])  # learnt
        header = good[:SEQ_END] + tail
        try:
            expected: Any = reliable.read_v2(socket, [b"", header], socket.limits, 1)
        except DecodeError as error:
            expected = DecodeError
            assert error.frame is not None
        try:
            message = socket.message([b"peer", b"", header])
        except DecodeError:
            assert expected is DecodeError
        else:
            assert expected is not DecodeError
            assert (message.event, message.payload, message.envelope) == (
                expected.event,
                expected.payload,
                expected.envelope,
            )
    finally:
        socket.close(linger=0)
