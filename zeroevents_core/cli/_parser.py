"""The whole ``zeroevents`` command line, assembled from each command's module."""

from __future__ import annotations

import argparse

from . import demo, emit, listen, outbox, plugins, schema
from ._arguments import PROG, Parser
from ._transport import NeutralCommandLine, Selected, default_transport, every_transport, select

# The commands that need no transport: their command line loads no plugin.
PLAIN_COMMANDS = ("plugins", "schema", "outbox", "demo")
# The commands that plugins may add flags to (the add_cli_arguments hook).
PLUGGABLE_COMMANDS = ("listen", "emit")


def build_parser(
    transport: str | None = None, command: str | None = None
) -> argparse.ArgumentParser:
    """The whole command line (the docs' CLI reference is its ``--help`` output);
    ``listen`` and ``emit`` take the flags of ``transport`` (default: the listeners').
    Given the ``command`` about to run, and it needs no transport, the transports'
    flags and commands are left out (the plugins are not loaded for nothing)."""
    common = Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show tracebacks and the library's debug log",
    )  # fmt: skip
    parser = Parser(
        prog=PROG,
        description="Events between processes over ZeroMQ: tail a socket, send events, "
        "list plugins, check contracts, inspect an outbox, run the demo.",
        epilog="Each command has --help. Exit status: 0 success, 1 runtime failure, 2 bad usage.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and the library's debug log"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", title="commands")
    plain = command in PLAIN_COMMANDS
    name = transport or default_transport()
    selected = Selected(name, (), NeutralCommandLine(name)) if plain else select(name)
    listen.add_parser(commands, common, selected)
    emit.add_parser(commands, common, selected)
    if not plain:
        from ..plugins import add_cli_arguments

        for pluggable in PLUGGABLE_COMMANDS:
            add_cli_arguments(pluggable, commands.choices[pluggable])
    plugins.add_parser(commands, common)
    schema.add_parser(commands, common)
    outbox.add_parser(commands, common)
    for each in [] if plain else every_transport():
        each.command_line.add_commands(commands, common)
    demo.add_parser(commands, common)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zeroevents-core")
    except PackageNotFoundError:
        return "(not installed)"
