"""``zeroevents emit``: send one event, or JSON lines from stdin, to a socket."""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import CommandError, UsageError, ZeroEventsError
from . import _format
from ._arguments import (
    EXIT_OK,
    PROG,
    add_socket_arguments,
    non_negative_seconds,
    positive_int,
    seconds,
)
from ._transport import CommandLine, Selected, add_arguments, listener_options
from ._values import argument_payload, one_line, read_events

EMIT_TIMEOUT = 5.0

EMIT_EPILOG = """\
arguments:
  each ARG is one JSON literal: '{"id": 1}', 42, '"text"', true, null, '[1, 2]'.
  {"$bytes": BASE64} stands for bytes (for serializers that carry them).
  EVENT '-' reads JSON lines {"event": NAME, "payload": [ARG, ...]} from stdin
  and sends them all, in order ("address", as 'listen' prints it, is ignored).

exit status:
  0 once every event is sent and the transport's flush has succeeded; 1 timeout,
  contract violation (--schemas), bad JSON argument, unknown serializer, any runtime
  error; 2 bad usage.
"""


def add_parser(
    commands: argparse._SubParsersAction[Any],
    common: argparse.ArgumentParser,
    transport: Selected,
) -> None:
    emit = commands.add_parser(
        "emit", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EMIT_EPILOG + transport.command_line.help_notes("emit"),
        help="send one event (or JSON lines from stdin) to a socket",
        description="Send an event with its arguments, or a stream of events from stdin.",
    )  # fmt: skip
    emit.add_argument("event", metavar="EVENT", help="event name, or '-' to read stdin")
    emit.add_argument(
        "args", nargs="*", default=[], metavar="ARG", help="one JSON literal per argument"
    )
    emit.add_argument(
        "--text", action="store_true",
        help="each ARG is a plain string, not a JSON literal",
    )  # fmt: skip
    emit.add_argument(
        "--lines", action="store_true",
        help="send EVENT once per stdin line, the line (without its newline) as its one "
        "argument, a string",
    )  # fmt: skip
    emit.add_argument(
        "--count", type=positive_int, metavar="N",
        help="send the event N times, with {n} in EVENT and ARG replaced by 1 ... N",
    )  # fmt: skip
    add_socket_arguments(emit)
    emit.add_argument(
        "--confirmed", action="store_true",
        help="wait for each event's zeroevents.confirmed (dealer, pair)",
    )  # fmt: skip
    emit.add_argument(
        "--timeout", type=seconds, default=EMIT_TIMEOUT, metavar="SECONDS",
        help=f"how long each send, confirmation and the final delivery may wait "
        f"(default: {EMIT_TIMEOUT:g})",
    )  # fmt: skip
    emit.add_argument(
        "--settle", type=non_negative_seconds, metavar="SECONDS",
        help="wait after binding/connecting before sending, for subscribers to join "
        "(default: 0.5 on pub, 0 otherwise)",
    )  # fmt: skip
    add_arguments(emit, "emit", transport)
    emit.set_defaults(run=cmd_emit, selected=transport)


def _events_to_send(args: argparse.Namespace) -> Iterator[tuple[str, list[Any]]]:
    """The ``(event, payload)`` pairs of the command line; the first is checked
    before any socket opens, so a bad argument fails before anything is sent."""
    if args.event == "-":
        if args.args or args.text or args.lines or args.count:
            raise UsageError(
                "EVENT '-' reads JSON lines from stdin and takes no ARG, --text, --lines or --count"
            )
        return read_events(sys.stdin)
    if args.lines:
        if args.args or args.count:
            raise UsageError("--lines sends each stdin line as the one argument: no ARG or --count")
        return ((args.event, [line]) for line in _format.lines_of(sys.stdin))

    def payload(texts: Sequence[str]) -> list[Any]:
        return list(texts) if args.text else argument_payload(texts)

    numbered = _format.numbered([args.event, *args.args], args.count)
    _, (event, *texts) = next(numbered)
    first = (event, payload(texts))
    rest = ((event, payload(texts)) for _, (event, *texts) in numbered)
    return itertools.chain([first], rest)


class _Failed:
    """What the push error listener answers: the socket could not send."""


FAILED = _Failed()


def cmd_emit(args: argparse.Namespace) -> int:
    options = listener_options(args)
    command_line: CommandLine = args.selected.command_line
    command_line.prepare("emit", options, args.timeout)
    events = _events_to_send(args)

    from ..dispatcher import Dispatcher
    from ..listener import EventListener
    from ..transports.codec import PUSH_ERROR

    if not args.debug:  # what went wrong is said below, once
        logging.getLogger("zeroevents_core.transports").setLevel(logging.CRITICAL)
    timeout_ms = max(1, round(args.timeout * 1000))
    dispatcher = Dispatcher()
    dispatcher.listen(PUSH_ERROR, lambda *_: FAILED)
    listener = EventListener(options, dispatcher)
    where = command_line.where(options)
    kind = command_line.kind(options)
    sent = 0
    try:
        try:
            socket = listener.socket()
        except ZeroEventsError as error:
            raise command_line.open_failed(error, options) from error
        settle = args.settle if args.settle is not None else command_line.settle(options)
        if settle:
            time.sleep(settle)
        waiting = True
        try:
            for event, payload in events:
                if waiting:  # once, after the first event is known good
                    if socket.schemas is not None:  # the contract's attribute
                        socket.schemas.check(event, payload)
                    command_line.await_receiver(socket, options, args.timeout)
                    waiting = False
                if socket.push(event, payload) is FAILED:
                    failure = command_line.failure(socket)
                    if failure is not None:
                        raise CommandError(failure)
                    what = "sent and confirmed" if args.confirmed else "sent"
                    raise CommandError(
                        f"event {event!r} was not {what} within {args.timeout:g} s: is a "
                        f"receiver on {where}, of a socket type that fits {kind}?"
                    )
                sent += 1
        except ZeroEventsError as error:
            if sent:
                raise CommandError(f"{one_line(str(error))} ({sent} sent before)") from error
            raise
        if sent and command_line.deliver(socket, options, timeout_ms) is False:
            raise CommandError(
                f"no receiver on {where} confirmed within {args.timeout:g} s that it took "
                f"the {sent} event{'s' * (sent != 1)} sent"
            )
    except ZeroEventsError:
        listener.close()
        raise
    started = time.monotonic()
    listener.close()
    closing = time.monotonic() - started
    if sent and command_line.lossy_close(options) and closing >= 0.95 * args.timeout:
        raise CommandError(
            f"the socket was still delivering after {args.timeout:g} s: some of the {sent} "
            "events may be lost (a slow receiver? raise --timeout)"
        )
    if sys.stderr.isatty():
        print(f"{PROG} emit: sent {sent} event{'s' * (sent != 1)}", file=sys.stderr)
    return EXIT_OK
