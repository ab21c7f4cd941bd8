"""``zeroevents listen``: print the events arriving on a socket, one JSON line each."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import signal
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..envelope import MAGIC
from ..errors import CommandError, UsageError, ZeroEventsError
from . import _format
from ._arguments import EXIT_OK, PROG, add_socket_arguments, positive_int, quiet_stdout, seconds
from ._transport import CommandLine, Selected, add_arguments, listener_options
from ._values import to_json

if TYPE_CHECKING:
    from ..transports import Message

LISTEN_EPILOG = """\
output:
  one JSON line per event, flushed at once: {"event": NAME, "payload": [ARG, ...]}
  (plus "address": base64 of the sender's id, where the transport gives one). Values
  JSON cannot show become {"$bytes": BASE64}, {"$float": "NaN"}, {"$set": [...]} or
  {"$TYPE": TEXT}. Messages that cannot be decoded or that break their contract
  (--schemas) are reported on stderr, never printed on stdout.

exit status:
  0 after --count events, or on SIGINT/SIGTERM/SIGHUP; 1 when --timeout passes with
  nothing received (or fewer than --count), when a peer cannot pair with this
  socket, or on a runtime error; 2 on bad usage.
"""


def add_parser(
    commands: argparse._SubParsersAction[Any],
    common: argparse.ArgumentParser,
    transport: Selected,
) -> None:
    listen = commands.add_parser(
        "listen", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=LISTEN_EPILOG + transport.command_line.help_notes("listen"),
        help="print the events arriving on a socket, one JSON line each",
        description="Receive events on a socket and print each as one JSON line.",
    )  # fmt: skip
    listen.add_argument(
        "patterns", nargs="*", metavar="PATTERN",
        help="print only events matching a pattern ('orders.*'; default: every event)",
    )  # fmt: skip
    add_socket_arguments(listen)
    listen.add_argument(
        "--matcher", default="glob", metavar="NAME",
        help="matcher plugin reading PATTERN (default: glob, where * matches dots too)",
    )  # fmt: skip
    listen.add_argument(
        "--confirmed", action="store_true",
        help="answer each event with zeroevents.confirmed (router, dealer, pair)",
    )  # fmt: skip
    listen.add_argument(
        "--count", type=positive_int, metavar="N", help="exit after printing N events"
    )
    shown = listen.add_mutually_exclusive_group()
    shown.add_argument(
        "--format", metavar="TEMPLATE",
        help="print each event as TEMPLATE instead of a JSON line: {event} {payload} {time} "
        "{size} {address} {headers}, str.format syntax, \\n and \\t read as escapes",
    )  # fmt: skip
    shown.add_argument(
        "--raw", action="store_true",
        help="print only the argument frames as they arrived, undecoded, one line each",
    )  # fmt: skip
    listen.add_argument(
        "--stats", action="store_true",
        help="on exit, print the service's counters (received, fired, duplicates, "
        "errors) as one JSON line on stderr",
    )  # fmt: skip
    listen.add_argument(
        "--timeout", type=seconds, metavar="SECONDS",
        help="give up when nothing arrives for SECONDS (exit 1 if nothing was printed, "
        "or fewer than --count)",
    )  # fmt: skip
    add_arguments(listen, "listen", transport)
    listen.set_defaults(run=cmd_listen, selected=transport)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_listen(args: argparse.Namespace) -> int:
    options = listener_options(args)
    command_line: CommandLine = args.selected.command_line
    command_line.prepare("listen", options, args.timeout)
    if args.format is not None:
        try:
            args.format = _format.check_template(args.format)
        except _format.TemplateError as error:
            raise UsageError(str(error)) from None
    # Until the service installs its own graceful handlers: SIGTERM ends quietly too,
    # and so does SIGHUP (a closed terminal must not leave the endpoint held).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    try:
        return _listen(args, options, command_line)
    except KeyboardInterrupt:
        return EXIT_OK


def _frames_of(received: Any, reply_to: Any) -> list[bytes] | None:
    """The name and argument frames of a received message, on transports whose
    messages are frames (ZeroMQ, memory): the routing frame left out. None elsewhere."""
    if not isinstance(received, list | tuple) or not all(
        isinstance(frame, bytes) for frame in received
    ):
        return None
    frames = list(received)
    routed = reply_to is not None and frames[:1] == [reply_to]
    frames = frames[1:] if routed else frames
    # Wire v2: the empty frame 0 left out, the header (the name inside) in its place.
    return frames[1:] if frames[:1] == [b""] and frames[1:2] and frames[1][:3] == MAGIC else frames


def _reply_to(message: Message) -> Any:
    return message[2]  # Message.reply_to (``address`` before issue 12)


def _listen(args: argparse.Namespace, options: dict[str, Any], command_line: CommandLine) -> int:
    from ..dispatcher import Dispatcher
    from ..listener import EventListener
    from ..service import IDLE, EventService
    from ..transports.codec import PULL_ERROR, RESERVED, SCHEMA_ERROR

    if not args.debug:
        # Rejections, undecodable messages and wrong pairings are reported below.
        logging.getLogger("zeroevents_core.service").setLevel(logging.ERROR)
        logging.getLogger("zeroevents_core.transports").setLevel(logging.CRITICAL)
    prog = f"{PROG} listen"
    dispatcher = Dispatcher(args.matcher)
    listener = EventListener(options, dispatcher)
    out = sys.stdout
    printed = 0
    timed_out = False
    wanted = args.count
    failed: list[str] = []

    class Tap(EventService):
        """Notes which received message is being fired (and who sent it), so that
        the service's own events (idle, errors) are never printed."""

        message: Message | None = None
        frames: Sequence[bytes] | None = None
        shown = False
        draining = False

        def handle(self, socket: Any, received: Any) -> None:
            try:
                message: Message | None = socket.message(received)
            except ZeroEventsError:
                message = None  # the service reports it
            self.frames = _frames_of(received, None if message is None else _reply_to(message))
            self.shown = False
            if self.draining:
                # --count is reached: answer the sender's closing traffic (a flush
                # barrier) if it comes next, so that a sender of exactly N events ends
                # well; any other message ends the listening (that sender is told nothing).
                if message is not None and message.event in RESERVED:
                    super().handle(socket, received)
                self.stop()
                return
            self.message = message
            try:
                super().handle(socket, received)
            finally:
                self.message = None

    service = Tap(dispatcher)
    service.listen(listener)

    def show(*payload: Any) -> None:
        nonlocal printed
        name = dispatcher.firing()
        message = service.message
        if service.shown or name is None or message is None or message.event != name:
            return
        service.shown = True  # a name matching several patterns is printed once
        try:
            if args.raw:
                if service.frames is None:
                    failed.append(
                        f"--raw: the {args.transport} transport's messages are not frames"
                    )
                    service.stop()
                    return
                out.flush()
                out.buffer.write(b"".join(frame + b"\n" for frame in service.frames[1:]))
                out.buffer.flush()
            else:
                out.write(_listen_line(args.format, name, payload, message, service.frames) + "\n")
                out.flush()
        except BrokenPipeError:
            quiet_stdout()
            service.stop()
            return
        printed += 1
        if wanted is not None and printed >= wanted:
            drain_ms = command_line.drain_ms(options)
            if drain_ms:
                service.draining = True
                service.poll_timeout(drain_ms)
            else:
                service.stop()

    def rejected(event: str, payload: Any, failures: Iterable[Any], address: Any) -> None:
        detail = "; ".join(
            f"at {f[0]}: {f[1]}" + (f" ({Path(f[2]).name})" if f[2] else "") for f in failures
        )
        print(f"{prog}: rejected {event!r}, it breaks its contract: {detail}", file=sys.stderr)

    def undecodable(socket: Any, error: Any = None, received: Any = None) -> None:
        if error is not None:
            print(f"{prog}: dropped a message: {error}", file=sys.stderr)

    def idle(_: Any) -> None:
        nonlocal timed_out
        timed_out = not service.draining
        service.stop()

    dispatcher.listen(args.patterns or ["*"], show)
    dispatcher.listen(SCHEMA_ERROR, rejected)
    dispatcher.listen(PULL_ERROR, undecodable)
    if args.timeout is not None:
        service.poll_timeout(max(1, round(args.timeout * 1000)))
    dispatcher.listen(IDLE, idle)
    try:
        socket = listener.socket()
    except ZeroEventsError as error:
        raise command_line.open_failed(error, options) from error
    contracts = f", contracts {args.schemas}" if args.schemas else ""
    print(
        f"{prog}: listening on {command_line.listening_on(socket, options)} "
        f"({command_line.kind(options)}, {args.serializer}{contracts})",
        file=sys.stderr,
        flush=True,
    )

    def pairing_failed(message: str) -> None:  # called in the transport's own thread
        failed.append(message)
        service.stop()

    failed.extend(command_line.watch_failures(socket, pairing_failed))  # one that came before
    service.listen_to_signals((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), service.stop)
    if not failed:
        try:
            service.run()
        finally:
            if args.stats:
                print(
                    f"{prog}: stats {json.dumps(service.stats.as_dict())}",
                    file=sys.stderr,
                    flush=True,
                )
    if failed:
        raise CommandError(failed[0])
    if timed_out:
        if printed == 0:
            raise CommandError(f"nothing received within {args.timeout:g} s")
        if wanted is not None and printed < wanted:
            raise CommandError(
                f"received {printed} of {wanted} events: nothing more within {args.timeout:g} s"
            )
    return EXIT_OK


def _listen_line(
    template: str | None,
    event: str,
    payload: Any,
    message: Message,
    frames: Sequence[bytes] | None,
) -> str:
    reply_to = _reply_to(message)
    if template is not None:
        return _format.render(
            template,
            event=event,
            payload=to_json(payload),
            frames=frames or (),
            address=reply_to if isinstance(reply_to, bytes) else None,
            headers=message.headers,
        )
    line: dict[str, Any] = {"event": event, "payload": to_json(payload)}
    if isinstance(reply_to, bytes):
        line["address"] = base64.b64encode(reply_to).decode("ascii")
    if message.event_id is not None:  # wire v2 (and links with ids): its id, its headers
        line["id"] = message.event_id
        if message.headers:
            line["headers"] = dict(message.headers)
    return json.dumps(line, ensure_ascii=False)
