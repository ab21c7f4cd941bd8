"""A stop is never lost: SIGTERM at any moment of a run, stop() from another thread.

The service in the child polls without a timeout (or with 1 ms, so that the signal
also lands around the polls): a lost wake-up leaves it polling forever, which the
bounded wait of each run turns into a failure naming the run.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import procs_lifecycle
import pytest
import zmq
from procs import WAIT, take

from zeroevents_core import (
    AsyncEventListener,
    AsyncEventService,
    Dispatcher,
    EventListener,
    EventService,
)

RUNS = 100
FAST = {"LINGER": 1000, "SNDTIMEO": 5000, "RCVTIMEO": 5000}
# A run that has not stopped this long after its SIGTERM missed it.
STOP_WAIT = 10.0


def signal_once(child: Any, sender: zmq.Socket[Any], variant: int, rng: random.Random) -> None:
    """Send one SIGTERM to ``child`` at the moment ``variant`` names."""
    if variant == 1:  # while events stream in
        for n in range(200):
            sender.push("stream", [n])
            if n == 100:
                os.kill(child.pid, signal.SIGTERM)
        return
    if variant == 2:  # at a random moment, around the polls
        time.sleep(rng.uniform(0, 0.003))
    os.kill(child.pid, signal.SIGTERM)


@pytest.mark.parametrize(
    "target", [procs_lifecycle.serve_until_signalled, procs_lifecycle.aserve_until_signalled]
)
def test_sigterm_at_any_moment_of_a_run_stops_the_service(
    target: Callable[..., None], spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("signals")
    child = spawn(target, endpoint, RUNS, queue)
    rng = random.Random(10)
    for run in range(RUNS):
        variant = run % 4
        # Variant 0: right after a sender's close, once its flush barrier is answered.
        options = {"connect": endpoint, "socket_options": FAST, "flush_on_close": variant == 0}
        listener = EventListener(options, Dispatcher())
        try:
            sender = listener.socket()
            sender.push("hello")
            take(queue, "running")
            if variant == 0:
                listener.close()
            signal_once(child, sender, variant, rng)
        finally:
            if variant != 0:
                sender.set(zmq.LINGER, 0)
            listener.close()
        report = take(queue, "stopped", STOP_WAIT)
        assert report == ("stopped", run), f"run {run} (variant {variant}): {report}"
    child.join(WAIT)
    assert child.exitcode == 0


@pytest.mark.parametrize("poll_ms", [-1, 1])
def test_stop_from_another_thread_at_any_moment_ends_run(
    poll_ms: int, ipc: Callable[[str], str]
) -> None:
    rng = random.Random(poll_ms)
    endpoint = ipc("stop")
    for run in range(RUNS):
        dispatcher = Dispatcher()
        inbox = {"socket_type": "PULL", "bind": endpoint, "socket_options": FAST}
        service = EventService(dispatcher).listen(EventListener(inbox, dispatcher))
        service.poll_timeout(poll_ms)
        started = threading.Event()
        dispatcher.listen("zeroevents.service.idle", lambda _, ready=started: ready.set())
        dispatcher.listen("hello", started.set)
        runner = threading.Thread(target=service.run, daemon=True)
        runner.start()
        with EventListener({"socket_type": "PUSH", "connect": endpoint}, Dispatcher()) as sender:
            sender.socket().set(zmq.LINGER, 0)
            sender.socket().push("hello")
            assert started.wait(WAIT)
            time.sleep(rng.uniform(0, 0.002))
            service.stop()
            runner.join(STOP_WAIT)
        assert not runner.is_alive(), f"run {run}: stop() was lost"


def test_async_service_stop_from_another_thread_at_any_moment_ends_run(
    ipc: Callable[[str], str],
) -> None:
    rng = random.Random(5)
    endpoint = ipc("astop")
    for run in range(RUNS):
        dispatcher = Dispatcher()
        inbox = {"socket_type": "PULL", "bind": endpoint, "socket_options": FAST}
        service = AsyncEventService(dispatcher).listen(AsyncEventListener(inbox, dispatcher))
        service.poll_timeout(-1 if run % 2 else 1)
        started = threading.Event()
        dispatcher.listen("zeroevents.service.idle", lambda _, ready=started: ready.set())
        dispatcher.listen("hello", started.set)
        runner = threading.Thread(target=asyncio.run, args=(service.run(),), daemon=True)
        runner.start()
        with EventListener({"socket_type": "PUSH", "connect": endpoint}, Dispatcher()) as sender:
            sender.socket().set(zmq.LINGER, 0)
            sender.socket().push("hello")
            assert started.wait(WAIT)
            time.sleep(rng.uniform(0, 0.002))
            service.stop()
            runner.join(STOP_WAIT)
        assert not runner.is_alive(), f"run {run}: stop() from another thread was lost"
