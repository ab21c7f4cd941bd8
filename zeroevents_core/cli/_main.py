"""Running the command line: exit statuses and one-line errors."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import UsageError, ZeroEventsError
from ._arguments import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    quiet_stdout,
)
from ._values import one_line


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_DFL:
        # Held off while the package imported (zeroevents_core/__init__.py).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:  # before a command could handle it: its imports, say
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str]) -> int:
    from ._parser import build_parser
    from ._transport import chosen_name, command_of

    try:
        parser = build_parser(chosen_name(argv), command_of(argv))
    except ZeroEventsError as error:  # an unknown --transport, say
        return _fail(PROG, error, "--debug" in argv, EXIT_USAGE)
    args, extras = parser.parse_known_args(argv)
    if extras:
        selected = getattr(args, "selected", None)
        hint = f" (not flags of transport {selected.name!r})" if selected is not None else ""
        parser.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    prog = f"{PROG} {args.command}"
    for group in ("schema_command", "outbox_command"):
        if getattr(args, group, None):
            prog += f" {getattr(args, group)}"
    debug = bool(args.debug)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format=f"{prog}: %(levelname)s: %(message)s",
    )
    try:
        return _run(args)
    except UsageError as error:
        return _fail(prog, error, debug, EXIT_USAGE)
    except ZeroEventsError as error:
        return _fail(prog, error, debug, EXIT_FAILURE)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        quiet_stdout()
        return EXIT_FAILURE
    except OSError as error:
        return _fail(prog, error, debug, EXIT_FAILURE)
    except Exception as error:
        return _fail(prog, error, debug, EXIT_FAILURE, internal=True)


def _run(args: argparse.Namespace) -> int:
    """The command, between the plugins' configure_cli and what it returned."""
    from ._parser import PLUGGABLE_COMMANDS

    undo: list[Callable[[], Any]] = []
    if args.command in PLUGGABLE_COMMANDS:
        from ..plugins import configure_cli

        undo = configure_cli(args.command, args)
    try:
        status: int = args.run(args)
        return status
    finally:
        for each in reversed(undo):
            each()


def _fail(prog: str, error: BaseException, debug: bool, status: int, internal: bool = False) -> int:
    if debug:
        traceback.print_exc()
    text = one_line(str(error)) or type(error).__name__
    if internal:
        text = f"internal error: {type(error).__name__}: {text} (--debug shows the traceback)"
    print(f"{prog}: error: {text}", file=sys.stderr)
    return status
