"""The blocking ZeroMQ event socket.

``EventSocket`` is a ``zmq.Socket`` (every native method works) that also sends
and receives whole events. Sends go frame by frame with ``SNDMORE`` and receives
check ``RCVMORE`` frame by frame: with small frames this is several times
cheaper than ``send_multipart``/``recv_multipart``.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import zmq

from ...delivery import InFlight
from ...envelope import encode_batch
from ...errors import SendError
from ...serializers import Serializer
from ...stats import DropWarning, Stats
from .. import Message, StoredEvent
from ..batching import RETRY_MS, batch_bytes
from ..codec import (
    CONFIRMED,
    PUSH_ERROR,
    RESERVED,
)
from ..reliable import (
    SEND,
    TAKE,
    WAIT,
    FlushReport,
    Outbound,
    Retrying,
    delivering,
    settling,
    tending,
)
from ._barrier import LOOK_AGAIN_MS, _send, recv_message
from ._options import REPLY_PATH
from ._wire import (
    GREET,
    NOBLOCK,
    PUSH,
    RECV,
    SNDMORE,
    Step,
    ZmqEventCodec,
    _new_message,
    transport_error,
)
from ._wire import SEND as SEND_FRAMES

if TYPE_CHECKING:
    from ...dispatcher import Dispatcher
    from ...schemas import SchemaRegistry

F = TypeVar("F", bound=Callable[..., Any])

POLLOUT = int(zmq.POLLOUT)
# Sends refused at the high-water mark (EAGAIN), counted and logged at a bounded rate.
HWM_DROPS = DropWarning(logging.getLogger("zeroevents_core.transports"))


def _locked(method: F) -> F:
    """``method`` run with the socket's send lock held (see ``EventSocket.push``)."""

    @functools.wraps(method)
    def locked(self: EventSocket, *args: Any, **kwargs: Any) -> Any:
        with self._sending:
            return method(self, *args, **kwargs)

    return cast(F, locked)


