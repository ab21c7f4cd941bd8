"""Retries on time between pushes: at-least-once for a listener that stops firing.

A push reads acknowledgements and retransmits what is due (:func:`.reliable.tending`
inside :func:`.reliable.delivering`), and so do ``flush`` and ``close``; a listener
that fires a burst and then nothing would otherwise wait for its next push to
retransmit what was lost, or to report what it gives up. Each at-least-once socket
therefore has a timer, started by its first event in flight, that wakes when the
next retry is due (:meth:`.delivery.SendWindow.next_due_ms`) and runs the socket's
``tend`` round: a daemon thread for a blocking socket, a task of its loop for an
asyncio one. ``zeroevents.push.error`` for an event given up then comes from that
thread or task.

``tend()`` returns when to look again (milliseconds on ``time.monotonic()``'s clock;
None: nothing in flight, then the timer sleeps until :meth:`poke`) and sets ``idle``
when it returns None, under the same lock as the pushes (the blocking sockets' send
lock; the loop for asyncio): a push that puts an event in flight pokes an idle timer
(:meth:`.reliable.Outgoing.sent`), so that no event waits without a timer.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("zeroevents_core.transports")

# The shortest wait between two rounds (ms): what could not be sent is due again at
# once, and the link needs a moment to take it.
FLOOR_MS = 1.0
# How long closing waits for the thread to end its round (s).
STOP_TIMEOUT = 1.0


class Timer(Protocol):
    """What :class:`..reliable.Outgoing` knows of its socket's timer."""

    idle: bool

    def poke(self) -> None: ...

    def stop(self) -> None: ...


def _wait_s(due_ms: float | None) -> float | None:
    if due_ms is None:
        return None
    return max(due_ms - time.monotonic() * 1000, FLOOR_MS) / 1000


class RetryTimer:
    """The timer of a blocking socket: a daemon thread named ``name``."""

    def __init__(self, tend: Callable[[], float | None], name: str) -> None:
        self.idle = True  # waiting for an event in flight: poke() it
        self._tend = tend
        self._name = name
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """An event went in flight (under the socket's send lock): look at it."""
        self.idle = False
        if self._stopped:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """End the thread (the socket closes: its close settles what is in flight)."""
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_TIMEOUT)

    def _run(self) -> None:
        try:
            while not self._stopped:  # until stop(); each wait ends when a retry is due
                self._wake.clear()
                due = self._tend()
                if not self._stopped:
                    self._wake.wait(_wait_s(due))
        except Exception:  # the socket closed under it: close() settles the rest
            log.debug("the retry timer of a socket stopped", exc_info=True)


class AsyncRetryTimer:
    """The timer of an asyncio socket: a task of the loop of its first push."""

    def __init__(self, tend: Callable[[], Awaitable[float | None]]) -> None:
        self.idle = True  # waiting for an event in flight: poke() it
        self._tend = tend
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def poke(self) -> None:
        """An event went in flight (in the loop): look at it."""
        import asyncio  # loaded by asyncio sockets only, which have it already

        self.idle = False
        if self._stopped:
            return
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(self._wake))
        self._wake.set()

    def stop(self) -> None:
        """Cancel the task (the socket closes: its close settles what is in flight)."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

    async def _run(self, wake: asyncio.Event) -> None:
        import asyncio

        try:
            while not self._stopped:  # until stop(); each wait ends when a retry is due
                wake.clear()
                due = await self._tend()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), _wait_s(due))
        except Exception:  # the socket closed under it: close() settles the rest
            log.debug("the retry timer of a socket stopped", exc_info=True)


__all__ = ["AsyncRetryTimer", "RetryTimer", "Timer"]
