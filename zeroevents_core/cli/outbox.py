"""``zeroevents outbox``: look into an outbox file (``inspect``)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ._arguments import EXIT_OK, missing_subcommand


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


def _age(created_ms: int | None, now_ms: float) -> float | None:
    return None if created_ms is None else round(max(0.0, now_ms - created_ms) / 1000, 3)


def add_parser(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """The ``outbox`` command and its subcommands."""
    outbox = commands.add_parser(
        "outbox", parents=[common], help="durable outboxes: look into one",
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
    outbox.set_defaults(run=lambda args: missing_subcommand(outbox))
