"""The ``zeroevents`` command line: tail a socket, send events by hand, list the
plugins, check a contract folder, inspect an outbox, run the demo.

Built on :mod:`argparse` (the standard library: the core gains no dependency).
One module per command (``listen``, ``emit``, ``plugins``, ``schema``, ``outbox``, ``demo``);
a transport adds its own flags to ``listen`` and ``emit`` (``cli_options()``) and
its own commands (the ZeroMQ one adds ``keys``). Exit status: 0 on success, 1 on
a runtime failure (every :class:`ZeroEventsError`, with its message), 2 on bad
usage. Errors are one line on stderr; ``--debug`` adds the traceback and the
library's debug log. Heavy modules (the contract engines) are imported by the
command that needs them, so ``--help`` is quick. How values JSON cannot show are
written: :mod:`._values`.
"""

from __future__ import annotations

from ..errors import CommandError, UsageError
from ._main import main
from ._parser import build_parser
from ._values import one_line, parse_json, read_events, to_json

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
