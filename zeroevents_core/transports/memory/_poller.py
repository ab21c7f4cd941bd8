"""The memory pollers: what a blocking and an asyncio service wait on."""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._links import deadline_after, resolve, seconds_left

if TYPE_CHECKING:
    import asyncio  # at run time only where the asyncio side runs: loaded by its users


class MemoryPoller:
    """What a blocking service waits on: a pipe that a change of any of its sockets'
    queues writes to while a :meth:`poll` waits (``signal_fd`` is its write end)."""

    def __init__(self, sockets: Sequence[Any]) -> None:
        self._sockets = list(sockets)
        self._queues = [socket.inbox for socket in self._sockets]
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.signal_fd: int | None = self._write
        self._poll = select.poll()
        self._poll.register(self._read, select.POLLIN)
        self._armed = False  # a poll is waiting: a change writes to the pipe
        self._woken = False
        self._closing = threading.RLock()  # reentrant: wake() may run in a signal handler
        for queue in self._queues:
            with queue.lock:
                queue.watchers.append(self._changed)

    def _changed(self) -> None:
        if self._armed:
            self._armed = False
            self._ring()

    def _ring(self) -> None:
        with self._closing:
            if self._write >= 0:
                # A full pipe means the poll is waking up anyway.
                with contextlib.suppress(OSError):
                    os.write(self._write, b"\0")

    def poll(self, timeout_ms: int) -> list[Any]:
        """The sockets with messages waiting, once some have or after ``timeout_ms``
        (-1: no limit); [] as soon as :meth:`wake` is called."""
        deadline = deadline_after(timeout_ms)
        while True:  # bounded by the deadline; each turn waits on the pipe
            self._armed = True
            if self._woken:
                self._armed = self._woken = False
                return []
            ready = [s for s, q in zip(self._sockets, self._queues, strict=True) if q.items]
            if ready:
                self._armed = False
                return ready
            left = seconds_left(deadline)
            if left == 0:
                self._armed = False
                return []
            self._poll.poll(None if left is None else left * 1000)
            with contextlib.suppress(BlockingIOError):
                while os.read(self._read, 512):
                    pass

    def wake(self) -> None:
        """Make the pending (or the next) poll return [] now; from any thread, and
        from a signal handler."""
        self._woken = True
        self._ring()

    def close(self) -> None:
        for queue in self._queues:
            with queue.lock, contextlib.suppress(ValueError):
                queue.watchers.remove(self._changed)
        with self._closing:
            if self._write >= 0:
                os.close(self._write)
                os.close(self._read)
                self._write = self._read = -1
                self.signal_fd = None


class MemoryAsyncPoller:
    """What an asyncio service waits on: a future that a change of any of its
    sockets' queues resolves, from whichever thread made it."""

    def __init__(self, sockets: Sequence[Any]) -> None:
        self._sockets = list(sockets)
        self._queues = [socket.inbox for socket in self._sockets]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._future: asyncio.Future[None] | None = None
        self._woken = False
        for queue in self._queues:
            with queue.lock:
                queue.watchers.append(self._changed)

    def _changed(self) -> None:
        future, loop = self._future, self._loop
        if future is not None and loop is not None:
            self._future = None
            loop.call_soon_threadsafe(resolve, future)

    async def poll(self, timeout_ms: int) -> list[Any]:
        """The sockets with messages waiting, once some have or after ``timeout_ms``
        (-1: no limit); [] as soon as :meth:`wake` is called."""
        import asyncio

        loop = self._loop = asyncio.get_running_loop()
        deadline = deadline_after(timeout_ms)
        while True:  # bounded by the deadline; each turn waits for a change
            # The future first: a wake or a change from now on resolves it.
            future = self._future = loop.create_future()
            if self._woken:
                self._future = None
                self._woken = False
                return []
            ready = [s for s, q in zip(self._sockets, self._queues, strict=True) if q.items]
            if ready:
                self._future = None
                return ready
            try:
                await asyncio.wait_for(future, seconds_left(deadline))
            except TimeoutError:
                return []
            finally:
                self._future = None

    def wake(self) -> None:
        """Make the pending (or the next) poll return [] now; from any thread."""
        self._woken = True
        future, loop = self._future, self._loop
        if future is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(resolve, future)

    def close(self) -> None:
        for queue in self._queues:
            with queue.lock, contextlib.suppress(ValueError):
                queue.watchers.remove(self._changed)
