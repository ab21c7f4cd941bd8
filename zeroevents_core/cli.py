"""The ``zeroevents`` command line: tail a socket, send events by hand, list the
plugins, check a contract folder, run the demo and the benchmarks.

Built on :mod:`argparse` (the standard library: the core gains no dependency).
Exit status: 0 on success, 1 on a runtime failure (every :class:`ZeroEventsError`,
with its message), 2 on bad usage. Errors are one line on stderr; ``--debug`` adds
the traceback and the library's debug log. Heavy modules (the transport, the
contract engines) are imported by the command that needs them, so ``--help`` is quick.

Values JSON cannot show, in ``listen``'s output, become a one-key object naming
their type: ``{"$bytes": "<base64>"}`` for bytes (msgpack, cbor),
``{"$float": "NaN"}`` for non-finite floats, ``{"$set": [...]}`` for sets, and
``{"$<type>": "<str(value)>"}`` for the rest (``$datetime``, ``$Decimal``,
``$UUID``...). ``emit`` reads ``{"$bytes": ...}`` back as bytes, so
``listen | emit -`` relays binary payloads.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from . import cli_format, cli_keys, cli_schema
from .errors import ZeroEventsError

if TYPE_CHECKING:
    from .schemas import SchemaRegistry

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

PROG = "zeroevents"

LISTEN_TYPES = ("pull", "sub", "router", "dealer", "pair")
EMIT_TYPES = ("push", "pub", "dealer", "pair")
# Socket types whose peer can answer: confirmations and the closing flush barrier.
REPLY_TYPES = ("router", "dealer", "pair")
EMIT_TIMEOUT = 5.0
PUB_SETTLE = 0.5
# After --count on a socket that can answer: how long to wait for the sender's flush.
DRAIN_MS = 500
# How long emit waits after sending for a receiver's hello before it takes the
# receiver for one without the flush barrier (the PHP original).
HELLO_TIMEOUT_MS = 200

BYTES_MARKER = "$bytes"


class CommandError(ZeroEventsError):
    """A command could not do its job (exit status 1)."""


class UsageError(ZeroEventsError):
    """The command line is wrong in a way argparse cannot see (exit status 2)."""


# Parsing ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage stays in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _endpoint(value: str) -> str:
    """An endpoint another process can reach: tcp://host:port or ipc://path."""
    if value.startswith("inproc://"):
        raise argparse.ArgumentTypeError(
            f"{value!r}: inproc:// endpoints live inside one process; use ipc:// or tcp://"
        )
    from .errors import ConfigurationError
    from .transports.zmq import endpoints_of  # loaded late: the CLI starts fast

    try:
        endpoints_of("endpoint", value)  # the transport's own rules, ports included
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("option 'endpoint': ")) from None
    return value


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (number > 0 and math.isfinite(number)):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value!r}")
    return number


def _non_negative_seconds(value: str) -> float:
    return 0.0 if value.strip() in ("0", "0.0") else _seconds(value)


