"""Encode + decode time per event for a typical order payload, per serializer.

    .venv/bin/python bench/bench_serializers.py [--number N] [--repeat R]

Each serializer encodes the payload into frames and decodes them back (the work one
event costs the sender plus the receiver); the best of R runs of N events is shown
in ns per event, with the ratio to the core ``json`` serializer (on orjson when the
``fast`` extra is installed; ``json-stdlib`` is the same serializer without it).
Serializers that are not installed are skipped.

A decode table shows, per serializer, the decode of the order's frame by the
serializer (decode budget and strict checks included) against the raw library
(``json.loads``, ``orjson.loads``, ``msgpack.unpackb``, ``cbor2.loads``) in the same
run, and the same for a hostile frame of ``--hostile-mb`` MB (4 by default; 16, the
frame size limit, is the issue's case) of empty containers: refused by the budget,
built whole by the raw library (at 16 MB, seconds and about a GB of memory each;
``--hostile-mb 0`` skips it).

A last table shows what writing PHP's float layout costs the ``json`` encoder:
its ``dumps`` against raw ``json.dumps`` (same settings) in the same run, for the
order without floats or "." (the fast path: substring scans), without floats but
with "." in strings (split on quotes, nothing rewritten) and with floats.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import timeit
from collections.abc import Callable
from typing import Any

from zeroevents_core import UnknownPluginError, get_serializer

# json-stdlib: the json serializer without its orjson accelerator (accelerated=False).
NAMES = ["json", "json-stdlib", "orjson", "msgpack", "cbor", "php"]

ORDER: dict[str, Any] = {
    "id": 918273,
    "customer": {"id": 42, "name": "Ada Lovelace", "email": "ada@example.com", "vip": True},
    "items": [
        {"sku": "BK-1843", "name": "Notes on the Analytical Engine", "qty": 1, "price": 24.5},
        {"sku": "PN-0007", "name": "Fountain pen", "qty": 2, "price": 9.99},
        {"sku": "IN-0100", "name": "Ink, blue", "qty": 3, "price": 3.25},
    ],
    "total": 54.23,
    "currency": "EUR",
    "timestamp": "2024-05-01T12:34:56.789Z",
}


def measure(name: str, number: int, repeat: int) -> tuple[float, int]:
    if name == "json-stdlib":
        serializer = get_serializer("json", accelerated=False)
    else:
        serializer = get_serializer(name)
    payload = [ORDER]
    frames = serializer.serialize(payload)
    assert serializer.unserialize(frames) == payload, name

    def one_event() -> None:
        serializer.unserialize(serializer.serialize(payload))

    best = min(timeit.repeat(one_event, number=number, repeat=repeat))
    return best / number * 1e9, len(frames[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hostile-mb", type=int, default=4)
    args = parser.parse_args()

    results: dict[str, tuple[float, int]] = {}
    for name in NAMES:
        try:
            results[name] = measure(name, args.number, args.repeat)
        except UnknownPluginError:
            print(f"{name}: not installed, skipped")
    baseline = results["json"][0]
    print(f"{'serializer':<11} {'ns/event':>10} {'vs json':>8} {'frame bytes':>12}")
    for name, (ns, size) in results.items():
        print(f"{name:<11} {ns:>10,.0f} {ns / baseline:>7.2f}x {size:>12}")
    measure_decode(args.number, args.repeat, args.hostile_mb)
    measure_php_layout(args.number, args.repeat)


def raw_decoders() -> dict[str, Callable[[bytes], Any]]:
    decoders: dict[str, Callable[[bytes], Any]] = {"json": json.loads}
    try:
        import orjson

        decoders["orjson"] = orjson.loads
    except ImportError:
        pass
    try:
        import msgpack  # type: ignore[import-untyped]

        decoders["msgpack"] = lambda frame: msgpack.unpackb(
            frame, raw=False, max_array_len=len(frame), max_map_len=len(frame)
        )
    except ImportError:
        pass
    try:
        import cbor2

        decoders["cbor"] = cbor2.loads
    except ImportError:
        pass
    return decoders


def hostile_frame(name: str, megabytes: int) -> bytes:
    """About ``megabytes`` MB of empty arrays, in the serializer's encoding."""
    count = megabytes * 1_000_000
    if name in ("json", "orjson"):
        count //= 3
        return b"[" + b"[]," * count + b"[]]"
    if name == "msgpack":
        per = count // 15  # a fixarray of 15 arrays, each within max_items entries
        per = min(per, 999_000)
        return bytes([0x90 + 15]) + (b"\xdd" + per.to_bytes(4, "big") + b"\x90" * per) * 15
    return b"\x9f" + b"\x80" * count + b"\xff"


def once(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    with contextlib.suppress(Exception):  # the budget refuses it: that is what is measured
        call()
    return time.perf_counter() - started


def measure_decode(number: int, repeat: int, hostile_mb: int) -> None:
    print(f"\n{'decode':<10} {'raw ns':>9} {'ours ns':>9} {'ratio':>7}", end="")
    print(f"   {'hostile MB':>10} {'raw s':>7} {'ours s':>7} {'ratio':>7}" if hostile_mb else "")
    for name, raw in raw_decoders().items():
        print(decode_row(name, raw, number, repeat, hostile_mb))


def decode_row(
    name: str, raw: Callable[[bytes], Any], number: int, repeat: int, hostile_mb: int
) -> str:
    serializer = get_serializer(name)
    frame = serializer.dumps(ORDER)
    base = min(timeit.repeat(lambda: raw(frame), number=number, repeat=repeat))
    mine = min(timeit.repeat(lambda: serializer.loads(frame), number=number, repeat=repeat))
    base_ns, mine_ns = base / number * 1e9, mine / number * 1e9
    line = f"{name:<10} {base_ns:>9,.0f} {mine_ns:>9,.0f} {mine_ns / base_ns:>6.2f}x"
    if hostile_mb:
        big = hostile_frame(name, hostile_mb)
        ours = get_serializer(name, max_frame_size=len(big) + 1)
        raw_s = once(lambda: raw(big))
        ours_s = once(lambda: ours.unserialize([big]))
        size = len(big) / 1e6
        line += f"   {size:>10.1f} {raw_s:>7.2f} {ours_s:>7.2f} {ours_s / raw_s:>6.2f}x"
    return line


def without_floats(value: Any, dots: bool = True) -> Any:
    """The order with prices in cents (and, unless ``dots``, no "." in its strings)."""
    if isinstance(value, float):
        return int(value * 100)
    if isinstance(value, str) and not dots:
        return value.replace(".", "_")
    if isinstance(value, list):
        return [without_floats(item, dots) for item in value]
    if isinstance(value, dict):
        return {key: without_floats(item, dots) for key, item in value.items()}
    return value


def measure_php_layout(number: int, repeat: int) -> None:
    ours = get_serializer("json").dumps
    raw = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    print(f"\n{'json encode':<16} {'json.dumps ns':>14} {'json ns':>10} {'ratio':>7}")
    cases = [
        ("no float, no dot", without_floats(ORDER, dots=False)),
        ("no float", without_floats(ORDER)),
        ("with floats", ORDER),
    ]
    for label, value in cases:
        base = min(timeit.repeat(lambda v=value: raw(v).encode(), number=number, repeat=repeat))
        mine = min(timeit.repeat(lambda v=value: ours(v), number=number, repeat=repeat))
        base_ns, mine_ns = base / number * 1e9, mine / number * 1e9
        print(f"{label:<16} {base_ns:>14,.0f} {mine_ns:>10,.0f} {mine_ns / base_ns:>6.2f}x")


if __name__ == "__main__":
    main()
