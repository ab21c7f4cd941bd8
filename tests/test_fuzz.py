"""Fuzz targets (issue 10): only ``DecodeError`` may escape a decoder, whatever the bytes.

Hypothesis drives every first-party serializer's ``unserialize`` (json, string,
msgpack, cbor, orjson) and the codec's ``message(frames)`` on real sockets (PULL, and
ROUTER, whose frame 0 is the peer's address), with random bytes, bytes shaped like
the format (header bytes, JSON punctuation) and mangled valid frames. Each runs with
the default limits and with tiny ones, so that the budget, depth and size checks are
reached by small inputs too. Any exception other than ``DecodeError`` fails.

In the suite each target runs ``ZEROEVENTS_FUZZ_EXAMPLES`` examples (50 by default,
a few seconds in all). At length::

    ZEROEVENTS_FUZZ_EXAMPLES=20000 .venv/bin/pytest -q tests/test_fuzz.py --timeout=0

(documented in docs/serializers.md). A failure prints the shortest input found;
Hypothesis keeps it in ``.hypothesis/`` and tries it first on the next run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeroevents_core import DecodeError, EventListener, Serializer, get_serializer

EXAMPLES = int(os.environ.get("ZEROEVENTS_FUZZ_EXAMPLES", "50"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NAMES = ["json", "string", "msgpack", "cbor", "orjson"]
TINY = {"max_frame_size": 256, "max_depth": 3, "max_items": 20, "max_containers": 5}

# Bytes that start headers: msgpack containers, lengths, ext, reserved; cbor majors
# with 1/2/4/8-byte arguments, indefinite lengths, tags, breaks, floats.
HEADERS = st.sampled_from(
    [
        *b"\x90\x9f\x80\x8f\xdc\xdd\xde\xdf\xc4\xc5\xc6\xc7\xc8\xc9\xd4\xd8\xd9\xda\xdb",
        *b"\xc0\xc1\xc2\xc3\xca\xcb\xcc\xcd\xce\xcf\xd0\xd3\xa0\xbf\xe0\xff\x00\x7f",
        *b"\x18\x19\x1a\x1b\x1f\x38\x5f\x7f\x9b\xbb\xc4\xc5\xd8\xd9\xf9\xfa\xfb\xf7",
    ]
).map(lambda b: bytes([b]))
SHAPED = st.lists(st.one_of(HEADERS, st.binary(max_size=4)), max_size=40).map(b"".join)
JSONISH = st.text(alphabet='[]{}",:0123456789eE+-.\\u dDtrueflsn\x00é', max_size=80).map(
    lambda text: text.encode("utf-8", "surrogatepass")
)
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


def encodings(serializer: Serializer) -> st.SearchStrategy[bytes]:
    """Valid frames of random values (those the serializer can encode)."""

    def encode(value: Any) -> bytes:
        try:
            return serializer.dumps(value)
        except Exception:  # not every value is carried by every serializer
            return b""

    return VALUES.map(encode)


@st.composite
def mangled(draw: st.DrawFn, frames: st.SearchStrategy[bytes]) -> bytes:
    """A valid frame cut short, with a byte changed, bytes inserted, or repeated."""
    frame = draw(frames)
    cut = draw(st.integers(0, len(frame)))
    how = draw(st.sampled_from(["cut", "flip", "insert", "repeat"]))
    if how == "cut":
        return frame[:cut]
    if how == "flip" and frame:
        index = min(cut, len(frame) - 1)
        return frame[:index] + bytes([draw(st.integers(0, 255))]) + frame[index + 1 :]
    if how == "insert":
        return frame[:cut] + draw(st.binary(min_size=1, max_size=6)) + frame[cut:]
    return frame * draw(st.integers(2, 20))


def frames_for(serializer: Serializer) -> st.SearchStrategy[bytes]:
    valid = encodings(serializer)
    return st.one_of(st.binary(max_size=300), SHAPED, JSONISH, valid, mangled(valid))


def only_decode_error(serializer: Serializer, frames: list[bytes]) -> None:
    try:
        values = serializer.unserialize(frames)
    except DecodeError as exc:
        assert exc.frame is not None and 0 <= exc.frame < len(frames)
    else:
        assert len(values) == len(frames)


@pytest.mark.parametrize("limits", ["default", "tiny"])
@pytest.mark.parametrize("name", NAMES)
def test_unserialize_raises_only_decode_error(name: str, limits: str) -> None:
    serializer = get_serializer(name, **(TINY if limits == "tiny" else {}))

    @FUZZ
    @given(st.data())
    def check(data: st.DataObject) -> None:
        frames = data.draw(st.lists(frames_for(serializer), min_size=1, max_size=3))
        only_decode_error(serializer, frames)

    check()


@pytest.fixture
def sockets(tmp_path: Path) -> Iterator[dict[str, Any]]:
    opened: dict[str, Any] = {}
    listeners = []
    for kind in ("PULL", "ROUTER"):
        for name in ("json", "msgpack", "cbor"):
            options = {
                "bind": f"ipc://{tmp_path}/{kind}-{name}.ipc",
                "socket_type": kind,
                "serializer": get_serializer(name, **TINY),
            }
            listener = EventListener(options)
            listeners.append(listener)
            opened[f"{kind}-{name}"] = listener.socket()
    yield opened
    for listener in listeners:
        listener.close()


def test_codec_message_raises_only_decode_error(sockets: dict[str, Any]) -> None:
    names = st.one_of(st.binary(max_size=12), st.sampled_from([b"", b"a.b", b"\xff", b"x" * 300]))

    @FUZZ
    @given(st.sampled_from(sorted(sockets)), st.data())
    def check(which: str, data: st.DataObject) -> None:
        socket = sockets[which]
        payload = st.lists(frames_for(socket.serializer), max_size=4)
        frames = [data.draw(names), *data.draw(payload)]
        if which.startswith("ROUTER") and data.draw(st.booleans()):
            frames.insert(0, data.draw(st.binary(min_size=1, max_size=5)))
        try:
            message = socket.message(frames)
        except DecodeError as exc:
            assert exc.frame is None or 0 <= exc.frame <= len(frames)
        else:
            assert isinstance(message.event, str) and message.event

    check()


def test_the_sockets_are_real(sockets: dict[str, Any]) -> None:
    # The targets above run on real ZeroMQ sockets, bound and typed as in a service.
    assert sockets["ROUTER-json"].type == zmq.ROUTER
    assert sockets["PULL-cbor"].type == zmq.PULL
