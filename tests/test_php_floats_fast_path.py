"""needs_php_rewrite, the json encoder's fast path: a frame it lets through unchanged
must be PHP's bytes already (what php_json would write), and common events take it."""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import orjson
import pytest

from zeroevents_core.serializers.php_floats import needs_php_rewrite, php_json

SHAPES = [1.0, -2.0, 1e25, 3e-7, 1e-7, 1e16, 1e17, 0.00001234, 1.5, 12.5, 1e-5, 5e-324]
TEXTS = ["6f1c1f5e-8d2b-4c8e", "5e-8", "x 1e-5, y", "1.0", "e+1}", "\u2028", 'a\\"1.0]', ""]


def values(seed: int, count: int) -> list[Any]:
    rnd = random.Random(seed)
    out: list[Any] = []
    while len(out) < count:
        number = struct.unpack("<d", rnd.randbytes(8))[0]
        if number != number or number in (float("inf"), float("-inf")):
            continue
        text = "".join(rnd.choice(TEXTS) for _ in range(rnd.randint(0, 3)))
        out.append(number)
        out.append([rnd.choice(SHAPES), number])
        out.append({"s": text, "n": rnd.choice(SHAPES), "i": rnd.randint(-99, 99)})
        out.append({"price": round(rnd.uniform(0, 1000), rnd.randint(0, 3)), "s": text})
    return out


def encodings(value: Any) -> list[bytes]:
    stdlib = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return [orjson.dumps(value), stdlib.encode()]


@pytest.mark.parametrize("seed", [1, 2])
def test_a_frame_let_through_is_already_phps_bytes(seed: int) -> None:
    let_through = 0
    for value in values(seed, 6_000):
        for frame in encodings(value):
            if not needs_php_rewrite(frame):
                let_through += 1
                assert php_json(frame.decode()).encode() == frame, frame
    assert let_through > 1_000  # the fast path is exercised, not only the rewrite


@pytest.mark.parametrize(
    "value",
    [1.0, [2.0], {"a": 3.0}, 1e25, [1e-7], {"a": 0.00001234}, "\u2028", [1e16]],
)
def test_each_shape_php_writes_otherwise_is_rewritten(value: Any) -> None:
    for frame in encodings(value):
        if php_json(frame.decode()).encode() != frame:
            assert needs_php_rewrite(frame), frame


def test_an_order_with_a_uuid_and_plain_floats_takes_the_fast_path() -> None:
    order = {
        "customer": {"id": "6f1c1f5e-8d2b-4c8e-9a51-6c1f1d1e2a3b"},
        "items": [{"price": 12.5}, {"price": 1.2}],
        "total": 16.1,
        "note": "e-mail 5e-8d",
    }
    for frame in encodings(order):
        assert not needs_php_rewrite(frame)
