"""Functions run in child processes by the thread, signal and exit tests.

Each reports to a multiprocessing queue with tuples whose first item says what
happened, as in ``procs``. Every loop here is bounded; the tests kill what is still
running at teardown.
"""

from __future__ import annotations

import asyncio
import collections
import sys
from typing import Any

import zmq

from zeroevents_core import (
    AsyncEventListener,
    AsyncEventService,
    Dispatcher,
    EventListener,
    EventService,
    Message,
)

FLUSH = "zeroevents.flush"
RUN_END = "run.end"
FAST = {"LINGER": 1000, "SNDTIMEO": 5000, "RCVTIMEO": 5000}
# The service's own DEALER has answered barriers: it must not wait for its peer at close.
INBOX = {"socket_options": FAST, "flush_on_close": False}


def check(event: str, payload: list[Any]) -> tuple[int, int] | None:
    """``(thread, sequence)`` of an event fired by ``tests.test_threads``, or None when
    its name and payload do not belong together (frames of two events mixed)."""
    if len(payload) != 3 or not all(isinstance(p, int) for p in payload[:2]):
        return None
    thread, sequence, text = payload
    if event != f"load.{thread}" or text != body(thread, sequence):
        return None
    return thread, sequence


def body(thread: int, sequence: int) -> str:
    """A payload string that differs per event and in length, so that mixed frames show."""
    return f"{thread}:{sequence}:" + "x" * (sequence % 64)


def count_runs(options: dict[str, Any], runs: int, queue: Any) -> None:
    """Pull events on a ROUTER and, at each ``run.end`` (run, expected), report what
    that run delivered: events intact, duplicates, bad ones, the senders seen."""
    dispatcher = Dispatcher()
    with EventListener(options, dispatcher) as listener:
        socket = listener.socket()
        socket.set(zmq.RCVTIMEO, 60_000)
        queue.put(("ready", [socket.get(zmq.LAST_ENDPOINT).decode()]))
        seen: collections.Counter[tuple[int, int]] = collections.Counter()
        bad = 0
        senders: set[bytes | None] = set()
        while runs:
            message = socket.pull()  # a timeout (60 s) fires pull.error: a failed test
            if not isinstance(message, Message):
                queue.put(("timeout",))
                return
            event, payload, address = message
            if event == FLUSH:
                continue
            if event == RUN_END:
                run, _ = payload
                duplicates = sum(n - 1 for n in seen.values() if n > 1)
                queue.put(("run", run, len(seen), duplicates, bad, len(senders)))
                seen.clear()
                senders.clear()
                bad = 0
                runs -= 1
                continue
            senders.add(address)
            key = check(event, payload)
            if key is None:
                bad += 1
            else:
                seen[key] += 1


# --- signals ---------------------------------------------------------------------------


def serve_until_signalled(endpoint: str, runs: int, queue: Any) -> None:
    """Run a service ``runs`` times on ``endpoint`` (DEALER, answers the flush barrier),
    polling forever (a lost wake-up hangs) or 1 ms (signals land around the polls) in
    turn; each run reports ("running", run) at its first event and ("stopped", run)
    when it returns."""
    dispatcher = Dispatcher()
    for run in range(runs):
        started = [False]

        def first(*_: Any, run: int = run, started: list[bool] = started) -> None:
            if not started[0]:
                started[0] = True
                queue.put(("running", run))

        dispatcher.listen("hello", first)
        service = EventService(dispatcher).poll_timeout(-1 if run % 8 < 4 else 1)
        service.listen(EventListener({"bind": endpoint, **INBOX}, dispatcher))
        service.run()
        dispatcher.forget("hello")
        queue.put(("stopped", run))


def aserve_until_signalled(endpoint: str, runs: int, queue: Any) -> None:
    """:func:`serve_until_signalled` with the asyncio service."""

    async def main() -> None:
        dispatcher = Dispatcher()
        for run in range(runs):
            started = [False]

            def first(*_: Any, run: int = run, started: list[bool] = started) -> None:
                if not started[0]:
                    started[0] = True
                    queue.put(("running", run))

            dispatcher.listen("hello", first)
            service = AsyncEventService(dispatcher).poll_timeout(-1 if run % 8 < 4 else 1)
            service.listen(AsyncEventListener({"bind": endpoint, **INBOX}, dispatcher))
            await service.run()
            dispatcher.forget("hello")
            queue.put(("stopped", run))

    asyncio.run(main())


# --- listeners that exit ---------------------------------------------------------------


