"""The cost of the limits on received messages (issue 10) on the single-thread path,
beside the same path without them, measured in the same run.

    .venv/bin/python bench/bench_limits.py [--number N] [--repeats R]

1. ``message(frames)``, the codec's decode of one received event (a name and one
   order frame), per serializer, with the name and frame-count checks, against a
   socket whose ``decode`` is the one from before the limits.
2. ``EventService.handle(socket, frames)``, the whole per-message path of a service
   (decode, the reserved-event check, the fire to one listener), the same two ways.
3. ZeroMQ's ``MAXMSGSIZE``: raw pyzmq moving the same frames PUSH -> PULL over
   inproc, with the 16 MiB limit set on the receiver and without (-1).

Ratios: with / without; 1.00x is free. Target (issue 10): the limits within 5 % of
the path without them. Both sides run in short interleaved rounds and each figure
is the fastest round (the machine is shared: slower rounds measure other work);
the garbage collector is off while timing. A missed target is printed, never an
exit status.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import zmq

from zeroevents_core import Dispatcher, EventService, EventSocket, get_serializer
from zeroevents_core.errors import DecodeError

ORDER = {
    "id": 12345,
    "customer": {"id": "6f1c1f5e", "name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [{"sku": "BOO-1001", "quantity": 1, "price": 12.5}],
    "total": 12.5,
    "currency": "EUR",
}
EVENT = b"orders.created"
TARGET = 1.05


class Unlimited(EventSocket):
    """The baseline: ``decode`` as it was before the limits."""

    def decode(self, frames: Sequence[bytes]) -> tuple[str, list[Any]]:
        try:
            event = frames[0].decode()
            if not event:
                raise IndexError
            return event, self._serializer.unserialize(frames[1:])
        except (IndexError, UnicodeDecodeError, DecodeError) as exc:
            raise self._locate(exc) from None


def timed(run: Callable[[], None], number: int) -> float:
    """Nanoseconds per call of ``run``, which makes ``number`` calls."""
    gc.disable()
    try:
        start = time.perf_counter()
        run()
        return (time.perf_counter() - start) * 1e9 / number
    finally:
        gc.enable()


def compare(
    label: str, with_limits: Callable[[], None], without: Callable[[], None], args: Any
) -> float:
    # Interleaved in short rounds, the order alternating, so that a change of load
    # hits both sides alike; the fastest round of each is its cost on this machine
    # (the slower ones measure the other work that ran at the same time).
    limited, unlimited = [], []
    for round_ in range(args.repeats):
        pair = [(limited, with_limits), (unlimited, without)]
        for results, run in pair if round_ % 2 else reversed(pair):
            results.append(timed(run, args.number))
    a, b = min(limited), min(unlimited)
    ratio = a / b
    verdict = "ok" if ratio <= TARGET else "MISSED"
    print(f"  {label:<34} {a:>9,.0f} {b:>9,.0f}   {ratio:>5.2f}x  {verdict}")
    return ratio


def codec_and_service(context: zmq.Context[Any], serializer: str, args: Any) -> list[float]:
    frames = [EVENT, get_serializer(serializer).dumps(ORDER)]
    limited = EventSocket(context, zmq.PULL, serializer=serializer)
    unlimited = Unlimited(context, zmq.PULL, serializer=serializer)
    dispatcher = Dispatcher()
    dispatcher.listen("orders.*", lambda order: None)
    service = EventService(dispatcher)
    batch = range(args.number)

    def decode_with(socket: Any) -> Callable[[], None]:
        message = socket.message

        def run() -> None:
            for _ in batch:
                message(frames)

        return run

    def handle_with(socket: Any) -> Callable[[], None]:
        handle = service.handle

        def run() -> None:
            for _ in batch:
                handle(socket, frames)

        return run

    ratios = [
        compare(f"message(), {serializer}", decode_with(limited), decode_with(unlimited), args),
        compare(
            f"service handle(), {serializer}", handle_with(limited), handle_with(unlimited), args
        ),
    ]
    assert service.stats.fired == service.stats.received, "the bench must fire every event"
    limited.close()
    unlimited.close()
    return ratios


def maxmsgsize(context: zmq.Context[Any], args: Any) -> float:
    frames = [EVENT, get_serializer("json").dumps(ORDER)]
    pairs = {}
    for limit in (16 * 1024 * 1024, -1):
        pull = context.socket(zmq.PULL)
        pull.setsockopt(zmq.MAXMSGSIZE, limit)
        pull.setsockopt(zmq.RCVHWM, 0)
        pull.bind(f"inproc://bench-limits-{limit}")
        push = context.socket(zmq.PUSH)
        push.setsockopt(zmq.SNDHWM, 0)
        push.connect(f"inproc://bench-limits-{limit}")
        pairs[limit] = (push, pull)

    def move(limit: int) -> Callable[[], None]:
        push, pull = pairs[limit]

        def run() -> None:
            for _ in range(args.number):
                push.send_multipart(frames)
            for _ in range(args.number):
                pull.recv_multipart()

        return run

    ratio = compare("raw pyzmq, MAXMSGSIZE 16 MiB / -1", move(16 * 1024 * 1024), move(-1), args)
    for push, pull in pairs.values():
        push.close(linger=0)
        pull.close(linger=0)
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=5_000, help="calls per round")
    parser.add_argument("--repeats", type=int, default=30, help="rounds per side")
    args = parser.parse_args()
    started = time.perf_counter()
    print(
        f"the limits on received messages, ns per message (fastest of {args.repeats} "
        f"interleaved rounds of {args.number:,}), Python {sys.version.split()[0]}"
    )
    print(f"  {'path':<34} {'limits':>9} {'without':>9}   ratio  (target <= {TARGET:.2f}x)")
    context: zmq.Context[Any] = zmq.Context()
    ratios = []
    for serializer in ("json", "msgpack", "cbor"):
        try:
            get_serializer(serializer)
        except Exception:
            print(f"  ({serializer}: not installed, skipped)")
            continue
        ratios += codec_and_service(context, serializer, args)
    ratios.append(maxmsgsize(context, args))
    context.term()
    missed = sum(ratio > TARGET for ratio in ratios)
    print(f"({time.perf_counter() - started:.1f} s; {missed} of {len(ratios)} over the target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
