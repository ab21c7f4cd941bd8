"""At-least-once for a producer that stops firing: its socket's retry timer.

A producer process fires 20 ids and then does nothing (no push, no flush, no close)
while the test changes the consumer under it. A push, flush and close retransmit;
between them only the timer does (zeroevents_core/transports/retry_timers.py).

- The consumer that got the 20 freezes on the first (nothing is acknowledged) and is
  killed with -9; a new one binds the same endpoint: it fires all 20, counted by id.
- No consumer comes back: every id is reported through ``zeroevents.push.error``
  once ``deliver_timeout_ms`` has passed, while the producer still idles.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from delivery_peer import consume, produce_and_idle, read_ids, wait_for

COUNT = 20
IDLE_S = 120  # longer than any wait below: the producer never pushes, flushes or closes
WAIT_S = 60  # generous: two shared cores, interpreters starting

Spawn = Callable[..., Any]


@pytest.fixture(params=["blocking", "asyncio"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def producer(endpoint: str, **delivery: Any) -> dict[str, Any]:
    return {
        "connect": endpoint,
        "socket_type": "DEALER",
        "delivery": "at-least-once",
        "retry_after_ms": 100,
        "max_retry_after_ms": 400,
        **delivery,
    }


def test_an_idle_producer_retransmits_to_a_new_consumer(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str], flavour: str
) -> None:
    endpoint, first, second = ipc("consumer"), tmp_path / "first", tmp_path / "second"
    failed = tmp_path / "failed"
    options = producer(endpoint, max_attempts=1000, deliver_timeout_ms=600_000)
    frozen = spawn(consume, {"bind": endpoint, "socket_type": "ROUTER"}, str(first), 0, -1, 0,
                   flavour)  # fmt: skip
    wait_for(Path(f"{first}.running.{frozen.pid}").exists, WAIT_S, "the first consumer")
    idle = spawn(produce_and_idle, options, COUNT, str(failed), IDLE_S, flavour)
    wait_for(lambda: read_ids(first) == [0], WAIT_S, "the first consumer to freeze on id 0")
    os.kill(frozen.pid, signal.SIGKILL)
    frozen.join(20)
    spawn(consume, {"bind": endpoint, "socket_type": "ROUTER"}, str(second), 0, -1, -1, flavour)
    wait_for(lambda: set(read_ids(second)) == set(range(COUNT)), WAIT_S,
             f"the new consumer to fire the {COUNT} ids the idle producer resends")  # fmt: skip
    assert idle.is_alive(), "the producer ended: its close, not its timer, may have resent"
    assert read_ids(failed) == []
    print(f"{flavour}: {COUNT} ids, first consumer fired {read_ids(first)} then was killed; "
          f"the new one fired {len(read_ids(second))} ({len(set(read_ids(second)))} distinct) "
          "from a producer that pushed nothing more")  # fmt: skip


def test_an_idle_producer_reports_what_it_gives_up_on_time(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str], flavour: str
) -> None:
    endpoint, record, failed = ipc("consumer"), tmp_path / "record", tmp_path / "failed"
    options = producer(endpoint, deliver_timeout_ms=1500)
    frozen = spawn(consume, {"bind": endpoint, "socket_type": "ROUTER"}, str(record), 0, -1, 0,
                   flavour)  # fmt: skip
    wait_for(Path(f"{record}.running.{frozen.pid}").exists, WAIT_S, "the consumer")
    idle = spawn(produce_and_idle, options, COUNT, str(failed), IDLE_S, flavour)
    wait_for(lambda: sorted(read_ids(failed)) == list(range(COUNT)), WAIT_S,
             f"the {COUNT} ids to be reported failed by the idle producer")  # fmt: skip
    assert idle.is_alive(), "the producer ended: its close, not its timer, reported them"
    assert read_ids(record) == [0]  # the frozen consumer fired only the first
