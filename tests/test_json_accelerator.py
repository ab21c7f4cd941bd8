"""The json serializer on orjson writes and reads exactly what it does on the stdlib alone.

The stdlib path is the reference (its bytes are PHP's: tests/test_php_json.py and
tests/test_php_peer.py run both modes against php itself); here both modes meet the
same random payloads and random frames: the same bytes or the same refusal, the same
value (type for type) or the same refusal.
"""

from __future__ import annotations

import collections
import enum
import json
import math
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zeroevents_core import ConfigurationError, DecodeError, EncodeError
from zeroevents_core.serializers.json import PURE_JSON_VARIABLE, JsonSerializer

pytest.importorskip("orjson", reason="the accelerator needs orjson (zeroevents-core[fast])")

FAST = JsonSerializer(accelerated=True)
PURE = JsonSerializer(accelerated=False)
EXAMPLES = int(os.environ.get("ZEROEVENTS_FUZZ_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def same(a: Any, b: Any) -> bool:
    """Equal, type for type (True is not 1, 1.0 is not 1, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    return bool(a == b)


def outcome_of_encoding(serializer: JsonSerializer, value: Any) -> bytes | str:
    try:
        [frame] = serializer.serialize([value])
    except EncodeError as exc:
        return f"EncodeError({exc.index})"
    return frame


def outcome_of_decoding(serializer: JsonSerializer, frame: bytes) -> Any:
    try:
        [value] = serializer.unserialize([frame])
    except DecodeError as exc:
        return ("DecodeError", exc.frame)
    return ("value", value)


def assert_same_decoding(frame: bytes) -> None:
    fast, pure = outcome_of_decoding(FAST, frame), outcome_of_decoding(PURE, frame)
    assert fast[0] == pure[0], (frame, fast, pure)
    assert same(fast[1], pure[1]), (frame, fast, pure)


# Floats of every shape PHP and orjson lay out differently: exponents, integral
# values, 1e-5 <= |x| < 1e-4 (orjson's plain digits), non-finite ones (refused).
floats = st.floats() | st.sampled_from([1e16, 1e17, 2.5e-5, -9.9e-5, 1e-4, 1.0, -0.0, 1e300])
ints = st.integers() | st.integers(min_value=2**63 - 2, max_value=2**64 + 2) | st.just(-(2**63) - 1)
texts = st.text() | st.sampled_from(["\u2028", "a\u2029b", "5e-8", "1.0]", "0.0000", "\ud800"])
scalars = st.none() | st.booleans() | ints | floats | texts
keys = texts | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.tuples(inner, inner)
        | st.dictionaries(keys, inner, max_size=6)
    ),
    max_leaves=40,
)


@SETTINGS
@given(values)
@example([float("nan"), None])
@example({"n": None, "x": float("inf")})
@example([2.5e-05, 1e16, 1.0, "6f1c1f5e-8d2b"])
def test_both_modes_write_the_same_bytes_or_refuse_alike(value: Any) -> None:
    assert outcome_of_encoding(FAST, value) == outcome_of_encoding(PURE, value)


class Colour(enum.Enum):
    RED = 1


class Size(enum.IntEnum):
    BIG = 2


class Name(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        Colour.RED,  # orjson writes an enum's value; the stdlib refuses it
        [uuid.UUID(int=7)],  # orjson writes a UUID as a string; the stdlib refuses it
        Size.BIG,
        {"n": Name("x")},
        collections.OrderedDict(a=1.0),
        [float("nan")],  # orjson writes null
        {"a": None, "b": -math.inf},
        b"bytes",
        {1: 2.0, None: 3, False: 4},
        [2**64, -(2**63) - 1],
        "\ud800",
        [2.5e-05, -0.00009],  # orjson writes 0.000025
    ],
    ids=repr,
)
def test_values_orjson_would_write_otherwise(value: Any) -> None:
    assert outcome_of_encoding(FAST, value) == outcome_of_encoding(PURE, value)


@SETTINGS
@given(values.filter(lambda value: isinstance(outcome_of_encoding(PURE, value), bytes)))
def test_both_modes_read_our_frames_alike(value: Any) -> None:
    [frame] = PURE.serialize([value])
    assert_same_decoding(frame)
    # Other spellings of the same value: spaces, escaped non-ASCII, exponents.
    assert_same_decoding(json.dumps(value, indent=1).encode())
    assert_same_decoding(json.dumps(value, ensure_ascii=True).encode())


JSON_PIECES = [b"[", b"]", b"{", b"}", b",", b":", b'"', b"\\", b"u", b"d800", b"e", b"E"]
JSON_PIECES += [b"+", b"-", b"0", b"1", b"9", b".", b" ", b"\n", b"null", b"true", b"NaN"]
JSON_PIECES += [b"\xef\xbb\xbf", b"\xff", b"12345678901234567890", b"1e400", b"\\udc00"]
JSON_PIECES += [b"\xe2\x80\xa8", b"\x00"]
json_bytes = st.sampled_from(JSON_PIECES)


@SETTINGS
@given(st.lists(json_bytes, max_size=30).map(b"".join) | st.binary(max_size=40))
@example(b'{"a":1,"a":2.0}')
@example(b"-0")
@example(b"18446744073709551616")
@example(b'"\\ud800"')
@example(b"1E+400")
@example(b" [1] ")
def test_both_modes_read_any_bytes_alike(frame: bytes) -> None:
    assert_same_decoding(frame)


def test_the_decode_limits_hold_in_both_modes() -> None:
    for serializer in (JsonSerializer(accelerated=True, max_items=10), PURE):
        with pytest.raises(DecodeError, match="frame 0"):
            serializer.unserialize([b"[" * 512 + b"]" * 512])
    small = JsonSerializer(accelerated=True, max_items=10)
    with pytest.raises(DecodeError, match="max_items=10"):
        small.unserialize([b"[" + b"1," * 20 + b"1]"])


def test_orjson_is_used_when_installed_unless_told() -> None:
    assert JsonSerializer().accelerated is True
    assert JsonSerializer(accelerated=False).accelerated is False
    with pytest.raises(ConfigurationError, match="'accelerated'"):
        JsonSerializer(accelerated="yes")  # type: ignore[arg-type]


def test_the_environment_variable_keeps_a_process_on_the_stdlib() -> None:
    code = "from zeroevents_core import get_serializer; print(get_serializer('json').accelerated)"
    for setting, printed in (("1", "False"), ("0", "True"), ("", "True")):
        env = {**os.environ, PURE_JSON_VARIABLE: setting}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == printed, setting
