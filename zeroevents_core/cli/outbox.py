"""``zeroevents outbox``: look into an outbox file (``inspect``), deliver what it holds
and exit (``drain``)."""

from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Any

from ..errors import CommandError
from ._arguments import EXIT_OK, missing_subcommand, seconds
from ._transport import NeutralCommandLine, Selected, add_arguments, default_transport

# Default of ``drain --timeout``: how long the deliveries may take, all together.
DRAIN_TIMEOUT = 30.0


def cmd_outbox_inspect(args: argparse.Namespace) -> int:
    from ..outbox.store import inspect_outbox

    streams = inspect_outbox(args.path)
    now_ms = time.time() * 1000
    if args.json:
        document = {
            "path": args.path,
            "events": sum(stream.pending for stream in streams),
            "bytes": sum(stream.bytes for stream in streams),
            "destinations": [
                {
                    **stream._asdict(),
                    "oldest_age_s": _age(stream.oldest_created_ms, now_ms),
                }
                for stream in streams
            ],
        }
        print(json.dumps(document, indent=2))
        return EXIT_OK
    events = sum(stream.pending for stream in streams)
    size = sum(stream.bytes for stream in streams)
    count = len(streams)
    print(
        f"{args.path}: {events:,} event{'s' * (events != 1)} pending, {size:,} bytes, "
        f"{count} destination{'s' * (count != 1)}"
    )
    for stream in streams:
        age = _age(stream.oldest_created_ms, now_ms)
        oldest = "none" if age is None else f"#{stream.oldest_seq}, {age:.1f} s old"
        print(f"  {stream.destination}")
        print(
            f"    producer {stream.producer}  pending {stream.pending:,}  "
            f"bytes {stream.bytes:,}  oldest {oldest}  last #{stream.last_seq}"
        )
    return EXIT_OK


