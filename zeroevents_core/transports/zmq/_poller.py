"""The blocking poller of the ``zmq`` transport: a ``zmq.Poller`` that also waits
on a pipe, so that a stop from another thread or a signal wakes it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import zmq

from ._wire import transport_error


class ZmqPoller:
    """The ``zmq`` transport's :class:`~zeroevents_core.transports.Poller`.

    ``signal_fd`` is the write end of the pipe: given to ``signal.set_wakeup_fd``,
    the C-level handler writes to it before any Python runs, so a signal that lands
    just before :meth:`poll` starts still wakes it.
    """

    def __init__(self, sockets: Sequence[Any]) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.signal_fd: int | None = self._write
        self._poller = zmq.Poller()
        for socket in sockets:
            self._poller.register(socket, zmq.POLLIN)
        self._poller.register(self._read, zmq.POLLIN)

    def poll(self, timeout_ms: int) -> list[Any]:
        try:
            ready = self._poller.poll(None if timeout_ms < 0 else timeout_ms)
        except zmq.ZMQError as error:
            raise transport_error(error, "poll") from None
        found = [socket for socket, _ in ready if socket != self._read]
        if not found:
            self._drain()
            return []
        for socket in found:
            socket.barrier.due = True  # greet a sender that joined a busy socket
        return found

    def wake(self) -> None:
        # A full pipe means the poll is waking up anyway; a closed one, that it is over.
        with contextlib.suppress(OSError):
            os.write(self._write, b"\0")

    def close(self) -> None:
        os.close(self._write)
        os.close(self._read)

    def _drain(self) -> None:
        # A pipe holds 64 KiB at most on Linux: 16 reads empty it; a wake written
        # meanwhile may stay for the next poll, which then returns at once (harmless).
        with contextlib.suppress(BlockingIOError):
            for _ in range(16):
                if not os.read(self._read, 4096):
                    return
