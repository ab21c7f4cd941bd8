"""The json serializer writes PHP's bytes: floats as serialize_precision=-1, U+2028/U+2029.

The vector tests always run; the PHP tests run the original's ``json_encode``
(php-cli, installed by the test script where it can be) over the same values.
"""

from __future__ import annotations

import decimal
import json
import math
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from zeroevents_core import DecodeError, get_serializer
from zeroevents_core.serializers.json import json_depth

# Every test twice: the json serializer on orjson, and on the stdlib alone.
pytestmark = pytest.mark.usefixtures("json_mode")
PHP_SCRIPT = Path(__file__).parent / "php" / "json_lines.php"

# (value, what PHP 8.2 writes): checked against php itself in test_php_writes_the_table.
FLOAT_TABLE = [
    (1.0, "1"),
    (100.0, "100"),
    (1e25, "1.0e+25"),
    (3e-7, "3.0e-7"),
    (1e16, "10000000000000000"),
    (-0.0, "-0"),
    (0.0, "0"),
    (1e100, "1.0e+100"),
    (1e17, "1.0e+17"),
    (99999999999999990.0, "99999999999999980"),
    (12345678901234567.0, "12345678901234568"),
    (1.5, "1.5"),
    (-2.5e-10, "-2.5e-10"),
    (0.1, "0.1"),
    (0.0001, "0.0001"),
    (0.00001, "1.0e-5"),
    (0.001234, "0.001234"),
    (123.456, "123.456"),
    (1.2345e20, "1.2345e+20"),
    (1 / 3, "0.3333333333333333"),
    (5e-324, "5.0e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
]


def encode(value: object) -> bytes:
    [frame] = get_serializer("json").serialize([value])
    return frame


@pytest.mark.parametrize(("value", "php"), FLOAT_TABLE, ids=repr)
def test_floats_written_as_php_writes_them(value: float, php: str) -> None:
    assert encode(value) == php.encode()
    assert encode([value, {"k": value}]) == f'[{php},{{"k":{php}}}]'.encode()
    # Read back: the same shortest digits (an int where PHP left no fraction).
    [back] = get_serializer("json").unserialize([encode(value)])
    assert decimal.Decimal(repr(value)) == decimal.Decimal(repr(back))


def test_numbers_inside_strings_are_left_alone() -> None:
    value = ['1.0 "2.0" 1e+25 \\', 3.0, "x\\", 1e-07]
    assert encode(value) == b'["1.0 \\"2.0\\" 1e+25 \\\\",3,"x\\\\",1.0e-7]'


def test_line_separators_are_escaped_as_php_does() -> None:
    # PHP escapes these two even with JSON_UNESCAPED_UNICODE; other non-ASCII stays raw.
    assert encode("a\u2028b\u2029é/") == '"a\\u2028b\\u2029é/"'.encode()
    assert get_serializer("json").unserialize([encode("a\u2028b\u2029")]) == ["a\u2028b\u2029"]


def test_payload_without_floats_is_plain_json_dumps() -> None:
    value = {"id": 17, "tags": ["v1.2", "3e5"], "ok": True, "n": None}
    assert encode(value) == json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize("name", ["json", "orjson"])
def test_empty_frame_reads_as_null_as_php_does(name: str) -> None:
    # PHP sends an empty frame when json_encode fails; its json_decode reads null.
    assert get_serializer(name).unserialize([b"1", b"", b"2"]) == [1, None, 2]


@pytest.mark.parametrize("name", ["json", "orjson"])
def test_nesting_limit_is_php_json_decode_s(name: str) -> None:
    # PHP (depth 512) reads 511 nested arrays/objects and refuses 512.
    serializer = get_serializer(name)
    assert serializer.max_depth == 511
    deepest = [b"[" * 511 + b"1" + b"]" * 511, b'{"a":' * 511 + b"1" + b"}" * 511]
    assert len(serializer.unserialize(deepest)) == 2
    with pytest.raises(DecodeError, match="frame 0"):
        serializer.unserialize([b"[" * 512 + b"]" * 512])


def test_php_reads_the_same_nesting() -> None:
    lines = [
        "[" * 511 + "1" + "]" * 511,
        "[" * 512 + "1" + "]" * 512,
        "[" * 510 + "{}" + "]" * 510,
        "[" * 511 + "{}" + "]" * 511,
    ]
    php = run_php("depth", lines)
    ours = ["ok" if json_depth(line.encode()) <= 511 else "refused" for line in lines]
    assert php == ours == ["ok", "refused", "ok", "refused"]


# --- against PHP itself


def run_php(mode: str, lines: list[str]) -> list[str]:
    php = shutil.which("php")
    if php is None:
        pytest.skip("php-cli is not installed (the test script installs php-cli when root)")
    done = subprocess.run(
        [php, str(PHP_SCRIPT), mode],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.splitlines()


def random_floats(count: int) -> list[float]:
    """Finite doubles from random bit patterns (all exponents), plus random decimals."""
    rng = random.Random(11)
    values: list[float] = []
    while len(values) < count:
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(value):
            values += [value, round(rng.uniform(-1e6, 1e6), rng.randint(0, 8))]
    return values


def test_php_writes_the_table() -> None:
    values = [value for value, _ in FLOAT_TABLE]
    php = run_php("encode", [struct.pack("<d", value).hex() for value in values])
    assert php == [encode(value).decode() for value in values]


def test_php_and_json_write_the_same_bytes_for_random_floats() -> None:
    values = random_floats(4000)
    php = run_php("encode", [struct.pack("<d", value).hex() for value in values])
    mismatches = [
        (value, ours, theirs)
        for value, ours, theirs in zip(values, map(encode, values), php, strict=True)
        if ours.decode() != theirs
    ]
    assert mismatches == []


def test_php_reads_our_bytes_as_we_read_them() -> None:
    # Decoded then encoded again, by PHP and by us: the same bytes ("-0" reads as int 0
    # on both sides, so it comes back as "0").
    values = [*(value for value, _ in FLOAT_TABLE), *random_floats(200)]
    ours = [encode([value, "\u2028", {"f": value}]) for value in values]
    again = [encode(get_serializer("json").unserialize([frame])[0]).decode() for frame in ours]
    assert run_php("reencode", [frame.decode() for frame in ours]) == again
