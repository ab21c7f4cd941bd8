"""Functions run in child processes (spawned) by the metrics tests.

Each reports to a multiprocessing queue, as in :mod:`procs`; every wait is bounded.
"""

from __future__ import annotations

from typing import Any

from zeroevents_core import Dispatcher, EventListener

PUSH_ERROR = "zeroevents.push.error"
WAIT = 60.0


def flood(options: dict[str, Any], commands: Any, reports: Any) -> None:
    """Serve this process's metrics on a free port (reported as ("ready", port)), then
    fire ``flood.tick`` through a listener on ``options`` as many times as each
    command says (reported as ("fired", count)); None ends it."""
    from zeroevents_prometheus import MetricsServer

    dispatcher = Dispatcher()
    dispatcher.listen(PUSH_ERROR, lambda socket, event, payload, reply_to: "dropped")
    listener = EventListener(options, dispatcher)
    dispatcher.listen("flood.*", listener)
    server = MetricsServer(0)
    reports.put(("ready", server.port))
    try:
        while (count := commands.get(timeout=WAIT)) is not None:
            for i in range(count):
                dispatcher.fire("flood.tick", i)
            reports.put(("fired", count))
    finally:
        listener.close()
        server.close()