def _add_endpoints(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("endpoints (at least one, each repeatable)")
    group.add_argument(
        "--bind", action="append", default=[], type=_endpoint, metavar="EP",
        help="bind to EP (tcp://127.0.0.1:5555, tcp://*:5555, ipc:///tmp/events.ipc)",
    )  # fmt: skip
    group.add_argument(
        "--connect", action="append", default=[], type=_endpoint, metavar="EP",
        help="connect to EP",
    )  # fmt: skip


def _add_common_socket(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--serializer", default="json", metavar="NAME",
        help="serializer plugin of the payload frames (default: json; see 'zeroevents plugins')",
    )  # fmt: skip
    parser.add_argument(
        "--schemas", metavar="DIR",
        help="contract folder: NAME.json is the JSON Schema of the events named (or matched "
        "by) NAME; see 'zeroevents schema check'",
    )  # fmt: skip


LISTEN_EPILOG = """\
output:
  one JSON line per event, flushed at once: {"event": NAME, "payload": [ARG, ...]}
  (plus "address": base64 of the sender's id on a ROUTER). Values JSON cannot show
  become {"$bytes": BASE64}, {"$float": "NaN"}, {"$set": [...]} or {"$TYPE": TEXT}.
  Messages that cannot be decoded or that break their contract (--schemas) are
  reported on stderr, never printed on stdout. A pull socket's receive queue is
  unbounded (RCVHWM 0), so that a pusher's exit loses nothing in flight. The default
  socket type, dealer, is the library's and the PHP original's.

exit status:
  0 after --count events, or on SIGINT/SIGTERM/SIGHUP; 1 when --timeout passes with
  nothing received (or fewer than --count), when a peer's socket type does not pair
  with this one (a push peer for a dealer), or on a runtime error; 2 on bad usage.

examples:
  zeroevents listen --bind ipc:///tmp/orders.ipc
  zeroevents listen --bind tcp://127.0.0.1:5555 'orders.*' --count 1 --timeout 10
  zeroevents listen --bind tcp://*:5555 --socket-type router --confirmed --serializer msgpack
  zeroevents listen --connect tcp://10.0.0.5:5556 --socket-type sub --schemas contracts/
"""

EMIT_EPILOG = """\
arguments:
  each ARG is one JSON literal: '{"id": 1}', 42, '"text"', true, null, '[1, 2]'.
  {"$bytes": BASE64} stands for bytes (for serializers that carry them).
  EVENT '-' reads JSON lines {"event": NAME, "payload": [ARG, ...]} from stdin
  and sends them all, in order ("address", as 'listen' prints it, is ignored).

delivery:
  first waits, up to --timeout, for the handshake with a receiver (not on pub): none,
  or one whose socket type does not pair with this one (a pull for a dealer), is exit 1.
  Exit 0 only once every event is sent: on push, handed to a connected receiver; on
  dealer and pair, a zeroevents receiver confirms at the end that it took every event
  (a flush barrier, negotiated: a receiver without it, such as the PHP original, is
  not sent it); with --confirmed, each event is confirmed one by one (dealer, pair).
  pub drops events until subscribers have joined: --settle waits after connecting
  (default 0.5 s on pub) and nothing confirms that a subscriber got them.

exit status:
  0 sent; 1 timeout, contract violation (--schemas), bad JSON argument, unknown
  serializer, any runtime error; 2 bad usage.

examples:
  zeroevents emit --connect ipc:///tmp/orders.ipc orders.created '{"id": 1}'
  zeroevents emit --connect tcp://127.0.0.1:5555 --confirmed ping 1 '"two"'
  zeroevents listen --bind ipc:///tmp/a.ipc --count 9 | zeroevents emit --connect ipc:///tmp/b.ipc -
"""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (the docs' CLI reference is its ``--help`` output)."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show tracebacks and the library's debug log",
    )  # fmt: skip
    parser = _Parser(
        prog=PROG,
        description="Events between processes over ZeroMQ: tail a socket, send events, "
        "list plugins, check contracts, run the demo and the benchmarks.",
        epilog="Each command has --help. Exit status: 0 success, 1 runtime failure, 2 bad usage.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and the library's debug log"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", title="commands")
    raw = argparse.RawDescriptionHelpFormatter

    listen = commands.add_parser(
        "listen", parents=[common], formatter_class=raw, epilog=LISTEN_EPILOG,
        help="print the events arriving on a socket, one JSON line each",
        description="Receive events on a socket and print each as one JSON line.",
    )  # fmt: skip
    _add_endpoints(listen)
    listen.add_argument(
        "patterns", nargs="*", metavar="PATTERN",
        help="print only events matching a pattern ('orders.*'; default: every event)",
    )  # fmt: skip
    listen.add_argument(
        "--socket-type", choices=LISTEN_TYPES, default="dealer", type=str.lower,
        help="ZeroMQ socket type (default: dealer, as the library's and the original's)",
    )  # fmt: skip
    _add_common_socket(listen)
    listen.add_argument(
        "--matcher", default="glob", metavar="NAME",
        help="matcher plugin reading PATTERN (default: glob, where * matches dots too)",
    )  # fmt: skip
    listen.add_argument(
        "--confirmed", action="store_true",
        help="answer each event with zeroevents.confirmed (router, dealer, pair)",
    )  # fmt: skip
    listen.add_argument(
        "--count", type=_positive_int, metavar="N", help="exit after printing N events"
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
        "--timeout", type=_seconds, metavar="SECONDS",
        help="give up when nothing arrives for SECONDS (exit 1 if nothing was printed, "
        "or fewer than --count)",
    )  # fmt: skip
    listen.set_defaults(run=cmd_listen)

    emit = commands.add_parser(
        "emit", parents=[common], formatter_class=raw, epilog=EMIT_EPILOG,
        help="send one event (or JSON lines from stdin) to a socket",
        description="Send an event with its arguments, or a stream of events from stdin.",
    )  # fmt: skip
    _add_endpoints(emit)
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
        "--count", type=_positive_int, metavar="N",
        help="send the event N times, with {n} in EVENT and ARG replaced by 1 ... N",
    )  # fmt: skip
    emit.add_argument(
        "--socket-type", choices=EMIT_TYPES, default="dealer", type=str.lower,
        help="ZeroMQ socket type (default: dealer, as the library's and the original's)",
    )  # fmt: skip
    _add_common_socket(emit)
    emit.add_argument(
        "--confirmed", action="store_true",
        help="wait for each event's zeroevents.confirmed (dealer, pair)",
    )  # fmt: skip
    emit.add_argument(
        "--timeout", type=_seconds, default=EMIT_TIMEOUT, metavar="SECONDS",
        help=f"how long each send, confirmation and the final delivery may wait "
        f"(default: {EMIT_TIMEOUT:g})",
    )  # fmt: skip
    emit.add_argument(
        "--settle", type=_non_negative_seconds, metavar="SECONDS",
        help=f"wait after binding/connecting before sending, for subscribers to join "
        f"(default: {PUB_SETTLE:g} on pub, 0 otherwise)",
    )  # fmt: skip
    emit.set_defaults(run=cmd_emit)

    plugins = commands.add_parser(
        "plugins", parents=[common],
        help="list serializers, transports and matchers, and plugins that failed",
        description="List every registered serializer, transport and matcher with the "
        "distribution and version providing it, then the plugins that failed to load.",
    )  # fmt: skip
    plugins.add_argument("--json", action="store_true", help="one JSON document instead")
    plugins.set_defaults(run=cmd_plugins)

    schema = commands.add_parser(
        "schema", parents=[common], help="event contracts: check a contract folder",
        description="Event contracts (JSON Schema per event name or pattern).",
    )  # fmt: skip
    schema_commands = schema.add_subparsers(dest="schema_command", title="commands")
    check = schema_commands.add_parser(
        "check", parents=[common],
        help="load a contract folder and report each bad file",
        description="Load a contract folder as services and listeners do (--schemas DIR): "
        "print each contract's pattern, file and engine, and each bad file with its "
        "problem. Exit 1 if any file is bad.",
    )  # fmt: skip
    check.add_argument("folder", metavar="DIR", help="the contract folder")
    check.add_argument(
        "--against", metavar="OLD",
        help="also check compatibility with OLD (folder or git:REV[:path]); see 'schema diff'",
    )  # fmt: skip
    cli_schema.add_diff_arguments(check)
    check.set_defaults(run=cmd_schema_check)
    diff = schema_commands.add_parser(
        "diff", parents=[common],
        help="compatibility of two contract versions (folders, files or git:REV[:path])",
        description="Compare OLD and NEW contracts under a compatibility mode, offline. "
        "Exit 0 compatible, 1 incompatible, 2 unknown or error.",
    )  # fmt: skip
    diff.add_argument("old", metavar="OLD", help="folder, file or git:REV[:path]")
    diff.add_argument("new", metavar="NEW", help="folder, file or git:REV[:path]")
    cli_schema.add_diff_arguments(diff)
    diff.set_defaults(run=cli_schema.cmd_schema_diff)
    cli_schema.add_export_parser(schema_commands, common)
    schema.set_defaults(run=lambda args: _missing_subcommand(schema))
    cli_keys.add_parser(commands, common)

    demo = commands.add_parser(
        "demo", parents=[common],
        help="two processes, one private socket, a contract: watch events cross",
        description="Start an EventService in one process and a producer in another on a "
        "private ipc socket, fire a stream of orders (some breaking the demo's contract) "
        "through an EventListener with msgpack, show them arriving and sum up: sent, "
        "received, rejected, latency percentiles and throughput.",
    )  # fmt: skip
    demo.add_argument(
        "--events", type=_positive_int, metavar="N",
        help="events to send (default: 30,000: a third paced to measure latency, then a burst)",
    )  # fmt: skip
    demo.add_argument("--short", action="store_true", help="a quick run of 1,500 events")
    demo.add_argument(
        "--rate", type=_positive_int, default=5000, metavar="PER_SECOND",
        help="pace of the latency part (default: 5000 events/s)",
    )  # fmt: skip
    demo.add_argument(
        "--serializer", metavar="NAME", help="default: msgpack if installed, else json"
    )
    demo.add_argument(
        "--transport", metavar="NAME",
        help="transport plugin to run over (default: zmq); the demo lists the installed ones",
    )  # fmt: skip
    demo.set_defaults(run=cmd_demo)

    bench = commands.add_parser(
        "bench", parents=[common],
        help="run the benchmark suite of the source tree's bench/ folder",
        description="Run the benchmark scripts of bench/ (in the source repository, not in "
        "the installed package) and print their tables; the end-to-end table gives "
        "ratios to raw pyzmq measured in the same run.",
    )  # fmt: skip
    bench.add_argument(
        "suites", nargs="*", metavar="SUITE",
        help="which scripts: e2e, dispatch, serializers, schemas... (default: all of bench/)",
    )  # fmt: skip
    bench.add_argument(
        "--full", action="store_true",
        help="each script's own (longer) settings instead of the quick ones",
    )  # fmt: skip
    bench.add_argument(
        "--dir", type=Path, metavar="PATH",
        help="the bench/ folder (default: next to the package's source, or ./bench)",
    )  # fmt: skip
    bench.set_defaults(run=cmd_bench)
    return parser


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zeroevents-core")
    except PackageNotFoundError:
        return "(not installed)"


# Entry point --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    prog = f"{PROG} {args.command}"
    if getattr(args, "schema_command", None):
        prog += f" {args.schema_command}"
    debug = bool(args.debug)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format=f"{prog}: %(levelname)s: %(message)s",
    )
    try:
        status: int = args.run(args)
        return status
    except UsageError as error:
        return _fail(prog, error, debug, EXIT_USAGE)
    except ZeroEventsError as error:
        return _fail(prog, error, debug, EXIT_FAILURE)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_FAILURE
    except OSError as error:
        return _fail(prog, error, debug, EXIT_FAILURE)
    except Exception as error:
        return _fail(prog, error, debug, EXIT_FAILURE, internal=True)


