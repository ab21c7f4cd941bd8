"""One listener fired from many threads at once, to a receiver in another process.

Each event carries its thread and sequence numbers in its name and payload, so the
receiver tells an intact event from frames of two events mixed, and counts each
(thread, sequence) to see losses and duplicates. A ROUTER receiver also sees how
many sockets sent: the lazy open must make one, whichever threads race to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import procs_lifecycle
from procs import WAIT, take
from procs_lifecycle import RUN_END, body

from zeroevents_core import Dispatcher, EventListener, Message

THREADS = 8
FIRES = 10_000
RUNS = 20
FAST = {"LINGER": 10_000, "SNDTIMEO": 10_000, "RCVTIMEO": 10_000}


def fire_from_threads(dispatcher: Dispatcher, fires: int) -> list[list[Any]]:
    """Fire ``fires`` events from each of THREADS threads released together; the
    responses of each thread's fires, in order."""
    start = threading.Barrier(THREADS)
    responses: list[list[Any]] = [[] for _ in range(THREADS)]

    def work(thread: int) -> None:
        start.wait()
        got = responses[thread]
        for sequence in range(fires):
            got.append(dispatcher.fire(f"load.{thread}", thread, sequence, body(thread, sequence)))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT * 5)
    assert not any(worker.is_alive() for worker in workers), "a firing thread hung"
    return responses


def test_one_listener_fired_from_eight_threads_delivers_every_event_once(
    spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("threads")
    receiver = {"socket_type": "ROUTER", "bind": endpoint, "socket_options": FAST}
    child = spawn(procs_lifecycle.count_runs, receiver, RUNS, queue)
    take(queue, "ready")
    for run in range(RUNS):
        dispatcher = Dispatcher()
        # A fresh listener each run: its first fires race to open the socket.
        with EventListener({"connect": endpoint, "socket_options": FAST}, dispatcher) as listener:
            dispatcher.listen(["load.*", RUN_END], listener)
            responses = fire_from_threads(dispatcher, FIRES)
            assert all(r == [True] for got in responses for r in got), f"run {run}: a push failed"
            dispatcher.fire(RUN_END, run, THREADS * FIRES)
        report = take(queue, "run")
        assert report == ("run", run, THREADS * FIRES, 0, 0, 1), (
            f"run {run}: (events intact, duplicates, mixed, sockets) = {report[2:]}"
        )
    child.join(WAIT)
    assert child.exitcode == 0


def test_confirmed_pushes_from_eight_threads_each_get_their_own_confirmation(
    spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("confirmed")
    receiver = {"socket_type": "ROUTER", "bind": endpoint, "confirmed": True}
    receiver["socket_options"] = FAST
    child = spawn(procs_lifecycle.count_runs, receiver, 1, queue)
    take(queue, "ready")
    fires = 300
    dispatcher = Dispatcher()
    sender = {"connect": endpoint, "confirmed": True, "socket_options": FAST}
    with EventListener(sender, dispatcher) as listener:
        dispatcher.listen(["load.*", RUN_END], listener)
        responses = fire_from_threads(dispatcher, fires)
        for thread, got in enumerate(responses):
            mine = [Message("zeroevents.confirmed", [f"load.{thread}"], None)]
            wrong = [r for r in got if r != mine]
            assert not wrong, f"thread {thread} got {len(wrong)} wrong replies, e.g. {wrong[0]}"
        dispatcher.fire(RUN_END, 0, THREADS * fires)
    assert take(queue, "run") == ("run", 0, THREADS * fires, 0, 0, 1)
    child.join(WAIT)
    assert child.exitcode == 0
