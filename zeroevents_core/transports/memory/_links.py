"""The process-wide table of names, the bounded queues, and how to wait on them.

A queue or the table is a :class:`Changes`: a lock, a count of its changes, and
waits for the next change from a thread (a condition) or from an event loop (a
future that the change resolves, whichever thread made it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import asyncio  # at run time only where the asyncio side runs: loaded by its users

SCHEME = "memory://"


def deadline_after(timeout_ms: int) -> float | None:
    return None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000


def seconds_left(deadline: float | None) -> float | None:
    """Seconds to ``deadline`` (0 once passed); None: no limit."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Changes:
    """A lock, and a way to wait for a change of what it guards from a thread or
    from an event loop. ``version`` counts the changes: a waiter says which
    version it saw, so that a change between its look and its wait is not lost."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._condition = threading.Condition(self.lock)
        self.version = 0
        self.watchers: list[Callable[[], None]] = []  # pollers and asyncio waiters
        self._waiting = 0  # threads in wait(): the hot path notifies only when some are

    def changed(self) -> None:
        """Wake every waiter; called with ``lock`` held."""
        self.version += 1
        if self._waiting:
            self._condition.notify_all()
        for watcher in self.watchers:
            watcher()

    def wait(self, seen: int, deadline: float | None) -> None:
        """Block until a change after version ``seen``, or the deadline."""
        with self.lock:
            self._waiting += 1
            try:
                while self.version == seen:
                    left = seconds_left(deadline)
                    if left == 0:
                        return
                    self._condition.wait(left)
            finally:
                self._waiting -= 1

    async def wait_async(self, seen: int, deadline: float | None) -> None:
        """:meth:`wait` for an event loop: a future that a change resolves."""
        import asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def watcher() -> None:
            if not fired:  # once is enough
                fired.append(True)
                loop.call_soon_threadsafe(resolve, future)

        fired: list[bool] = []

        with self.lock:
            if self.version != seen:
                return
            self.watchers.append(watcher)
        try:
            await asyncio.wait_for(future, seconds_left(deadline))
        except TimeoutError:
            pass
        finally:
            with self.lock, contextlib.suppress(ValueError):
                self.watchers.remove(watcher)


class Wait(NamedTuple):
    """What a step that cannot finish yet waits for: a change of ``changes`` after
    ``version``."""

    changes: Changes
    version: int


class Frames(list[bytes]):
    """One received message: its frames, and the queue of the socket that sent it
    (``reply_to`` of its :class:`Message`; None for raw frames sent without one)."""

    __slots__ = ("reply_to",)
    reply_to: Queue | None


class Queue(Changes):
    """The bounded queue of messages a socket has received, and its counters."""

    def __init__(self, capacity: int, owner: str) -> None:
        super().__init__()
        self.capacity = capacity
        self.owner = owner  # for messages: where the socket binds or connects
        self.items: deque[tuple[list[bytes], Queue | None]] = deque()
        self.added = 0
        self.taken = 0
        self.lost = 0  # events of this socket that a closing receiver dropped
        self.closed = False

    def __repr__(self) -> str:
        return f"<memory queue of {self.owner}>"


class Links(Changes):
    """Who binds each name, and who connects to it: one table for the process."""

    def __init__(self) -> None:
        super().__init__()
        self.bound: dict[str, Queue] = {}
        self.connected: dict[str, list[Queue]] = {}


LINKS = Links()
