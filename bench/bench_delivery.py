"""The in-process cost per event of wire v2 and of the at-least-once engine, beside
today's v1 encode + decode of the same event, in the same run.

    .venv/bin/python bench/bench_delivery.py [--events N] [--repeat R] [--batch B]

For an order (with floats: the json serializer writes PHP's layout) and for a small
event, each row is the best of R runs of N events, in ns per event, with the ratio to the
v1 codec (the name frame and the json serializer, both ways: what a v1 sender and a
receiver pay per event today, sockets aside):

- v2 framing: the same event in the v2 envelope (a trace header included), encoded
  and decoded, payload through the serializer as in v1;
- engine: ``SendWindow.send`` and ``Deduplicator.seen`` per event, and per batch of B
  events the receiver's ``acks()``, their encoding and decoding, the sender's
  ``acknowledge`` and ``due``;
- engine, two receivers: the same with events dealt round-robin to two receivers
  (each acknowledges every other number: ranges of one);
- at-least-once: v2 framing plus engine, what the integration adds to a socket's
  per-event work.

Sockets are left out on purpose: the integration's budget is the end-to-end target of
issue 13 (at-least-once at 0.5x or more of unconfirmed v1 throughput, bench_e2e.py),
and this says how much of it the engine itself takes.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any

from zeroevents_core import get_serializer
from zeroevents_core.delivery import Deduplicator, SendWindow
from zeroevents_core.envelope import (
    Envelope,
    decode_ack,
    decode_event,
    encode_ack,
    encode_event,
    new_producer_id,
)

EVENT = "orders.created"
ORDER: dict[str, Any] = {
    "id": 918273,
    "customer": {"id": 42, "name": "Ada Lovelace", "email": "ada@example.com", "vip": True},
    "items": [{"sku": "BK-1843", "qty": 1, "price": 24.5}, {"sku": "PN-0007", "qty": 2}],
    "total": 54.23,
    "currency": "EUR",
}
PAYLOADS: dict[str, list[Any]] = {"an order (floats)": [ORDER], "a small event": [{"id": 1}]}
HEADERS = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}


def v1_codec(payload: list[Any]) -> Callable[[], None]:
    # What EventCodec.encode/decode do for v1, without a socket around them.
    serializer = get_serializer("json")

    def one() -> None:
        frames = serializer.serialize(payload)
        frames.insert(0, EVENT.encode())
        event = frames[0].decode()
        assert event
        serializer.unserialize(frames[1:])

    return one


def v2_framing(payload: list[Any]) -> Callable[[], None]:
    serializer = get_serializer("json")
    producer = new_producer_id()
    seq = iter(range(1, 2**62))

    def one() -> None:
        envelope = Envelope(producer, next(seq), "json", HEADERS, ack_requested=True)
        frames = encode_event(envelope, EVENT, serializer.serialize(payload))
        decoded = decode_event(frames)
        serializer.unserialize(decoded.frames)

    return one


def engine(batch: int, receivers: int) -> Callable[[], None]:
    producer = new_producer_id()
    sender: SendWindow[int] = SendWindow(window=max(1000, 2 * batch))
    dedups = [Deduplicator() for _ in range(receivers)]
    state = {"now": 0.0, "count": 0}

    def one() -> None:
        count = state["count"] = state["count"] + 1
        entry = sender.send(count, state["now"])
        dedup = dedups[count % receivers]
        if not dedup.seen(producer, entry.seq, reply_to=b"route"):
            pass  # fired here
        if dedup.ack_due or count % batch == 0:
            for each in dedups if count % batch == 0 else [dedup]:
                for _, ack in each.acks():
                    got = decode_ack(encode_ack(ack))
                    sender.acknowledge(got.cumulative, got.ranges)
            state["now"] += 1.0
            sender.due(state["now"])

    return one


def best_ns(
    makers: dict[str, Callable[[], Callable[[], None]]], events: int, repeat: int
) -> dict[str, float]:
    """ns per event, best of ``repeat``; the candidates take turns in each round, so
    that a load that comes and goes hits them alike."""
    runs: dict[str, list[float]] = {name: [] for name in makers}
    for _ in range(repeat):
        for name, make in makers.items():
            one = make()  # a fresh engine each run: numbers and windows from the start
            runs[name].append(timeit.timeit(one, number=events))
    return {name: min(times) / events * 1e9 for name, times in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    makers: dict[str, Callable[[], Callable[[], None]]] = {
        "engine, one receiver": partial(engine, args.batch, 1),
        "engine, two receivers": partial(engine, args.batch, 2),
    }
    for label, payload in PAYLOADS.items():
        makers[f"{label}: v1"] = partial(v1_codec, payload)
        makers[f"{label}: v2"] = partial(v2_framing, payload)
    ns = best_ns(makers, args.events, args.repeat)
    print(f"{args.events:,} events, best of {args.repeat}, acknowledgements every {args.batch}")
    for label in PAYLOADS:
        v1, v2 = ns[f"{label}: v1"], ns[f"{label}: v2"]
        rows = {
            "v1 codec (baseline)": v1,
            "v2 framing": v2,
            "engine, one receiver": ns["engine, one receiver"],
            "engine, two receivers": ns["engine, two receivers"],
            "at-least-once (v2 + engine)": v2 + ns["engine, one receiver"],
        }
        print(f"\n{label}")
        print(f"{'per event':<30} {'ns':>8} {'vs v1 codec':>12}")
        for name, value in rows.items():
            print(f"{name:<30} {value:>8.0f} {value / v1:>11.2f}x")


if __name__ == "__main__":
    main()
