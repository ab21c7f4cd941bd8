"""The ``php`` serializer (plugins/zeroevents-php) reads and writes PHP's own bytes.

The vector tests always run. The PHP tests run PHP's own ``serialize()`` and
``unserialize()`` (php-cli, installed by the test script where it can be) over the
same values; over php-zmq, a real PHP process sends ``serialize()`` frames to a Python
EventService, and receives a Python EventListener's. They skip, saying why, where php
or php-zmq is missing. The conformance suite runs over ``php`` too.
"""

from __future__ import annotations

import collections
import enum
import math
import random
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import procs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from procs import take

from zeroevents_core import DecodeError, EncodeError, get_serializer

PHP_DIR = Path(__file__).parent / "php"
INF = float("inf")
PHP_INT_MAX = 2**63 - 1

# (value, PHP expression, what PHP 8.2 serialize() writes): checked against php itself.
VECTORS: list[tuple[Any, str, bytes]] = [
    (None, "null", b"N;"),
    (True, "true", b"b:1;"),
    (False, "false", b"b:0;"),
    (0, "0", b"i:0;"),
    (-7, "-7", b"i:-7;"),
    (PHP_INT_MAX, "PHP_INT_MAX", b"i:9223372036854775807;"),
    (-PHP_INT_MAX - 1, "PHP_INT_MIN", b"i:-9223372036854775808;"),
    (1.0, "1.0", b"d:1;"),
    (100.0, "100.0", b"d:100;"),
    (-0.0, "-0.0", b"d:-0;"),
    (0.1, "0.1", b"d:0.1;"),
    (1e25, "1e25", b"d:1.0E+25;"),
    (3e-7, "3e-7", b"d:3.0E-7;"),
    (1e16, "1e16", b"d:10000000000000000;"),
    (1e17, "1e17", b"d:1.0E+17;"),
    (1e100, "1e100", b"d:1.0E+100;"),
    (5e-324, "5e-324", b"d:5.0E-324;"),
    (1 / 3, "1/3", b"d:0.3333333333333333;"),
    (INF, "INF", b"d:INF;"),
    (-INF, "-INF", b"d:-INF;"),
    ("", "''", b's:0:"";'),
    ("при/вет", "'при/вет'", 's:13:"при/вет";'.encode()),
    ('a";b', "'a\";b'", b's:4:"a";b";'),
    (b"\x00\xff", '"\\x00\\xff"', b's:2:"\x00\xff";'),
    ([], "[]", b"a:0:{}"),
    ([1, "x", None], "[1, 'x', null]", b'a:3:{i:0;i:1;i:1;s:1:"x";i:2;N;}'),
    ({"a": 1, 5: [True]}, "['a' => 1, 5 => [true]]", b'a:2:{s:1:"a";i:1;i:5;a:1:{i:0;b:1;}}'),
    ({1: "a", 0: "b"}, "[1 => 'a', 0 => 'b']", b'a:2:{i:1;s:1:"a";i:0;s:1:"b";}'),
    ({"": {"k": [[]]}}, "['' => ['k' => [[]]]]", b'a:1:{s:0:"";a:1:{s:1:"k";a:1:{i:0;a:0:{}}}}'),
]


def php_serializer(**options: Any) -> Any:
    return get_serializer("php", **options)


def strictly(value: Any) -> str:
    """repr tells apart what == does not: 1 and 1.0 and True, 0.0 and -0.0, str and bytes."""
    return repr(value)


@pytest.mark.parametrize(("value", "php", "frame"), VECTORS, ids=[v[1] for v in VECTORS])
def test_vectors_written_and_read_as_php_writes_them(value: Any, php: str, frame: bytes) -> None:
    serializer = php_serializer()
    assert serializer.serialize([value]) == [frame]
    assert strictly(serializer.unserialize([frame])) == strictly([value])


def test_tuples_become_lists_and_lists_from_dicts() -> None:
    # PHP arrays do not tell lists from maps: keys 0..n-1 in order read as a list.
    serializer = php_serializer()
    frames = serializer.serialize([(1, (2,)), {}, {0: "a", 1: "b"}, {"0": "a"}, b"abc"])
    assert serializer.unserialize(frames) == [[1, [2]], [], ["a", "b"], {"0": "a"}, "abc"]


def test_subclasses_are_written_as_their_base_types() -> None:
    class Odd(float):
        def __repr__(self) -> str:  # as numpy's float64 does, not as float does
            return f"Odd({float(self)})"

    class Level(enum.IntEnum):
        HIGH = 3

    class Name(str):
        pass

    value = [Odd(2.5), Odd(1e30), Level.HIGH, Name("é"), collections.OrderedDict(k=True)]
    assert php_serializer().serialize([value]) == [
        b'a:5:{i:0;d:2.5;i:1;d:1.0E+30;i:2;i:3;i:3;s:2:"\xc3\xa9";i:4;a:1:{s:1:"k";b:1;}}'
    ]