def serve_until_a_listener_exits(endpoint: str, flavour: str, how: str, queue: Any) -> None:
    """A service (blocking, or asyncio handling 4 events at once) whose listener of
    ``bye`` raises ``SystemExit(3)`` or ``KeyboardInterrupt``; ``slow`` takes a while
    and reports when done. Reports ("stopped", exception type, inbox closed) and
    re-raises what ``run()`` raised."""
    dispatcher = Dispatcher()

    def bye(*_: Any) -> None:
        if how == "exit":
            sys.exit(3)
        raise KeyboardInterrupt

    dispatcher.listen("bye", bye)
    dispatcher.listen("bye", lambda *_: queue.put(("event", "after bye")))
    options = {"bind": endpoint, "socket_type": "PULL", "socket_options": FAST}
    if flavour == "sync":
        dispatcher.listen("slow", lambda: queue.put(("event", "slow")))
        inbox: Any = EventListener(options, dispatcher)
        socket = inbox.socket()
        queue.put(("ready",))
        try:
            EventService(dispatcher).listen(inbox).run()
        except BaseException as exc:
            queue.put(("stopped", type(exc).__name__, socket.closed))
            raise
        return

    async def slow() -> None:
        await asyncio.sleep(0.5)
        queue.put(("event", "slow"))

    dispatcher.listen("slow", slow)

    async def main() -> None:
        ainbox = AsyncEventListener(options, dispatcher)
        asocket = ainbox.socket()
        queue.put(("ready",))
        try:
            await AsyncEventService(dispatcher, max_concurrency=4).listen(ainbox).run()
        except BaseException as exc:
            queue.put(("stopped", type(exc).__name__, asocket.closed))
            raise

    asyncio.run(main())


# --- firing like the original ----------------------------------------------------------


def serve_halting(endpoint: str, flavour: str, halt: bool, queue: Any) -> None:
    """A service made with ``halt``: each event has two listeners, the first answering
    what the event's payload says; each call is reported, ("stopped",) at the end."""
    dispatcher = Dispatcher()
    dispatcher.listen("job.*", lambda answer: queue.put(("called", "first", answer)) or answer)
    dispatcher.listen("job.*", lambda answer: queue.put(("called", "second", answer)))
    options = {"bind": endpoint, "socket_type": "PULL", "socket_options": FAST}
    if flavour == "sync":
        listener = EventListener(options, dispatcher)
        listener.socket()
        queue.put(("ready",))
        EventService(dispatcher, halt=halt).listen(listener).run()
    else:

        async def main() -> None:
            alistener = AsyncEventListener(options, dispatcher)
            alistener.socket()
            queue.put(("ready",))
            await AsyncEventService(dispatcher, halt=halt).listen(alistener).run()

        asyncio.run(main())
    queue.put(("stopped",))


# --- asyncio -------------------------------------------------------------------------


def refuse_a_blocking_listener(endpoint: str, queue: Any) -> None:
    """Hand a blocking EventListener to an AsyncEventService; report the error."""
    from zeroevents_core import ConfigurationError

    try:
        AsyncEventService().listen(EventListener({"bind": endpoint}))  # type: ignore[arg-type]
    except ConfigurationError as error:
        queue.put(("refused", str(error)))


def aserve_with_a_stuck_dead_letter(
    endpoint: str, contracts: str, nowhere: str, queue: Any
) -> None:
    """An asyncio service whose dead letter has no peer (its send waits 60 s), and a
    ticker task in the same loop: reports ("schema.error",), then ("ticking",) once the
    ticker has run three times since, which it cannot while the loop is blocked."""

    async def main() -> None:
        dispatcher = Dispatcher()
        since: list[int] = []
        dispatcher.listen("zeroevents.schema.error", lambda *_: since.append(0))
        dispatcher.listen("zeroevents.schema.error", lambda *_: queue.put(("schema.error",)))
        # IMMEDIATE: no queue for a peer that is not there, so the send waits its timeout.
        stuck_options = {"SNDTIMEO": 60_000, "LINGER": 0, "IMMEDIATE": 1}
        stuck = {"connect": nowhere, "socket_options": stuck_options}
        inbox = AsyncEventListener(
            {**INBOX, "bind": endpoint, "socket_type": "PULL", "schemas": contracts},
            dispatcher,
        )
        service = AsyncEventService(dispatcher, dead_letter=stuck).listen(inbox)
        inbox.socket()

        async def tick() -> None:
            while True:
                await asyncio.sleep(0.01)
                if since:
                    since[0] += 1
                    if since[0] == 3:
                        queue.put(("ticking",))

        ticker = asyncio.ensure_future(tick())
        queue.put(("ready",))
        try:
            await service.run()
        finally:
            ticker.cancel()

    asyncio.run(main())