def cmd_outbox_drain(args: argparse.Namespace) -> int:
    from ..outbox.store import inspect_outbox

    if not args.debug:  # what is left is said below, once (the listener's close warns)
        for name in ("zeroevents_core.transports", "zeroevents_core.outbox.link"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

    streams = inspect_outbox(args.path)
    if args.connect or args.bind:
        streams = [_given_stream(args, streams)]
    streams = [stream for stream in streams if stream.pending]
    if not streams:
        print(f"{args.path}: nothing pending")
        return EXIT_OK
    listeners = _drain_listeners(args, streams)
    left: dict[str, int] = {}
    try:
        deadline = time.monotonic() + args.timeout
        for listener, _ in listeners:  # all deliver meanwhile, each in its thread
            listener.flush(max(0.0, deadline - time.monotonic()))
    finally:
        for listener, destination in listeners:
            left[destination] = listener.close()  # what is still in the file
    for stream in streams:
        delivered = stream.pending - left[stream.destination]
        print(f"{args.path}: {stream.destination}: {delivered:,} delivered and acknowledged, "
              f"{left[stream.destination]:,} pending")  # fmt: skip
    waiting = {destination: count for destination, count in left.items() if count}
    if waiting:
        total = sum(waiting.values())
        where = "; ".join(f"{count:,} for {destination}" for destination, count in waiting.items())
        raise CommandError(
            f"{total:,} event{'s' * (total != 1)} still pending after {args.timeout:g} s "
            f"({where}), kept in {args.path}: is a receiver up there? (raise --timeout)"
        )
    return EXIT_OK


def _given_stream(args: argparse.Namespace, streams: list[Any]) -> Any:
    """The stream of the destination that --connect/--bind name (none: an error that
    lists the file's, nothing created)."""
    from ..listener import resolve_options

    transport, checked = resolve_options(_options(args, args.connect, args.bind))
    destination = transport.where(checked)
    for stream in streams:
        if stream.destination == destination:
            return stream
    known = ", ".join(repr(stream.destination) for stream in streams) or "none"
    raise CommandError(f"{args.path} has no destination {destination!r} (it has: {known})")


def _options(args: argparse.Namespace, connect: list[str], bind: list[str]) -> dict[str, Any]:
    from ._transport import listener_options

    return {**listener_options(args), "connect": connect, "bind": bind, "outbox": args.path}


def _drain_listeners(args: argparse.Namespace, streams: list[Any]) -> list[tuple[Any, str]]:
    """A listener per stream, opened (its sender resends the rows at once): to the
    endpoints given, else to those its destination names."""
    from ..dispatcher import Dispatcher
    from ..listener import EventListener

    opened: list[tuple[Any, str]] = []
    try:
        for stream in streams:
            if args.connect or args.bind:
                connect, bind = args.connect, args.bind
            else:
                connect, bind = stream.destination.split(", "), []
            listener = EventListener(_options(args, connect, bind), Dispatcher())
            opened.append((listener, stream.destination))
            listener.socket()
    except BaseException:
        for listener, _ in opened:
            listener.close()
        raise
    return opened


def _age(created_ms: int | None, now_ms: float) -> float | None:
    return None if created_ms is None else round(max(0.0, now_ms - created_ms) / 1000, 3)


def add_parser(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """The ``outbox`` command and its subcommands."""
    outbox = commands.add_parser(
        "outbox", parents=[common], help="durable outboxes: look into one, drain one",
        description="Durable outboxes (the 'outbox' listener option): SQLite files of the "
        "events fired and not yet acknowledged.",
    )  # fmt: skip
    outbox_commands = outbox.add_subparsers(dest="outbox_command", title="commands")
    inspect = outbox_commands.add_parser(
        "inspect", parents=[common],
        help="counts, bytes and the oldest pending event, per destination",
        description="Read an outbox file (without writing to it, beside the process that "
        "uses it): per destination, its producer id, the events pending and their bytes, "
        "the oldest with its age, and the last sequence number given. A file that is not "
        "an outbox, or is corrupted, is an error naming it (exit 1).",
    )  # fmt: skip
    inspect.add_argument("path", metavar="PATH", help="the outbox file")
    inspect.add_argument("--json", action="store_true", help="one JSON document instead")
    inspect.set_defaults(run=cmd_outbox_inspect)
    drain = outbox_commands.add_parser(
        "drain", parents=[common], help="deliver every pending event, then exit",
        description="Open an outbox (no producer may have it open) and deliver its pending "
        "events with at-least-once, under their producer ids and numbers, deleting each "
        "once acknowledged. Without --connect/--bind, each destination's events go to the "
        "endpoints it names (connected to); with them, only that destination's. Exit 0 "
        "once every event is acknowledged; 1 when some are still pending after --timeout "
        "(they stay in the file, with the counts said), or the file is not an outbox.",
    )  # fmt: skip
    drain.add_argument("path", metavar="PATH", help="the outbox file")
    drain.add_argument(
        "--connect", action="append", default=[], metavar="EP",
        help="connect to EP (repeatable): the destination to drain",
    )  # fmt: skip
    drain.add_argument(
        "--bind", action="append", default=[], metavar="EP",
        help="bind to EP instead (repeatable), for a destination that was bound",
    )  # fmt: skip
    drain.add_argument(
        "--serializer", default="json", metavar="NAME",
        help="the serializer the producer fired with (default: json)",
    )  # fmt: skip
    drain.add_argument(
        "--timeout", type=seconds, default=DRAIN_TIMEOUT, metavar="SECONDS",
        help=f"how long the deliveries may take, all together (default: {DRAIN_TIMEOUT:g}); "
        "closing adds up to the listener's flush_timeout_ms",
    )  # fmt: skip
    name = default_transport()
    add_arguments(drain, "drain", Selected(name, (), NeutralCommandLine(name)))
    drain.set_defaults(run=cmd_outbox_drain, schemas=None, confirmed=False)
    outbox.set_defaults(run=lambda args: missing_subcommand(outbox))