def test_nan_round_trips() -> None:
    [frame] = php_serializer().serialize([float("nan")])
    assert frame == b"d:NAN;"
    assert math.isnan(php_serializer().unserialize([frame])[0])


def test_what_php_also_accepts_is_read() -> None:
    # PHP's grammar: signs, leading zeros, "1." and ".5", lower-case exponents.
    frames = [b"i:+5;", b"i:-0007;", b"d:1.;", b"d:.5;", b"d:2e3;", b"d:-1.5E-2;"]
    frames += [b'a:1:{s:1:"k";s:003:"abc";}', b"d:" + b"1" * 400 + b";"]
    assert php_serializer().unserialize(frames) == [
        5,
        -7,
        1.0,
        0.5,
        2000.0,
        -0.015,
        {"k": "abc"},
        INF,
    ]


@pytest.mark.parametrize(
    "value",
    [2**63, -(2**63) - 1, {2**64: 1}, {1.5: 1}, {None: 1}, {True: 1}, {1, 2}, object()],
    ids=repr,
)
def test_what_php_cannot_hold_is_an_encode_error(value: Any) -> None:
    with pytest.raises(EncodeError, match="php serializer cannot encode argument 1"):
        php_serializer().serialize(["ok", value])


def test_deep_and_cyclic_values_meet_the_depth_limit_not_recursion() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    deep: Any = None
    for _ in range(100_000):
        deep = [deep]
    for value in (cycle, deep):
        with pytest.raises(EncodeError, match="nest deeper than the limit of 128"):
            php_serializer().serialize([value])
    lenient = php_serializer(max_depth=200_000)
    [frame] = lenient.serialize([deep])
    # Compared as bytes: == on 100,000 levels would recurse itself.
    assert lenient.serialize(lenient.unserialize([frame])) == [frame]


# --- hostile frames: each a DecodeError that says what and at which byte

HOSTILE: list[tuple[str, bytes, str]] = [
    ("object", b'a:1:{i:0;O:8:"stdClass":0:{}}', r"an object \(O:\) at byte 9 is refused"),
    ("object at the top", b'O:8:"stdClass":1:{s:1:"a";i:1;}', r"object \(O:\) at byte 0"),
    ("custom object", b'C:11:"ArrayObject":0:{}', r"custom-serialized object \(C:\) at byte 0"),
    ("enum", b'E:11:"Suit:Hearts";', r"an enum \(E:\) at byte 0"),
    ("reference", b"a:2:{i:0;i:1;i:1;R:2;}", r"a reference \(R:\) at byte 17"),
    ("object reference", b"a:2:{i:0;a:0:{}i:1;r:2;}", r"a reference \(r:\) at byte 19"),
    ("escaped string", b'S:1:"\\61";', r"escaped string \(S:\) at byte 0"),
    ("unknown type", b"x:1;", r"unexpected b'x:1;' at byte 0"),
    ("empty frame", b"", "an empty frame holds no value"),
    ("string of 4 GiB", b's:4294967295:"abc";', "declares 4294967295 bytes; the frame has room"),
    ("string of 10**5000", b"s:" + b"9" * 5000 + b':"a";', r"declares 9{24}\.\.\. bytes"),
    ("array of 4 G", b"a:4294967295:{i:0;N;}", "declares 4294967295 elements"),
    ("100k nested", b"a:1:{i:0;" * 100_000 + b"N;" + b"}" * 100_000, "limit of 128 .at byte 1152"),
    ("int beyond 64 bits", b"i:9223372036854775808;", "int at byte 0 is beyond 64 bits"),
    ("int of 5000 digits", b"i:" + b"9" * 5000 + b";", "more digits than a 64-bit int"),
    ("string too short", b's:5:"abc";', r"string at byte 0 declares 5 bytes"),
    ("string too long", b's:2:"abc";', r"string at byte 0 is not closed by '\";' at byte 7"),
    ("array key", b"a:1:{a:0:{}i:1;}", "array key at byte 5 is not an int or a string"),
    ("float key", b"a:1:{d:1;i:1;}", "array key at byte 5"),
    ("more than declared", b"a:1:{i:0;N;i:1;N;}", "declares 1 element.s.; byte 11 holds more"),
    ("fewer than declared", b"a:2:{i:0;N;}" + b"N;" * 3, "closes at byte 11 after 1"),
    ("stray close", b"}", "unexpected } at byte 0: no array is open"),
    ("truncated", b'a:2:{i:0;s:1:"x";i:1;', "the frame ends at byte 21"),
    ("bool 2", b"b:2;", "malformed bool at byte 0"),
    ("float garbage", b"d:1.5.5;", "malformed float at byte 0"),
    ("bytes after the value", b"N;i:1;", "4 bytes after the value, from byte 2"),
]


