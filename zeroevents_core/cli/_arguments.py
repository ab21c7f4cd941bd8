"""What every command shares: exit statuses, the one-line-error parser, value types,
the flags of ``listen`` and ``emit`` that no transport owns, a quiet stdout after ``| head``."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import NoReturn

PROG = "zeroevents"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage stays in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return number


def seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (number > 0 and math.isfinite(number)):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value!r}")
    return number


def non_negative_seconds(value: str) -> float:
    return 0.0 if value.strip() in ("0", "0.0") else seconds(value)


def missing_subcommand(parser: argparse.ArgumentParser) -> int:
    """What a command with subcommands does when given none."""
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def quiet_stdout() -> None:
    """The reader went away (``| head``): make the interpreter's last flush harmless."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def add_socket_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags ``listen`` and ``emit`` share, whatever the transport."""
    parser.add_argument(
        "--serializer", default="json", metavar="NAME",
        help="serializer plugin of the payload frames (default: json; see 'zeroevents plugins')",
    )  # fmt: skip
    parser.add_argument(
        "--schemas", metavar="DIR",
        help="contract folder: NAME.json is the JSON Schema of the events named (or matched "
        "by) NAME; see 'zeroevents schema check'",
    )  # fmt: skip
