"""The built-in serializers: json (byte-exact with the PHP original) and string.

``DecodeError.frame`` raised by ``Serializer.unserialize`` is the index among the
frames it was given (the payload frames); the transport's codec re-raises it with
the index on the wire.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from vectors import FRAMES, VALUES

from zeroevents_core import (
    DecodeError,
    EncodeError,
    SerializationError,
    Serializer,
    ZeroEventsError,
    get_serializer,
)

# The vectors of ../shared/design/wire-format.md, from the original's test suite.
ENCODE_PAYLOAD = VALUES
ENCODED = FRAMES
DECODE_FRAMES = FRAMES[:-1]
DECODED = ("event", VALUES[:-1])


@pytest.fixture
def js() -> Serializer:
    return get_serializer("json")


@pytest.fixture
def text() -> Serializer:
    return get_serializer("string")


def decode_error(serializer: Serializer, frames: list[bytes]) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        serializer.unserialize(frames)
    error = caught.value
    assert isinstance(error, ZeroEventsError)
    assert isinstance(error, SerializationError)
    # Never the parser's own exception type, whatever the cause.
    assert not isinstance(error, json.JSONDecodeError)
    assert type(error) is DecodeError
    assert error.serializer == serializer.name
    return error


def encode_error(serializer: Serializer, payload: list[Any]) -> EncodeError:
    with pytest.raises(EncodeError) as caught:
        serializer.serialize(payload)
    error = caught.value
    assert isinstance(error, ZeroEventsError)
    assert isinstance(error, SerializationError)
    assert error.serializer == serializer.name
    return error


# --- json ---------------------------------------------------------------------------------


def test_json_names() -> None:
    serializer = get_serializer("json")
    assert (serializer.name, serializer.content_type) == ("json", "application/json")


def test_json_encode_vector_is_byte_exact(js: Serializer) -> None:
    assert [b"event", *js.serialize(ENCODE_PAYLOAD)] == ENCODED


def test_json_decode_vector(js: Serializer) -> None:
    name, *frames = DECODE_FRAMES
    assert (name.decode(), js.unserialize(frames)) == DECODED


def test_json_empty_object_and_empty_list_stay_apart(js: Serializer) -> None:
    assert js.serialize([{}, [], ""]) == [b"{}", b"[]", b'""']
    assert js.unserialize([b"{}", b"[]"]) == [{}, []]


def test_json_writes_what_php_writes(js: Serializer) -> None:
    value = {"url": "http://a/b", "name": "Zoë 日本", "n": [1.5, -2, 0.1, 1e100], "t": False}
    [frame] = js.serialize([value])
    expected = '{"url":"http://a/b","name":"Zoë 日本","n":[1.5,-2,0.1,1.0e+100],"t":false}'
    assert frame == expected.encode()
    assert js.unserialize([frame]) == [value]


def test_json_no_arguments_no_frames(js: Serializer) -> None:
    assert js.serialize([]) == []
    assert js.unserialize([]) == []


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_json_refuses_nan_and_infinity_naming_the_argument(js: Serializer, bad: float) -> None:
    error = encode_error(js, ["fine", {"x": [bad]}])
    assert error.index == 1
    assert "argument 1" in str(error)


@pytest.mark.parametrize(
    ("value", "reason"),
    [({1, 2}, "set"), (object(), "object"), (b"raw", "bytes"), ("\ud800", "surrogate")],
)
def test_json_refuses_what_json_cannot_carry(js: Serializer, value: Any, reason: str) -> None:
    error = encode_error(js, [1, 2, value])
    assert error.index == 2
    assert "argument 2" in str(error)
    assert reason in str(error)


def test_json_refuses_a_cycle(js: Serializer) -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    assert encode_error(js, [cycle]).index == 0


@pytest.mark.parametrize(
    "bad",
    [
        b"{bad",
        b" ",
        b"1 2",
        b"[1,]",
        b"'single'",
        b'"\xff"',  # not UTF-8
        b"undefined",
        b'{"a":1',
    ],
)
def test_json_bad_frame_is_a_decode_error_naming_its_index(js: Serializer, bad: bytes) -> None:
    error = decode_error(js, [b"1", b'"ok"', bad, b"2"])
    assert error.frame == 2
    assert "frame 2" in str(error)
    assert "json" in str(error)


def test_json_first_frame_bad(js: Serializer) -> None:
    assert decode_error(js, [b"nope"]).frame == 0


def test_json_very_deep_nesting_is_a_decode_error(js: Serializer) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert decode_error(js, [b"0", deep]).frame == 1
    deep_objects = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    assert decode_error(js, [deep_objects]).frame == 0


def test_json_frame_over_the_size_limit(js: Serializer) -> None:
    small = get_serializer("json", max_frame_size=8)
    assert small.unserialize([b'"123456"']) == ["123456"]  # exactly 8 bytes: fine
    error = decode_error(small, [b"1", b'"1234567"'])
    assert error.frame == 1
    assert "9 bytes" in str(error)
    assert "8" in str(error)


# --- string -------------------------------------------------------------------------------


def test_string_names(text: Serializer) -> None:
    assert text.name == "string"
    assert text.content_type.startswith("text/plain")


def test_string_sends_str_as_utf8_and_bytes_as_they_are(text: Serializer) -> None:
    frames = text.serialize(["héllo", b"\x00\xff", bytearray(b"ba"), memoryview(b"mv"), ""])
    assert frames == [b"h\xc3\xa9llo", b"\x00\xff", b"ba", b"mv", b""]
    assert all(type(frame) is bytes for frame in frames)


def test_string_decodes_utf8_to_str_and_the_rest_to_bytes(text: Serializer) -> None:
    assert text.unserialize([b"h\xc3\xa9llo", b"\x00\xff", b""]) == ["héllo", b"\x00\xff", ""]


@pytest.mark.parametrize("value", [1, 1.5, None, True, ["a"], {"a": "b"}])
def test_string_refuses_anything_but_str_and_bytes(text: Serializer, value: Any) -> None:
    error = encode_error(text, ["ok", b"ok", value])
    assert error.index == 2
    assert "argument 2" in str(error)
    assert type(value).__name__ in str(error)


def test_string_frame_over_the_size_limit() -> None:
    small = get_serializer("string", max_frame_size=3)
    assert small.unserialize([b"abc"]) == ["abc"]
    assert decode_error(small, [b"abc", b"abcd"]).frame == 1
