"""A listener that raises SystemExit or KeyboardInterrupt stops the service gracefully:
the events in hand finish, the sockets are closed, and the exception reaches the caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import procs
import procs_lifecycle
import pytest
from procs import take

from zeroevents_core import Dispatcher, EventListener


@pytest.mark.parametrize("flavour", ["sync", "asyncio"])
@pytest.mark.parametrize(
    ("how", "raised", "exitcode"),
    # multiprocessing turns an uncaught KeyboardInterrupt into exit code 1.
    [("exit", "SystemExit", 3), ("interrupt", "KeyboardInterrupt", 1)],
)
def test_a_listener_that_exits_stops_the_service_gracefully(
    flavour: str,
    how: str,
    raised: str,
    exitcode: int,
    spawn: Any,
    queue: Any,
    ipc: Callable[[str], str],
) -> None:
    endpoint = ipc("exits")
    child = spawn(procs_lifecycle.serve_until_a_listener_exits, endpoint, flavour, how, queue)
    take(queue, "ready")
    with EventListener({"socket_type": "PUSH", "connect": endpoint}, Dispatcher()) as sender:
        for event in ("slow", "bye", "never"):
            sender.socket().push(event)
    # The slow event, in hand when bye raised, finishes; nothing after bye is fired.
    assert take(queue, "event") == ("event", "slow")
    assert take(queue, "stopped") == ("stopped", raised, True)
    procs.nothing_more(queue)
    child.join(procs.WAIT)
    assert child.exitcode == exitcode