@pytest.mark.parametrize(("frame", "reason"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_frame_is_a_decode_error_naming_the_byte(frame: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason) as info:
        php_serializer().unserialize([b"N;", frame])
    assert info.value.frame == 1 and info.value.serializer == "php"


def test_item_budget_counts_every_array_of_the_frame() -> None:
    serializer = php_serializer(max_items=10)
    assert serializer.max_items == 10
    ten = serializer.serialize([[list(range(3)), list(range(4))]])  # 1 + 2 + 3 + 4 items
    assert serializer.unserialize(ten) == [[list(range(3)), list(range(4))]]
    eleven = serializer.serialize([[list(range(4)), list(range(4))]])
    with pytest.raises(DecodeError, match=r"over the limit max_items=10 \(the array at byte"):
        serializer.unserialize(eleven)
    keys = serializer.serialize([{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}])  # 1 + 5 + 5 keys
    with pytest.raises(DecodeError, match="max_items=10"):
        serializer.unserialize(keys)
    assert php_serializer().max_items == 1_000_000


# --- fuzzing with PHP's own tokens, hostile ones included

TOKENS = [b"N;", b"b:1;", b"i:-3;", b"d:0.5;", b"d:NAN;", b's:1:"x";', b"s:3:", b'"', b";"]
TOKENS += [b"a:0:{}", b"a:1:{", b"a:2:{", b"}", b"i:0;", b'O:8:"stdClass":0:{}', b"R:1;", b"r:1;"]
TOKENS += [b'E:3:"A:B";', b"s:99999999999:", b"a:99999999999:{", b"i:99999999999999999999;"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS) | st.binary(max_size=3), max_size=30))
def test_fuzz_token_soup_decodes_or_is_a_decode_error(tokens: list[bytes]) -> None:
    serializer = php_serializer(max_depth=8, max_items=50)
    frame = b"".join(tokens)
    try:
        [value] = serializer.unserialize([frame])
    except DecodeError as exc:
        assert exc.frame == 0
        assert "byte" in exc.reason or "empty frame" in exc.reason, exc.reason
        return
    # Whatever is read is plain data, and written again it reads the same.
    assert strictly(serializer.unserialize(serializer.serialize([value]))) == strictly([value])


# --- against PHP itself


def php() -> str:
    found = shutil.which("php")
    if found is None:
        pytest.skip("php-cli is not installed (the test script installs php-cli when root)")
    return found


def run_php(mode: str, lines: list[str]) -> list[str]:
    done = subprocess.run(
        [php(), str(PHP_DIR / "serialize_lines.php"), mode],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.splitlines()


def test_php_writes_the_vectors() -> None:
    values = ", ".join(php_expression for _, php_expression, _ in VECTORS)
    code = f'foreach ([{values}] as $v) {{ echo bin2hex(serialize($v)), "\\n"; }}'
    done = subprocess.run(
        [php(), "-r", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == [frame.hex() for _, _, frame in VECTORS]


def random_floats(count: int) -> list[float]:
    """Doubles from random bit patterns (every exponent, NaN and infinities too), and
    random decimals."""
    rng = random.Random(11)
    values: list[float] = []
    while len(values) < count:
        values.append(struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0])
        values.append(round(rng.uniform(-1e6, 1e6), rng.randint(0, 8)))
    return values


def test_php_and_we_write_the_same_bytes_for_random_floats() -> None:
    values = [value for value in random_floats(4000) if not math.isnan(value)]
    theirs = run_php("float", [struct.pack("<d", value).hex() for value in values])
    ours = [frame.decode() for frame in php_serializer().serialize(values)]
    assert [(v, o, t) for v, o, t in zip(values, ours, theirs, strict=True) if o != t] == []


def random_payload(rng: random.Random, depth: int = 0) -> Any:
    """A random value of everything PHP arrays hold, lists and maps nested."""
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-(2**63), 2**63 - 1)
    if kind == 2:
        return rng.choice(random_floats(50))
    if kind == 3:
        return "".join(rng.choice('ab"; при😀\x00{}') for _ in range(rng.randrange(8)))
    if kind == 4:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(6)))
    if kind == 5:
        return rng.randrange(-5, 5)
    if kind in (6, 7):
        return [random_payload(rng, depth + 1) for _ in range(rng.randrange(5))]
    keys = [rng.choice([rng.randrange(-3, 8), "k" + str(rng.randrange(9)), "ü"]) for _ in range(4)]
    return {key: random_payload(rng, depth + 1) for key in keys}


