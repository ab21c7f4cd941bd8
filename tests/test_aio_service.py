"""AsyncEventService: blocking listeners refused, dead letters that never block the loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import procs
import procs_lifecycle
from procs import take

from zeroevents_core import Dispatcher, EventListener

CONTRACTS = str(Path(__file__).resolve().parent.parent / "examples" / "contracts")


def test_a_blocking_listener_is_refused_at_listen_and_nothing_hangs(
    spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    child = spawn(procs_lifecycle.refuse_a_blocking_listener, ipc("refused"), queue)
    _, message = take(queue, "refused")
    assert "AsyncEventService receives on AsyncEventListeners" in message
    assert "EventListener zmq" in message  # the listener given, by its repr
    child.join(procs.WAIT)  # exits: no socket, no context was opened
    assert child.exitcode == 0


def test_a_dead_letter_without_a_peer_does_not_block_the_loop(
    spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("inbox")
    child = spawn(
        procs_lifecycle.aserve_with_a_stuck_dead_letter, endpoint, CONTRACTS, ipc("nowhere"), queue
    )
    take(queue, "ready")
    with EventListener({"socket_type": "PUSH", "connect": endpoint}, Dispatcher()) as sender:
        sender.socket().push("orders.created", [{"id": "not an order"}])
    take(queue, "schema.error")
    # The dead letter waits 60 s for a peer; the loop goes on meanwhile.
    take(queue, "ticking", 30)
    child.kill()  # a graceful stop would finish the dead letter's 60 s wait first
    child.join(procs.WAIT)
