"""The asyncio poller of the ``zmq`` transport."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import zmq
import zmq.asyncio

from ._wire import transport_error


class ZmqAsyncPoller:
    """The ``zmq`` transport's :class:`~zeroevents_core.transports.AsyncPoller`: a
    ``zmq.asyncio.Poller`` that an asyncio service can wake up."""

    def __init__(self, sockets: Sequence[Any]) -> None:
        self._poller = zmq.asyncio.Poller()
        for socket in sockets:
            self._poller.register(socket, zmq.POLLIN)
        self._pending: asyncio.Future[Any] | None = None
        self._woken = False

    async def poll(self, timeout_ms: int) -> list[Any]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout_ms < 0 else loop.time() + timeout_ms / 1000
        while not self._woken:
            left = -1.0 if deadline is None else max(0.0, (deadline - loop.time()) * 1000)
            future: asyncio.Future[Any] = self._poller.poll(left)  # type: ignore[assignment]
            self._pending = future
            try:
                ready = await future
            except zmq.Again:
                # pyzmq ends a poll with Again when a socket's RCVTIMEO elapses first.
                if deadline is not None and loop.time() >= deadline:
                    return []
                continue
            except zmq.ZMQError as error:
                raise transport_error(error, "poll") from None
            finally:
                self._pending = None
            found = [socket for socket, _ in ready]
            for socket in found:
                socket.barrier.due = True  # greet a sender that joined a busy socket
            return found
        self._woken = False
        return []

    def wake(self) -> None:
        pending = self._pending
        if pending is not None and not pending.done():
            pending.set_result([])
        else:
            self._woken = True

    def close(self) -> None:
        """Nothing to release: the sockets are their listeners' to close."""