def test_php_unserializes_our_bytes_and_writes_them_back_identical() -> None:
    # Python -> PHP -> Python, byte for byte: PHP's unserialize reads what we write,
    # and its serialize of that gives our bytes again.
    rng = random.Random(7)
    values = [value for value, _, _ in VECTORS] + [float("nan")]
    values += [random_payload(rng) for _ in range(300)]
    ours = php_serializer().serialize(values)
    assert run_php("reserialize", [frame.hex() for frame in ours]) == [f.hex() for f in ours]


# PHP's unserialize refuses these too; it reads the others of HOSTILE (objects as
# __PHP_Incomplete_Class, references, 64-bit overflow and trailing bytes with a
# warning, nesting up to 4096), where this serializer is stricter.
PHP_REFUSES_TOO = ["unknown type", "empty frame", "string of 4 GiB", "string of 10**5000"]
PHP_REFUSES_TOO += ["array of 4 G", "string too short", "string too long", "array key"]
PHP_REFUSES_TOO += ["float key", "more than declared", "fewer than declared", "stray close"]
PHP_REFUSES_TOO += ["truncated", "bool 2", "float garbage"]


def test_php_refuses_them_too() -> None:
    frames = [frame for label, frame, _ in HOSTILE if label in PHP_REFUSES_TOO]
    assert len(frames) == len(PHP_REFUSES_TOO)
    assert run_php("reserialize", [frame.hex() for frame in frames]) == ["refused"] * len(frames)


# --- a real PHP peer sends serialize() frames over php-zmq

FAST = {"LINGER": 3000, "SNDTIMEO": 10000, "RCVTIMEO": 10000}
SENT_BY_PHP = [
    [None, True, False, 0, 42, -7, PHP_INT_MAX, -PHP_INT_MAX - 1],
    [1.0, 0.1, -0.0, 1e25, 3e-7, 1e16, 5e-324, INF, -INF],
    ["при/вет", "", b"bin\x00\xff", 'quote " and ";'],
    [[1, 2, 3], [], {"a": 1, "b": [True, None]}, {5: "x", "k": 2.5}, {1: "a", 0: "b"}],
]


def php_with_zmq() -> str:
    binary = php()
    modules = subprocess.run([binary, "-m"], capture_output=True, text=True, check=True)
    if "zmq" not in modules.stdout.split():
        pytest.skip("php-zmq is not installed (the test script installs php-zmq when root)")
    return binary


@pytest.mark.parametrize(("php_type", "python_type"), [("DEALER", "DEALER"), ("PUSH", "PULL")])
def test_php_process_sends_serialized_frames_to_a_python_service(
    php_type: str, python_type: str, spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    binary = php_with_zmq()
    options = {
        "socket_type": python_type,
        "bind": ipc("php-serialized"),
        "serializer": "php",
        "socket_options": FAST,
    }
    child = spawn(procs.serve, options, queue, ("php.*",))
    [endpoint] = take(queue, "ready")[1]
    subprocess.run(
        [binary, str(PHP_DIR / "send_serialized.php"), endpoint, php_type],
        timeout=procs.WAIT,
        check=True,
    )
    received = [take(queue, "event") for _ in SENT_BY_PHP]
    assert strictly(received) == strictly([("event", "php.values", p) for p in SENT_BY_PHP])
    _, stats, _ = take(queue, "stopped")
    assert stats["decode_errors"] == 0
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_python_listener_sends_frames_that_php_unserializes_byte_for_byte(
    spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    binary = php_with_zmq()
    endpoint = ipc("php-receives")
    rng = random.Random(5)
    payloads = [*SENT_BY_PHP, [float("nan"), *(random_payload(rng) for _ in range(20))]]
    events = [("php.values", payload) for payload in payloads]
    script = str(PHP_DIR / "receive_serialized.php")
    with subprocess.Popen(
        [binary, script, endpoint, str(len(events))], stdout=subprocess.PIPE, text=True
    ) as peer:
        try:
            assert peer.stdout is not None and peer.stdout.readline() == "ready\n"
            options = {
                "socket_type": "PUSH",
                "connect": endpoint,
                "serializer": "php",
                "socket_options": FAST,
            }
            child = spawn(procs.push, options, events, queue)
            assert [take(queue, "pushed") for _ in events] == [
                ("pushed", event, True) for event, _ in events
            ]
            out, _ = peer.communicate(timeout=procs.WAIT)
        finally:
            peer.kill()
    assert peer.returncode == 0
    # What PHP read, written again by PHP, is what we sent: every frame byte for byte.
    sent = [frame.hex() for payload in payloads for frame in php_serializer().serialize(payload)]
    lines = [line.split(" ") for line in out.splitlines()]
    assert [line[0] for line in lines] == [event for event, _ in events]
    assert [frame for line in lines for frame in line[1:]] == sent
    child.join(procs.WAIT)
    assert child.exitcode == 0