def _fail(prog: str, error: BaseException, debug: bool, status: int, internal: bool = False) -> int:
    if debug:
        traceback.print_exc()
    text = one_line(str(error)) or type(error).__name__
    if internal:
        text = f"internal error: {type(error).__name__}: {text} (--debug shows the traceback)"
    print(f"{prog}: error: {text}", file=sys.stderr)
    return status


def one_line(text: str) -> str:
    """A multi-line message (a contract's failure list) as one line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return f"{lines[0]} {'; '.join(lines[1:])}"


def _quiet_stdout() -> None:
    # The reader went away (| head): make the interpreter's last flush harmless.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _need_endpoint(args: argparse.Namespace) -> None:
    if not args.bind and not args.connect:
        raise UsageError("give at least one --bind EP or --connect EP")


def _open_error(error: ZeroEventsError, args: argparse.Namespace) -> ZeroEventsError:
    """The transport's error for a socket it cannot open, said in the CLI's terms."""
    import zmq

    cause = error.__cause__
    if isinstance(cause, zmq.ZMQError):
        where = ", ".join(
            [*(f"bind {e}" for e in args.bind), *(f"connect {e}" for e in args.connect)]
        )
        return CommandError(f"cannot open the {args.socket_type} socket ({where}): {cause}")
    return error


# Values in JSON -----------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """``value`` as JSON can show it (see the module's documentation)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return (
            value
            if math.isfinite(value)
            else {"$float": repr(value).replace("inf", "Infinity").replace("nan", "NaN")}
        )
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {_json_key(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {BYTES_MARKER: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (set, frozenset)):
        return {"$set": [to_json(item) for item in value]}
    if hasattr(value, "isoformat"):
        return {f"${type(value).__name__}": value.isoformat()}
    return {f"${type(value).__name__}": str(value)}


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (bool, int, float)) or key is None:
        return json.dumps(key)
    return json.dumps(to_json(key), separators=(",", ":"), sort_keys=True)


def _from_json_object(pairs: list[tuple[str, Any]]) -> Any:
    if len(pairs) == 1 and pairs[0][0] == BYTES_MARKER:
        encoded = pairs[0][1]
        try:
            if not isinstance(encoded, str):
                raise ValueError("not a string")
            return base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise ValueError(f'{{"{BYTES_MARKER}": ...}} must hold base64 text: {exc}') from None
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """One JSON value, ``{"$bytes": BASE64}`` read as bytes; NaN and Infinity refused."""
    return json.loads(text, object_pairs_hook=_from_json_object, parse_constant=_no_constant)


# listen -------------------------------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_listen(args: argparse.Namespace) -> int:
    _need_endpoint(args)
    if args.confirmed and args.socket_type not in REPLY_TYPES:
        raise UsageError(
            f"--confirmed needs a socket that can answer (router, dealer or pair), "
            f"not {args.socket_type}"
        )
    if args.format is not None:
        try:
            args.format = cli_format.check_template(args.format)
        except cli_format.TemplateError as error:
            raise UsageError(str(error)) from None
    # Until the service installs its own graceful handlers: SIGTERM ends quietly too,
    # and so does SIGHUP (a closed terminal must not leave the endpoint held).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    try:
        return _listen(args)
    except KeyboardInterrupt:
        return EXIT_OK


def _listen(args: argparse.Namespace) -> int:
    import zmq

    from .dispatcher import Dispatcher
    from .listener import EventListener
    from .service import IDLE, EventService
    from .transports.codec import FLUSH, PULL_ERROR, SCHEMA_ERROR

    if not args.debug:
        # Rejections, undecodable messages and wrong pairings are reported below.
        logging.getLogger("zeroevents_core.service").setLevel(logging.ERROR)
        logging.getLogger("zeroevents_core.transports").setLevel(logging.CRITICAL)
    prog = f"{PROG} listen"
    options: dict[str, Any] = {
        "bind": args.bind,
        "connect": args.connect,
        "socket_type": args.socket_type.upper(),
        "serializer": args.serializer,
        "schemas": args.schemas,
        "confirmed": args.confirmed,
        # Confirmations and flush replies are small; do not let close() hang on them.
        "socket_options": {"LINGER": 1000},
    }
    if args.socket_type == "pull":
        # A pusher that exits while its receiver sits at the receive high-water mark
        # loses the events in flight (libzmq issue 4660); push has no reply path for
        # a flush barrier, so the receiving queue is unbounded instead.
        options["socket_options"]["RCVHWM"] = 0
    dispatcher = Dispatcher(args.matcher)
    listener = EventListener(options, dispatcher)
    out = sys.stdout
    printed = 0
    timed_out = False
    wanted = args.count

    class Tap(EventService):
        """Notes which received message is being fired, and its ROUTER address, so
        that the service's own events (idle, errors) are never printed."""

        incoming: bytes | None = None
        address: bytes | None = None
        frames: Sequence[bytes] = ()
        shown = False
        draining = False

        def handle(self, socket: Any, frames: list[bytes]) -> None:
            routed = bool(socket.routes_replies)
            self.address = frames[0] if routed else None
            self.frames = frames[1:] if routed else frames
            self.incoming = frames[1 if routed else 0] if len(frames) > routed else None
            self.shown = False
            if self.draining:
                # --count is reached: answer the sender's closing flush barrier if it
                # comes next, so that a sender of exactly N events ends well; any
                # other message ends the listening (that sender is told nothing).
                if self.incoming == FLUSH.encode():
                    super().handle(socket, frames)
                self.stop()
                return
            try:
                super().handle(socket, frames)
            finally:
                self.incoming = None

    service = Tap(dispatcher)
    service.listen(listener)

    def show(*payload: Any) -> None:
        nonlocal printed
        name = dispatcher.firing()
        if service.shown or name is None or service.incoming != name.encode():
            return
        service.shown = True  # a name matching several patterns is printed once
        try:
            if args.raw:
                out.flush()
                out.buffer.write(b"".join(frame + b"\n" for frame in service.frames[1:]))
                out.buffer.flush()
            else:
                out.write(_listen_line(args.format, name, payload, service) + "\n")
                out.flush()
        except BrokenPipeError:
            _quiet_stdout()
            service.stop()
            return
        printed += 1
        if wanted is not None and printed >= wanted:
            if args.socket_type in REPLY_TYPES:
                service.draining = True
                service.poll_timeout(DRAIN_MS)
            else:
                service.stop()

    def rejected(event: str, payload: Any, failures: Iterable[Any], address: Any) -> None:
        detail = "; ".join(
            f"at {f[0]}: {f[1]}" + (f" ({Path(f[2]).name})" if f[2] else "") for f in failures
        )
        print(f"{prog}: rejected {event!r}, it breaks its contract: {detail}", file=sys.stderr)

    def undecodable(socket: Any, error: Any = None, frames: Any = None) -> None:
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
        raise _open_error(error, args) from error
    where = [*args.bind, *args.connect]
    if len(args.bind) == 1 and not args.connect:
        where = [socket.get(zmq.LAST_ENDPOINT).decode()]
    contracts = f", contracts {args.schemas}" if args.schemas else ""
    print(
        f"{prog}: listening on {', '.join(where)} ({args.socket_type}, "
        f"{args.serializer}{contracts})",
        file=sys.stderr,
        flush=True,
    )
    failed: list[str] = []

    def pairing_failed(message: str) -> None:  # called in the socket monitor's thread
        failed.append(message)
        service.stop()

    socket.handshakes.on_failure.append(pairing_failed)
    failed.extend(list(socket.handshakes.failures.values()))  # one that came before
    service.listen_to_signals((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), service.stop)
    if not failed:
        service.run()
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


def _listen_line(template: str | None, event: str, payload: Any, service: Any) -> str:
    if template is not None:
        return cli_format.render(
            template,
            event=event,
            payload=to_json(payload),
            frames=service.frames,
            address=service.address,
        )
    line: dict[str, Any] = {"event": event, "payload": to_json(payload)}
    if service.address is not None:
        line["address"] = base64.b64encode(service.address).decode("ascii")
    return json.dumps(line, ensure_ascii=False)


# emit ---------------------------------------------------------------------------------


def _argument_payload(event: str, texts: Sequence[str]) -> list[Any]:
    payload = []
    for index, text in enumerate(texts, 1):
        try:
            payload.append(parse_json(text))
        except ValueError as exc:
            raise CommandError(
                f"argument {index} {text!r} is not a JSON literal ({exc}); "
                "write strings with their quotes: '\"text\"'"
            ) from None
    return payload


def read_events(lines: Iterable[str]) -> Iterator[tuple[str, list[Any]]]:
    """``(event, payload)`` from JSON lines ``{"event": NAME, "payload": [...]}``."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = parse_json(line)
        except ValueError as exc:
            raise CommandError(f"stdin line {number} is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise CommandError(
                f'stdin line {number}: expected {{"event": NAME, "payload": [...]}}, '
                f"got {type(value).__name__}"
            )
        unknown = sorted(set(value) - {"event", "payload", "address"})
        if unknown:
            raise CommandError(
                f'stdin line {number}: unknown key {unknown[0]!r}; expected "event" and "payload"'
            )
        event, payload = value.get("event"), value.get("payload", [])
        if not isinstance(event, str) or not event:
            raise CommandError(f'stdin line {number}: "event" must be a non-empty string')
        if not isinstance(payload, list):
            raise CommandError(f'stdin line {number}: "payload" must be a list of arguments')
        yield event, payload


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
        return ((args.event, [line]) for line in cli_format.lines_of(sys.stdin))

    def payload(texts: Sequence[str]) -> list[Any]:
        return list(texts) if args.text else _argument_payload(args.event, texts)

    numbered = cli_format.numbered([args.event, *args.args], args.count)
    _, (event, *texts) = next(numbered)
    first = (event, payload(texts))
    rest = ((event, payload(texts)) for _, (event, *texts) in numbered)
    return itertools.chain([first], rest)


class _Failed:
    """What the push error listener answers: the socket could not send."""


def _await_receiver(socket: Any, args: argparse.Namespace, where: str) -> None:
    """Wait, up to --timeout, for the ZeroMQ handshake with a receiver: a socket type
    that does not pair (DEALER to PULL) is said here, not discovered by silence."""
    socket.handshakes.wait(args.connect, time.monotonic() + args.timeout)
    failure = socket.handshakes.first_failure()
    if failure is not None:
        raise CommandError(failure)
    if not socket.handshakes.succeeded:
        raise CommandError(f"no receiver on {where} within {args.timeout:g} s")


FAILED = _Failed()


def cmd_emit(args: argparse.Namespace) -> int:
    _need_endpoint(args)
    if args.confirmed and args.socket_type not in REPLY_TYPES:
        raise UsageError(
            f"--confirmed needs a socket the receiver can answer (dealer or pair), "
            f"not {args.socket_type}"
        )
    events = _events_to_send(args)

    from .dispatcher import Dispatcher
    from .listener import EventListener
    from .transports.codec import PUSH_ERROR

    if not args.debug:  # what went wrong is said below, once
        logging.getLogger("zeroevents_core.transports").setLevel(logging.CRITICAL)
    timeout_ms = max(1, round(args.timeout * 1000))
    socket_options: dict[str, Any] = {
        "LINGER": timeout_ms,
        "SNDTIMEO": timeout_ms,
        "RCVTIMEO": timeout_ms,
    }
    if args.socket_type == "push":
        # Queue only to connections that are up: a send with no receiver fails after
        # --timeout instead of waiting in a queue that close() then drops. Not on
        # dealer and pair, which the final flush barrier covers: with IMMEDIATE, libzmq
        # drops a reply not yet read when the peer disconnects (a listen that ends
        # right after answering the barrier).
        socket_options["IMMEDIATE"] = 1
    options: dict[str, Any] = {
        "bind": args.bind,
        "connect": args.connect,
        "socket_type": args.socket_type.upper(),
        "serializer": args.serializer,
        "schemas": args.schemas,
        "confirmed": args.confirmed,
        "socket_options": socket_options,
        # Flushed below, where the verdict is seen; close() need not do it again.
        "flush_on_close": False,
    }
    dispatcher = Dispatcher()
    dispatcher.listen(PUSH_ERROR, lambda *_: FAILED)
    listener = EventListener(options, dispatcher)
    where = ", ".join([*args.bind, *args.connect])
    sent = 0
    try:
        try:
            socket = listener.socket()
        except ZeroEventsError as error:
            raise _open_error(error, args) from error
        settle = (
            args.settle if args.settle is not None else PUB_SETTLE * (args.socket_type == "pub")
        )
        if settle:
            time.sleep(settle)
        # Subscribers join when they like (--settle); the others are waited for.
        waiting = args.socket_type != "pub"
        try:
            for event, payload in events:
                if waiting:  # once, after the first event is known good
                    socket.check_outgoing(event, payload)
                    _await_receiver(socket, args, where)
                    waiting = False
                if socket.push(event, payload) is FAILED:
                    failure = socket.handshakes.first_failure()
                    if failure is not None:
                        raise CommandError(failure)
                    what = "sent and confirmed" if args.confirmed else "sent"
                    raise CommandError(
                        f"event {event!r} was not {what} within {args.timeout:g} s: is a "
                        f"receiver on {where}, of a socket type that fits {args.socket_type}?"
                    )
                sent += 1
        except ZeroEventsError as error:
            if sent:
                raise CommandError(f"{one_line(str(error))} ({sent} sent before)") from error
            raise
        if sent and args.socket_type in REPLY_TYPES:
            # The barrier only toward receivers that speak it (the PHP original does not).
            flushed = socket.negotiated_flush(args.connect, HELLO_TIMEOUT_MS, timeout_ms)
            if flushed is False:
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
    if sent and args.socket_type in ("push", "pub") and closing >= 0.95 * args.timeout:
        raise CommandError(
            f"the socket was still delivering after {args.timeout:g} s: some of the {sent} "
            "events may be lost (a slow receiver? raise --timeout)"
        )
    if sys.stderr.isatty():
        print(f"{PROG} emit: sent {sent} event{'s' * (sent != 1)}", file=sys.stderr)
    return EXIT_OK


# plugins ------------------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins import list_plugins, plugin_errors

    infos = list_plugins()
    errors = plugin_errors()
    order = ("serializer", "transport", "matcher")
    if args.json:
        document = {
            f"{kind}s": [
                {
                    "name": info.name,
                    "distribution": info.distribution,
                    "version": info.version,
                    "plugin": info.plugin,
                    "class": f"{info.obj.__module__}.{info.obj.__qualname__}",
                    **({"details": info.obj.describe()} if kind == "transport" else {}),
                }
                for info in infos
                if info.kind == kind
            ]
            for kind in order
        }
        print(json.dumps({**document, "errors": [one_line(str(e)) for e in errors]}, indent=2))
        return EXIT_OK
    for kind in order:
        rows = [info for info in infos if info.kind == kind]
        print(f"{kind}s:")
        if not rows:
            print("  (none)")
        width = max((len(info.name) for info in rows), default=0)
        provider_width = max((len(info.provider) for info in rows), default=0)
        for info in rows:
            extra = ""
            content_type = getattr(info.obj, "content_type", None)
            if kind == "serializer" and content_type:
                extra = f"  {content_type}"
            if kind == "transport":
                extra = f"  {info.obj.describe()}"
            print(f"  {info.name:<{width}}  {info.provider:<{provider_width}}{extra}".rstrip())
    if errors:
        print("failed:")
        for error in errors:
            print(f"  {one_line(str(error))}")
    return EXIT_OK


# schema check -------------------------------------------------------------------------


def check_folder(folder: Path) -> tuple[SchemaRegistry | None, list[tuple[Path, str]]]:
    """The registry of the folder's good files and each bad file with its problem.

    The registry reads a whole folder and stops at its first bad file; to name them
    all, a copy of the folder is loaded again and again, each bad file hidden (hidden
    files are skipped) once it is named, until the rest loads.
    """
    from .errors import ConfigurationError
    from .schemas import SchemaRegistry

    if not folder.is_dir():
        raise CommandError(f"contract folder {folder} does not exist or is not a folder")
    try:
        return SchemaRegistry.from_folder(folder), []
    except ConfigurationError:
        pass
    bad: list[tuple[Path, str]] = []
    with tempfile.TemporaryDirectory(prefix="zeroevents-check-") as scratch:
        copy = Path(scratch) / "contracts"
        shutil.copytree(folder, copy)
        names = {
            str(copy): str(folder),
            copy.absolute().as_uri(): folder.absolute().as_uri(),
        }

        def original(text: str) -> str:
            for mine, theirs in names.items():
                text = text.replace(mine, theirs)
            return text

        while True:
            try:
                return SchemaRegistry.from_folder(copy), bad
            except ConfigurationError as error:
                message = str(error)
            candidates = [
                path
                for path in copy.rglob("*")
                if path.is_file()
                and path.suffix.lower() in (".json", ".yaml", ".yml")
                and not any(p.startswith(".") for p in path.relative_to(copy).parts)
            ]
            named = [(message.find(str(path)), -len(str(path)), path) for path in candidates]
            named = [entry for entry in named if entry[0] >= 0]
            if not named:
                bad.append((folder, original(one_line(message))))
                return None, bad
            culprit = min(named)[2]
            text = original(one_line(message))
            if any(str(earlier) in text for earlier, _ in bad):
                text = text.replace("which does not exist", "which is bad (see above)")
            elif bad and "$ref" in text:
                text += " (perhaps because of a bad file above)"
            bad.append((folder / culprit.relative_to(copy), text))
            culprit.rename(culprit.with_name("." + culprit.name))


def cmd_schema_check(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    registry, bad = check_folder(folder)
    good = registry.patterns() if registry is not None else []
    if good and registry is not None:
        contracts = [registry.contract(pattern) for pattern in good]
        sources = [Path(c.source).name if c.source else "(code)" for c in contracts]
        width = max(len(pattern) for pattern in good)
        source_width = max(len(source) for source in sources)
        print(f"{folder}: {len(good)} contract{'s' * (len(good) != 1)}")
        for pattern, contract, source in zip(good, contracts, sources, strict=True):
            mode = "argument list" if contract.mode == "arguments" else "argument 0"
            engine: str = contract.engine
            if contract.fallback_reason and engine == "jsonschema":
                engine += f" ({contract.fallback_reason})"
            print(
                f"  ok   {pattern:<{width}}  {source:<{source_width}}  "
                f"engine {engine}, describes {mode}"
            )
    elif not bad:
        print(f"{folder}: no contract (no NAME.json at the top of the folder)")
    for path, problem in bad:
        print(f"  bad  {path}: {problem}")
    if bad:
        raise CommandError(
            f"{len(bad)} bad schema file{'s' * (len(bad) != 1)} in {folder}"
            if bad[0][0] != folder
            else bad[0][1]
        )
    if args.against:
        return cli_schema.diff(args.against, str(folder), args.mode, args.policy, args.json)
    return EXIT_OK


# demo ---------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    events = args.events or (demo.SHORT_EVENTS if args.short else demo.DEFAULT_EVENTS)
    return demo.run(
        events=events, rate=args.rate, serializer=args.serializer, transport=args.transport
    )


# bench --------------------------------------------------------------------------------

# Quick settings per script: enough events for stable ratios, a few seconds each.
QUICK_ARGS: Mapping[str, Sequence[str]] = {
    "e2e": ("--events", "20000", "--repeats", "1", "--round-trips", "2000"),
    "serializers": ("--number", "5000", "--repeat", "3"),
    "schemas": ("--number", "5000"),
}
FIRST_SUITES = ("e2e", "dispatch", "serializers", "schemas")


def find_bench(explicit: Path | None) -> Path:
    """The bench/ folder: given, next to the package's source tree, or in the cwd."""
    if explicit is not None:
        places = [explicit]
    else:
        places = [Path(__file__).resolve().parent.parent / "bench", Path.cwd() / "bench"]
    for place in places:
        if (place / "bench_e2e.py").is_file():
            return place
    looked = ", ".join(str(place) for place in places)
    raise CommandError(
        f"no benchmark suite found (looked for bench_e2e.py in {looked}): the benchmarks "
        "ship with the source repository, not with the installed package; run from a "
        "checkout, or pass --dir PATH"
    )


def cmd_bench(args: argparse.Namespace) -> int:
    folder = find_bench(args.dir)
    found = {path.stem[len("bench_") :]: path for path in sorted(folder.glob("bench_*.py"))}
    chosen = list(args.suites) or sorted(
        found, key=lambda name: (FIRST_SUITES.index(name) if name in FIRST_SUITES else 99, name)
    )
    unknown = [name for name in chosen if name not in found]
    if unknown:
        raise UsageError(f"no suite {unknown[0]!r} in {folder}; suites: {', '.join(sorted(found))}")
    failed = []
    for name in chosen:
        extra = [] if args.full else list(QUICK_ARGS.get(name, ()))
        command = [sys.executable, str(found[name]), *extra]
        print(f"== {found[name].name} {' '.join(extra)}".rstrip(), flush=True)
        done = subprocess.run(command, cwd=folder.parent, check=False)
        print(flush=True)
        if done.returncode != 0:
            failed.append(f"{found[name].name} exited {done.returncode}")
    if failed:
        raise CommandError(
            ", ".join(failed)
            + " (the benchmark itself failed: see above; missed targets are only printed)"
        )
    return EXIT_OK


__all__ = [
    "CommandError",
    "UsageError",
    "build_parser",
    "main",
    "one_line",
    "parse_json",
    "read_events",
    "to_json",
]

if __name__ == "__main__":
    sys.exit(main())
