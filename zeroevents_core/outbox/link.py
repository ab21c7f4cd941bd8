"""What an ``EventListener`` with the ``outbox`` option does instead of pushing.

``fire()`` (through the listener) checks the outgoing contract, serializes the
payload and appends it to the outbox: it returns once the event is committed. A full
outbox waits up to the socket's send timeout (``SNDTIMEO``, or ``send_timeout_ms``)
for room, then fires ``zeroevents.push.error`` (socket, event, payload, reply_to). The sender thread
(:mod:`.sender`) delivers the rows through the listener's socket, opened with
``delivery = "at-least-once"`` under the stream's producer id.

The outbox files of a process are shared by path: several listeners may write to one
file, each its own destination (stream).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..dispatcher import Dispatcher
from ..envelope import event_id
from ..errors import OutboxFullError
from ..transports.codec import PUSH_ERROR, resolve_serializer
from ..transports.reliable import FlushReport, PendingEvent
from .sender import NEVER, OutboxSender
from .store import Outbox

log = logging.getLogger(__name__)

_shared: dict[Path, tuple[Outbox, int]] = {}
# An event stored from an event loop, waiting for the loop's commit: its future, its
# name, frames and headers.
_InLoop = tuple["asyncio.Future[bool | None]", str, list[bytes], Mapping[str, str] | None]
_sharing = threading.Lock()


def _take(options: Mapping[str, Any]) -> Outbox:
    path = Path(options["outbox"]).absolute()
    with _sharing:
        outbox, users = _shared.get(path, (None, 0))
        if outbox is None:
            outbox = Outbox(
                path,
                sync=options["outbox_sync"],
                max_events=options["outbox_max_events"],
                max_bytes=options["outbox_max_bytes"],
            )
        _shared[path] = (outbox, users + 1)
    return outbox


def _release(outbox: Outbox) -> None:
    with _sharing:
        _, users = _shared[outbox.path]
        if users > 1:
            _shared[outbox.path] = (outbox, users - 1)
            return
        del _shared[outbox.path]
    outbox.close()


class OutboxLink:
    """The outbox side of one listener: its stream, its sender and socket."""

    def __init__(self, transport: Any, options: Mapping[str, Any], dispatcher: Dispatcher) -> None:
        self.transport = transport
        self.dispatcher = dispatcher
        self.destination = transport.where(options)
        self.serializer = resolve_serializer(options["serializer"])
        self.outbox = _take(options)
        self._in_loop: list[_InLoop] = []  # store_in_loop's, for the loop's next pass
        try:
            self.options = {**options, "max_attempts": NEVER, "deliver_timeout_ms": NEVER}
            # A dispatcher of its own: a send that failed is tried again, not an error.
            self.socket = transport.open_socket(self.options, Dispatcher())
            timeout_ms = options.get("send_timeout_ms", getattr(self.socket, "sndtimeo", -1))
            self.timeout = None if timeout_ms < 0 else timeout_ms / 1000
            self.linger = options.get("flush_timeout_ms", 2000) / 1000
            first = self.outbox.pending(self.destination, limit=1)
            self.socket.set_up_delivery(
                self.options,
                producer=self.outbox.producer(self.destination),
                first_seq=first[0].seq if first else self.outbox.last_seq(self.destination) + 1,
                on_time=False,  # the sender tends its socket between rows itself
            )
            self.sender = OutboxSender(
                self.outbox,
                self.destination,
                self.socket,
                batch_max=options["outbox_batch_max"],
                linger_ms=options["outbox_linger_ms"],
                max_bytes=options.get("max_frame_bytes") or self.serializer.max_frame_size,
            )
            self.sender.start()
        except BaseException:
            _release(self.outbox)
            raise

    def fire(
        self, event: str, payload: Sequence[Any], headers: Mapping[str, str] | None = None
    ) -> Any:
        """Store the event with ``headers`` (the fire's, with what an observer's send
        wrapper added: they travel with the row); True once committed, else what
        ``zeroevents.push.error`` answered."""
        if self.store(event, payload, headers):
            return True
        return self.dispatcher.until(PUSH_ERROR, self.socket, event, payload, None)

    def store(
        self, event: str, payload: Sequence[Any], headers: Mapping[str, str] | None = None
    ) -> bool:
        """Append the event and wake the sender: True once committed, False when the
        outbox stayed full for the send timeout (the caller fires push.error, from
        its own flavour: the asyncio listener awaits it in the loop)."""
        return self.store_serialized(event, self.serialized(event, payload), headers)

    def serialized(self, event: str, payload: Sequence[Any]) -> list[bytes]:
        """The payload frames of the row, once the outgoing contract is checked."""
        self.socket.check_outgoing(event, payload)
        return self.serializer.serialize(list(payload))

    def store_in_loop(
        self, event: str, frames: list[bytes], headers: Mapping[str, str] | None = None
    ) -> asyncio.Future[bool | None]:
        """:meth:`store_serialized` for an event loop: a future of True once committed,
        False when the event alone is over ``outbox_max_bytes``, None when the commit
        could take long (the caller stores it from a worker thread then). The events
        stored in one pass of the loop share one commit (``Outbox.append_at_once``):
        tasks firing at once are grouped as threads are."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool | None] = loop.create_future()
        if not self._in_loop:
            loop.call_soon(self._commit_in_loop)
        self._in_loop.append((future, event, frames, headers))
        return future

    def _commit_in_loop(self) -> None:
        # The loop's next pass: what its tasks stored meanwhile, in one commit; a fire
        # cancelled before it stores nothing.
        taken, self._in_loop = self._in_loop, []
        waiting = [entry for entry in taken if not entry[0].cancelled()]
        events = [(event, frames, headers) for _, event, frames, headers in waiting]
        try:
            seqs = self.outbox.append_at_once(
                self.destination, events, content_type=self.serializer.name
            )
        except Exception as error:  # the outbox closed, its file failing: each fire raises
            for future, *_ in waiting:
                future.set_exception(error)
            return
        if seqs is None:
            for future, *_ in waiting:
                future.set_result(None)
            return
        self.sender.wake()
        for (future, *_), seq in zip(waiting, seqs, strict=True):
            future.set_result(seq is not None)

    def store_serialized(
        self, event: str, frames: list[bytes], headers: Mapping[str, str] | None = None
    ) -> bool:
        """:meth:`store` of the frames :meth:`serialized` made."""
        try:
            self.outbox.append(
                self.destination,
                event,
                frames,
                content_type=self.serializer.name,
                headers=headers,
                timeout=self.timeout,
            )
        except OutboxFullError:
            return False
        self.sender.wake()
        return True

    def flush(self, timeout: float) -> FlushReport:
        """Wait up to ``timeout`` seconds for the stream's rows to be acknowledged;
        the events still in the file (its first ``window``)."""
        self.sender.drain(timeout)
        producer = self.outbox.producer(self.destination)
        pending = tuple(
            PendingEvent(
                event_id(producer, row.seq), row.event, self.serializer.unserialize(row.frames), 0
            )
            for row in self.outbox.pending(self.destination, limit=self.options["window"])
        )
        return FlushReport(pending, tracked=True)

    def close(self) -> int:
        """Deliver for up to ``flush_timeout_ms``, stop the sender, close the socket and
        release the outbox; how many of this stream's events are still in the file
        (sent again when a listener opens it next)."""
        left = self.sender.drain(self.linger)
        self.sender.stop()
        # What is still in flight stays in the file: not given up (no push.error), and
        # no LINGER spent waiting for acknowledgements that would delete no row.
        outgoing = self.socket.outgoing
        outgoing.window.abandon()
        outgoing.stats.in_flight = 0
        self.transport.close_socket(self.socket, self.options)
        _release(self.outbox)
        if left:
            log.warning(
                "closing the outbox stream to %s: %d event%s not yet acknowledged stay "
                "in %s and will be resent by the next listener that opens it",
                self.destination,
                left,
                "s" * (left != 1),
                self.outbox.path,
            )
        return left
