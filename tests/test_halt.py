"""The service's ``halt`` option: fire each received event as the PHP original does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import procs
import procs_lifecycle
import pytest
from procs import take

from zeroevents_core import ConfigurationError, Dispatcher, EventListener, EventService

STOP = "zeroevents.service.stop"


# --- firing like the original: halt ----------------------------------------------------


@pytest.mark.parametrize("flavour", ["sync", "asyncio"])
@pytest.mark.parametrize("halt", [False, True])
def test_halt_fires_each_event_until_a_listener_answers(
    halt: bool, flavour: str, spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("halt")
    child = spawn(procs_lifecycle.serve_halting, endpoint, flavour, halt, queue)
    take(queue, "ready")
    with EventListener({"socket_type": "PUSH", "connect": endpoint}, Dispatcher()) as sender:
        sender.socket().push("job.answered", ["done"])  # the first listener answers "done"
        sender.socket().push("job.silent", [None])  # the first listener answers None
        sender.socket().push(STOP)
    calls = [take(queue, "called")[1:] for _ in range(3 if halt else 4)]
    answered = [("first", "done")] + ([] if halt else [("second", "done")])
    assert calls == [*answered, ("first", None), ("second", None)]
    take(queue, "stopped")
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_halt_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="'halt'"):
        EventService(halt="yes")  # type: ignore[arg-type]
