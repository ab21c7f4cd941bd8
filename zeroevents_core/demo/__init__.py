"""``zeroevents demo``: the library's point in a few seconds.

Two processes on a private ipc socket in a temporary folder (no broker) run the
user code of :mod:`.user_code`, shown on screen first: a producer fires
``orders.*`` events on its dispatcher and an :class:`EventListener` forwards them;
an :class:`EventService` fires them in the other process, on its own dispatcher,
under the contract folder ``demo_contracts/`` (shipped in the package). Both use
the library's defaults. One order in 25 breaks the contract on purpose; the
service never fires those (``zeroevents.schema.error`` instead), and the demo says
why in its own words (:mod:`.wording`).

Live counters are redrawn at a steady rate (plain lines when stdout is not a
terminal), then a summary: sent, received, rejected, latency percentiles from the
producer's ``fire()`` to the service's listener, throughput, and where to go next.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .command import DEFAULT_EVENTS, SHORT_EVENTS, run

__all__ = ["DEFAULT_EVENTS", "SHORT_EVENTS", "main", "run"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zeroevents_core.demo [ARGS]`` is ``zeroevents demo [ARGS]``."""
    from ..cli import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])
