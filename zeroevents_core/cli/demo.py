"""``zeroevents demo``: two processes, one private socket, a contract."""

from __future__ import annotations

import argparse
from typing import Any

from ._arguments import positive_int
from ._transport import default_transport


def add_parser(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser(
        "demo", parents=[common],
        help="two processes, one private socket, a contract: watch events cross",
        description="Start an EventService in one process and a producer in another on a "
        "private ipc socket, fire a stream of orders (some breaking the demo's contract) "
        "through an EventListener with msgpack, show them arriving and sum up: sent, "
        "received, rejected, latency percentiles and throughput.",
    )  # fmt: skip
    demo.add_argument(
        "--events", type=positive_int, metavar="N",
        help="events to send (default: 30,000: a third paced to measure latency, then a burst)",
    )  # fmt: skip
    demo.add_argument("--short", action="store_true", help="a quick run of 1,500 events")
    demo.add_argument(
        "--rate", type=positive_int, default=5000, metavar="PER_SECOND",
        help="pace of the latency part (default: 5000 events/s)",
    )  # fmt: skip
    demo.add_argument(
        "--serializer", metavar="NAME", help="default: msgpack if installed, else json"
    )
    demo.add_argument(
        "--transport", metavar="NAME",
        help=f"transport plugin to run over (default: {default_transport()}); the demo lists "
        "the installed ones",
    )  # fmt: skip
    demo.set_defaults(run=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from .. import demo

    events = args.events or (demo.SHORT_EVENTS if args.short else demo.DEFAULT_EVENTS)
    return demo.run(
        events=events, rate=args.rate, serializer=args.serializer, transport=args.transport
    )