class EventSocket(Retrying, ZmqEventCodec, zmq.Socket[bytes]):
    """A ZeroMQ socket that pushes and pulls events.

    ``serializer`` is a registered name or a :class:`Serializer`; ``accept`` the
    serializer names this socket may be switched to (default: only its own).
    ``dispatcher`` receives the error events (default: ``zeroevents_core.events``).
    ``schemas`` (a :class:`~zeroevents_core.schemas.SchemaRegistry`) is enforced on
    ``push`` (:class:`SchemaValidationError`, nothing sent) and on ``pull``.

    ``push``, ``flush`` and ``close`` may be called from any number of threads at
    once (they take the socket's lock); receiving (``pull``, a service) stays on
    one thread, as the native methods do.
    """

    # Declared at class level: pyzmq maps unknown attribute names to socket options.
    _sending: threading.RLock
    stats: Stats
    # Batched mode: events pushed while another thread sent, for the sender to take;
    # the thread that sends what waits past its time (started on the first push).
    _queued: deque[tuple[str, Sequence[Any], Any, Any, Any]]
    _flusher: threading.Thread | None
    _flush_wake: threading.Condition
    _flush_due: float | None
    _flush_stop: bool

    def __init__(
        self,
        context: zmq.Context[Any],
        socket_type: int,
        *,
        serializer: str | Serializer = "json",
        confirmed: bool = False,
        dispatcher: Dispatcher | None = None,
        accept: Collection[str] | None = None,
        schemas: SchemaRegistry | None = None,
    ) -> None:
        super().__init__(context, socket_type)
        # Reentrant: negotiated_flush (receiving hellos) calls flush under it.
        self._sending = threading.RLock()
        self._queued = deque()
        self._flusher, self._flush_due, self._flush_stop = None, None, False
        self._flush_wake = threading.Condition()
        self._init_event_socket(
            context, socket_type, serializer, confirmed, dispatcher, accept, schemas
        )

    def send_frames(self, frames: Sequence[bytes], flags: int = 0) -> None:
        """Send one multipart message frame by frame."""
        more = flags | SNDMORE
        for frame in frames[:-1]:
            _send(self, frame, more)
        _send(self, frames[-1], flags)

    def recv_frames(self, flags: int = 0) -> list[bytes]:
        """Receive one whole multipart message; ``zmq.Again`` when none is ready."""
        if self.identified:
            return self._recv_identified(flags)
        return recv_message(self, flags)

    def recv_ready(self) -> list[bytes] | None:
        """The frames of one message if one is waiting, else None (never blocks); the
        events of a batch one by one, as if each came alone."""
        if self.unbatched:
            return self.unbatched.pop()
        frames = self._recv_ready()
        return frames if frames is None else self._unbatch(frames)

    def _recv_ready(self) -> list[bytes] | None:
        barrier = self.barrier
        try:
            if barrier.due:  # the first message after a wait: greet a zeroevents sender
                return self._recv_greeting(NOBLOCK)
            if self.identified:
                return self._recv_identified(NOBLOCK)
            if self.routes_replies:
                return barrier.recv_routed(self, NOBLOCK)
            return recv_message(self, NOBLOCK)  # recv_frames, inlined: the hot path
        except zmq.Again:
            barrier.due = True
            return None
        except zmq.ZMQError as error:
            raise transport_error(error, "receive") from None

    def _recv_identified(self, flags: int) -> list[bytes]:
        return self._identified(self.recv_multipart(flags, copy=False))

    def _recv_greeting(self, flags: int = 0) -> list[bytes]:
        # Receive one message, looking at its handshake metadata (Barrier.greet).
        if self.identified:
            self.barrier.due = True
            return self._recv_identified(flags)
        return self.barrier.recv_greeting(self, flags)

    def push(
        self,
        event: str,
        payload: Sequence[Any] = (),
        reply_to: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        address: bytes | None = None,
        seq: int | None = None,
    ) -> Any:
        """Send ``event`` with ``payload`` (to the peer ``reply_to`` on a ROUTER;
        ``address`` is its deprecated name). ``headers`` travel on wire v2 (ignored
        on v1, which has no room for them); ``seq`` resends an event under the
        number it had (wire v2: a producer resuming, see ``set_up_delivery``).

        Returns True once sent; in confirmed mode, the ``zeroevents.confirmed``
        :class:`Message`. When the send fails (timeout, no peer, high-water mark)
        or no confirmation comes within the receive timeout, fires
        ``zeroevents.push.error`` (socket, event, payload, reply_to) and returns the
        first non-None response of its listeners.

        Safe from any number of threads at once: each push holds the socket's lock
        from encoding to its last frame (to its confirmation in confirmed mode).
        """
        if address is not None:
            reply_to = address
        if self.schemas is not None:
            self.check_outgoing(event, payload)
        if self.outgoing is not None and event not in RESERVED:
            if self.batch is not None:
                return self._push_batched(event, payload, reply_to, headers, seq)
            return self._push_v2(event, payload, reply_to, headers, seq)
        # Encoding inside the lock too: a serializer plugin need not be thread-safe.
        with self._sending:
            frames = self.encode(event, payload)
            if reply_to is not None:
                frames.insert(0, reply_to)
            handshakes = self.handshakes
            # A peer refused this socket type: what is sent there waits for ever.
            blocked = handshakes is not None and handshakes.failures and handshakes.blocked()
            if not blocked:
                confirming = False
                try:
                    for frame in frames[:-1]:
                        _send(self, frame, SNDMORE)
                    _send(self, frames[-1])
                    self.barrier.sent += 1  # Barrier.note_sent, inlined: the hot path
                    self.stats.sent += 1
                    if not self.has_sent:
                        self.has_sent = True
                    if self.confirmed and event != CONFIRMED:
                        confirming = True
                        return self._drive(self._confirmation(event))
                    return True
                except zmq.Again:
                    if not confirming:  # SNDTIMEO passed at the high-water mark (or no peer)
                        HWM_DROPS.dropped(self.stats, event, self.last_endpoint)
                except zmq.ZMQError:
                    pass
        # Outside the lock: a listener of the error may push on this socket again.
        self.stats.push_errors += 1
        return self.dispatcher.until(PUSH_ERROR, self, event, payload, reply_to)

    def push_serialized(
        self,
        event: str,
        frames: list[bytes],
        content_type: str,
        headers: Mapping[str, str] | None,
        seq: int,
    ) -> Any:
        """Wire v2: :meth:`push` of payload frames already serialized as
        ``content_type`` (an outbox row, sent as it was stored), under number ``seq``."""
        return self._push_v2(event, (), None, headers, seq, (frames, content_type))

    def push_serialized_many(self, rows: Sequence[StoredEvent], max_bytes: int) -> int:
        """Wire v2: the ``rows`` (outbox rows, in order) as one batch message of at
        most ``max_bytes``; how many of the first rows went (0: none, no peer within
        the send timeout). Each is in flight under its own number, and a
        retransmission sends it alone. Acknowledgements due are read first (and what
        is due sent again). One row, or a push that must wait for room, goes as
        :meth:`push_serialized`."""
        outgoing = self.outgoing
        assert outgoing is not None and outgoing.window is not None
        first, given, taken = rows[0], [], 0
        with self._sending:
            now = time.monotonic() * 1000
            handshakes = self.handshakes
            blocked = handshakes is not None and handshakes.failures and handshakes.blocked()
            alone = len(rows) == 1 or blocked
            if not alone and not outgoing.straight(now):
                # Read now rather than by a lone push of the first row: a message a round.
                _, given = self._deliver(tending(outgoing, self._heard))
                alone, now = not outgoing.window.room, time.monotonic() * 1000
            if not alone:
                batch: list[tuple[int, Outbound]] = []
                encode, size = outgoing.encode, 0
                for row in rows:  # bounded by rows; _outbound's work, written out
                    number, frames = encode(
                        row.event, row.frames, row.content_type, row.headers, row.seq
                    )
                    size += batch_bytes(frames)
                    if batch and size > max_bytes:
                        break
                    batch.append((number, _new_message(Outbound, (row.event, (), None, frames))))
                lone = len(batch) == 1  # the next row would pass max_bytes
                message = batch[0][1].frames if lone else encode_batch([i.frames for _, i in batch])
                try:
                    self.send_frames(message)
                    taken = len(batch)
                except zmq.ZMQError:
                    self.stats.push_errors += 1  # as a lone push's failure counts
                for number, item in batch[:taken]:
                    outgoing.sent(number, item, True, now)
                if taken:
                    self.barrier.sent += taken
                    self.has_sent = True
        if given:
            self._give_up(given)
        if not alone:
            return taken
        headers, serialized = first.headers, (first.frames, first.content_type)
        pushed = self._push_v2(first.event, (), None, headers, first.seq, serialized)
        return 1 if pushed is True else 0

    def _push_v2(
        self,
        event: str,
        payload: Sequence[Any],
        reply_to: bytes | None,
        headers: Mapping[str, str] | None,
        seq: int | None,
        serialized: tuple[list[bytes], str] | None = None,
    ) -> Any:
        outgoing = self.outgoing
        assert outgoing is not None
        sent, given = False, []
        with self._sending:
            number, outbound = self._outbound(event, payload, reply_to, headers, seq, serialized)
            handshakes = self.handshakes
            if not (handshakes is not None and handshakes.failures and handshakes.blocked()):
                now = time.monotonic() * 1000
                if outgoing.straight(now):
                    frames = outbound.frames
                    try:  # send_frames, inlined: the hot path (two frames, the common one)
                        if len(frames) == 2:
                            _send(self, frames[0], SNDMORE)
                        else:
                            for frame in frames[:-1]:
                                _send(self, frame, SNDMORE)
                        _send(self, frames[-1])
                        sent = True
                    except zmq.ZMQError:
                        pass
                    if sent:
                        outgoing.sent(number, outbound, seq is not None, now)
                else:
                    timeout = int(self.get(zmq.SNDTIMEO))
                    sent, given = self._deliver(
                        delivering(
                            outgoing, self._heard, outbound, number, seq is not None, timeout
                        )
                    )
                if sent:
                    self.barrier.sent += 1
                    if not self.has_sent:
                        self.has_sent = True
        if given:
            self._give_up(given)
        if sent:
            return True
        self.stats.push_errors += 1
        return self.dispatcher.until(PUSH_ERROR, self, event, payload, reply_to)

    # Batched mode (see ..batching): whoever holds the send lock sends for the others.

    def _push_batched(
        self,
        event: str,
        payload: Sequence[Any],
        reply_to: bytes | None,
        headers: Mapping[str, str] | None,
        seq: int | None,
    ) -> Any:
        """Queue the event; send what is queued unless another thread is sending (then
        it takes this one with its next message). True: taken (a send that fails later
        is reported by ``zeroevents.push.error``, at-least-once retransmitted)."""
        queued, sending, batch = self._queued, self._sending, self.batch
        assert batch is not None
        if not queued and sending.acquire(blocking=False):  # the common case: alone
            try:
                failed = self._batched(event, payload, reply_to, headers, seq, 0.0)
                failed += self._send_queued(False)  # what others queued meanwhile
            finally:
                sending.release()
            self._report_failed(failed)
            if not (batch or queued):
                return True
        else:
            queued.append((event, payload, reply_to, headers, seq))
        for _ in range(64):  # rounds while other threads queue as this one sends
            # Blocking only when too much is queued: the back pressure of a busy link.
            if not queued or not sending.acquire(blocking=len(queued) > batch.batch_max):
                break
            try:
                failed = self._send_queued(False)
            finally:
                sending.release()
            self._report_failed(failed)
        if batch or queued:
            self._wake_flusher()
        return True

    def _send_queued(self, block: bool) -> list[Outbound]:
        """Under the lock: what other threads queued into the batch, sent as
        :meth:`_batched` says (``block``: what waits is sent in any case); the events
        whose send failed (at-most-once: to report)."""
        queued, failed = self._queued, []
        now = time.monotonic() * 1000
        for _ in range(len(queued)):
            failed += self._batched(*queued.popleft(), now)
        if block:
            failed += self._send_batch(True)
        return failed

    def _batched(
        self,
        event: str,
        payload: Sequence[Any],
        reply_to: Any,
        headers: Any,
        seq: int | None,
        now: float,
    ) -> list[Outbound]:
        """Under the lock: one event into the batch, and the batch sent if it is full,
        past its time, or (linger_ms = 0) the link takes it now; else it waits for the
        next push or the flusher (RETRY_MS)."""
        batch, outgoing = self.batch, self.outgoing
        assert batch is not None and outgoing is not None
        now = now or time.monotonic() * 1000
        failed: list[Outbound] = []
        if reply_to is not None or not outgoing.straight(now):
            # A routed event, or one that must wait for acknowledgements: alone, after
            # what waits, on the path of an unbatched push.
            failed = self._send_batch(True)
            self._push_v2(event, payload, reply_to, headers, seq)
            return failed
        number, outbound = self._outbound(event, payload, None, headers, seq)
        frames = outbound.frames
        size = batch_bytes(frames)
        if batch and batch.size + size > batch.max_bytes:
            failed = self._send_batch(True)
        outgoing.sent(number, outbound, seq is not None, now)
        if batch.add(frames, size, outbound, now):
            return failed + self._send_batch(True)
        if batch.lingers(now):
            return failed
        if len(batch) == 1:  # alone: as an unbatched push, if the link takes it now
            try:
                self.send_frames(frames, NOBLOCK)
            except zmq.ZMQError:
                return failed  # busy: it waits for company
            batch.take()
            self.barrier.sent += 1
            if not self.has_sent:
                self.has_sent = True
            return failed
        if int(self.get(zmq.EVENTS)) & POLLOUT:
            failed += self._send_batch(True)
        return failed

    def _send_batch(self, block: bool) -> list[Outbound]:
        """Send what waits as one message (blocking up to SNDTIMEO); the events of a
        failed send at-most-once (at-least-once, the window sends them again)."""
        batch = self.batch
        if not batch:
            return []
        frames, items = batch.take()
        try:
            self.send_frames(frames, 0 if block else NOBLOCK)
        except zmq.ZMQError:
            window = self.outgoing.window if self.outgoing is not None else None
            return items if window is None else []
        self.barrier.sent += len(items)
        if not self.has_sent:
            self.has_sent = True
        return []

    def _report_failed(self, failed: list[Outbound]) -> None:
        # Outside the lock: a listener of the error may push on this socket again.
        for item in failed:
            HWM_DROPS.dropped(self.stats, item.event, self.last_endpoint)
            self.stats.push_errors += 1
            self.dispatcher.until(PUSH_ERROR, self, item.event, item.payload, item.reply_to)

    def _wake_flusher(self) -> None:
        """Have the flusher send what waits when its time comes (started once)."""
        if self._flush_due is not None:  # it knows; it clears this before it sends
            return
        batch = self.batch
        assert batch is not None
        due = batch.due_ms() or time.monotonic() * 1000 + RETRY_MS
        with self._flush_wake:
            if self._flush_stop:
                return
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flushing_loop, name="zeroevents-batch-flusher", daemon=True
                )
                self._flusher.start()
            self._flush_due = due
            self._flush_wake.notify()

    def _flushing_loop(self) -> None:
        wake = self._flush_wake
        while True:  # until send_pending() stops it (the socket closes)
            with wake:
                while not self._flush_stop:  # bounded: each wait ends at the due time
                    due = self._flush_due
                    left = None if due is None else due - time.monotonic() * 1000
                    if left is not None and left <= 0:
                        break
                    wake.wait(None if left is None else left / 1000)
                if self._flush_stop:
                    return
                self._flush_due = None
            with self._sending:
                failed = self._send_queued(True)
            self._report_failed(failed)

    def send_pending(self) -> None:
        """Batched mode: send what waits now (blocking up to SNDTIMEO); ``flush`` and
        ``close`` call it. The flusher is stopped when closing."""
        if self.batch is None:
            return
        with self._sending:
            failed = self._send_queued(True)
        self._report_failed(failed)

    def stop_batching(self) -> None:
        """Send what waits and stop the flusher (the socket closes)."""
        self.send_pending()
        with self._flush_wake:
            self._flush_stop = True
            self._flush_wake.notify()
            flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join()
        self.send_pending()  # what a last push queued as the flusher stopped

    def _deliver(self, step: Generator[tuple[str, Any], Any, Any]) -> Any:
        """Run a delivery step (see :mod:`..reliable`) with blocking I/O."""
        outcome: Any = None
        while True:  # as long as the step, whose own loops are bounded
            try:
                kind, arg = step.send(outcome)
            except StopIteration as done:
                return done.value
            outcome = None
            if kind == TAKE:
                outcome = self._take_reply()
            elif kind == WAIT:
                self.poll(arg, zmq.POLLIN)
            else:
                try:
                    self.send_frames(arg[0], 0 if kind == SEND else NOBLOCK)
                    outcome = True
                except zmq.ZMQError:
                    outcome = False

    def _give_up(self, given: list[InFlight[Outbound]]) -> None:
        # Outside the lock: a listener of the error may push on this socket again.
        for entry in given:
            self.stats.push_errors += 1
            item = entry.item
            self.dispatcher.until(PUSH_ERROR, self, item.event, item.payload, item.reply_to)

    def settle(self, timeout_ms: int) -> FlushReport:
        """At-least-once: read acknowledgements and retransmit until everything sent is
        acknowledged, ``timeout_ms`` at most; what is still pending."""
        if self.outgoing is None:
            return FlushReport()
        self.send_pending()
        with self._sending:
            given = self._deliver(settling(self.outgoing, self._heard, timeout_ms))
            report: FlushReport = self.pending_report()
        self._give_up(given)
        return report

    def abandon(self) -> list[InFlight[Outbound]]:
        """At-least-once, closing: give up what is in flight; the caller closes the
        socket, then reports each through ``zeroevents.push.error`` (``_give_up``), so
        that none reaches a peer after it was reported undelivered."""
        with self._sending:
            return self._abandoned()

    def _drive(self, step: Step) -> Any:
        """Run a shared step (see :mod:`._wire`) with blocking I/O."""
        outcome: Any = None
        error: zmq.ZMQError | None = None
        while True:  # as long as the step, whose own loops are bounded
            try:
                kind, arg = step.send(outcome) if error is None else step.throw(error)
            except StopIteration as done:
                return done.value
            outcome, error = None, None
            try:
                if kind == RECV:
                    if arg is not None:
                        self.set(zmq.RCVTIMEO, arg)
                    outcome = self.recv_frames()
                elif kind == GREET:
                    outcome = self._recv_greeting()
                elif kind == SEND_FRAMES:
                    self.send_frames(arg)
                elif kind == PUSH:
                    outcome = self.push(*arg)
                else:
                    outcome = arg[0].until(*arg[1:])
            except zmq.ZMQError as raised:
                error = raised

    @_locked
    def flush(self, timeout_ms: int, peers: int = 1) -> bool:
        """Wait until ``peers`` receivers have taken every event sent so far.

        Sends the ``zeroevents.flush`` barrier (once per peer: a DEALER deals
        round-robin) and waits for each confirmation, ``timeout_ms`` at most (-1: no
        limit). Closing a socket while its receiver sits at its high-water mark can
        otherwise lose the messages in flight (libzmq issue 4660). Needs a reply
        path: DEALER or PAIR. Returns whether every barrier was confirmed.
        """
        previous = self.get(zmq.RCVTIMEO)
        try:
            flushed: bool = self._drive(self._flushing(timeout_ms, peers))
            return flushed
        finally:
            self.set(zmq.RCVTIMEO, previous)

    def close(self, linger: int | None = None) -> None:
        """Close the socket; waits for a push in progress in another thread."""
        sending = self.__dict__.get("_sending")  # absent when __init__ failed early
        if sending is None:
            super().close(linger)
            return
        with self._flush_wake:  # a flusher ends (what waits is dropped: see stop_batching)
            self._flush_stop = True
            self._flush_wake.notify()
        if self.outgoing is not None:
            self.outgoing.stop_timer()  # before the lock, which its round takes
        with sending:
            super().close(linger)

    @_locked
    def negotiated_flush(
        self, connect: Collection[str], hello_timeout_ms: int, timeout_ms: int
    ) -> bool | None:
        """The barrier of :meth:`flush`, sent only when every peer that is up said, in
        answer to this socket's handshake, that it speaks it (``zeroevents.hello``).

        Waits for the handshakes with ``connect`` and for the hellos, up to
        ``hello_timeout_ms``, then up to ``timeout_ms`` for the confirmations. Returns
        whether they came; None when the barrier was not sent (a peer that does not
        speak it, such as the PHP original, or no peer at all, or a socket type
        without a reply path).
        """
        barrier, handshakes = self.barrier, self.handshakes
        deadline = time.monotonic() + hello_timeout_ms / 1000
        if handshakes is None or self.type not in REPLY_PATH:
            return None
        handshakes.wait(connect, deadline)
        while True:  # bounded by the deadline
            peers = barrier.speaking(self, handshakes.live)
            left = int((deadline - time.monotonic()) * 1000)
            if peers:
                return self.flush(timeout_ms, peers)
            if left <= 0:
                return None
            self.poll(min(left, LOOK_AGAIN_MS), zmq.POLLIN)  # a hello, or look again

    def pull(self) -> Any:
        """Receive one event as a :class:`Message`, confirming it in confirmed mode.

        When nothing arrives within the receive timeout, fires
        ``zeroevents.pull.error`` (socket) and returns the first non-None response
        of its listeners; for an event that breaks the socket's contracts, the same
        with ``zeroevents.schema.error`` (event, payload, failures, reply_to). A
        message that cannot be decoded raises :class:`DecodeError`; a socket that
        cannot receive, a :class:`TransportError`.
        """
        try:
            return self._drive(self._pulling())
        except zmq.ZMQError as error:
            raise transport_error(error, "receive") from None

    def confirm(self, message: Message) -> None:
        """Answer ``message`` with ``zeroevents.confirmed`` when confirmed mode (or a
        flush barrier) asks for it."""
        if self.needs_confirmation(message.event):
            self.push(CONFIRMED, [message.event], message.reply_to)

    def refuse(self, message: Message, reason: str) -> None:
        """In confirmed mode, the negative confirmation (``rejected``, ``reason``)."""
        if self.confirmed:
            self.push(*self._refusal(message, reason))

    def undecodable(self, received: list[bytes]) -> None:
        """In confirmed mode, confirm what cannot be decoded, as the original does."""
        if self.confirmed:
            self._send_or_raise(self.confirm_undecodable(received), "send a confirmation")

    def forward(self, message: Message) -> None:
        """Send ``message`` on as it was received (a dead letter); SendError if it cannot."""
        self._send_or_raise(self._forwarded(message), f"forward {message.event!r}")

    def _send_or_raise(self, frames: list[bytes], doing: str) -> None:
        try:
            with self._sending:
                self.send_frames(frames)
        except zmq.ZMQError as error:
            raise transport_error(error, doing, SendError) from None

    def pull_and_fire(self, dispatcher: Dispatcher | None = None) -> Any:
        """Pull one event and fire it with ``until``; return that response."""
        try:
            return self._drive(self._pulling_and_firing(dispatcher))
        except zmq.ZMQError as error:
            raise transport_error(error, "receive") from None
