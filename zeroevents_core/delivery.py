"""At-least-once delivery, sans-IO: the sender's window and the receiver's duplicate filter.

No sockets, no threads, no clock: the caller passes the time (milliseconds, any
monotonic origin) and moves the bytes (:mod:`.envelope` makes and reads them).

:class:`SendWindow` gives each event a sequence number, keeps up to ``window`` of
them unacknowledged, says which to retransmit and which to give up on, and takes
acknowledgements by sequence number only. Numbers are never reused, so an
acknowledgement of a number that is not in flight (late, repeated, forged, for a
number never sent) acknowledges nothing: a late answer cannot confirm a later event,
the stale-confirmation bug of confirmed mode, which matches answers by event name.

:class:`Deduplicator` remembers, per producer, which of the last ``dedup_window``
sequence numbers it has seen (a bitmap) for at most ``max_producers`` producers (least
recently heard evicted first), and what to acknowledge to each.

How the transports use it (:mod:`.transports.reliable`, driven by the ZeroMQ and memory
sockets and by both services):

- The socket owns both objects and the timer. A blocking socket reads acknowledgements
  and retransmits what :meth:`SendWindow.due` returns inside ``push`` (before sending,
  every 64 pushes or 1 ms, which also bounds how late a retry is, and when the window
  is full) and inside
  ``flush``/``close``; between pushes its retry timer does, when the next retry is
  due (:meth:`SendWindow.next_due_ms`, :mod:`.transports.retry_timers`). The
  asyncio socket does the same from its event loop (one shared implementation,
  awaiting where the blocking one polls). ``fire()`` never waits for an
  acknowledgement: it waits only when the window is full (as a ZeroMQ send waits at the
  high-water mark, bounded by ``SNDTIMEO``), then fires ``zeroevents.push.error``.
- Events are sent with :data:`.envelope.ACK_REQUESTED`. A receiver calls
  :meth:`Deduplicator.seen` for each such event before firing it (a duplicate is
  dropped and counted, but acknowledged again: its acknowledgement was lost), and
  sends what :meth:`Deduplicator.acks` returns after the fire, never before: after
  each batch it reads, and at once when ``ack_due`` is set (every ``ack_every``
  events: acknowledging only per batch read, up to 1,024, stalls a sender whose
  window is as large: 0.35x of v1 throughput in bench/bench_delivery.py's pipe, 0.46x
  to 0.52x acknowledging every 100, the same day on the same loaded machine); each
  acknowledgement goes
  to the producer's ``reply_to`` (a ROUTER's routing id of the peer that sent it;
  nothing on DEALER and PAIR, which answer their only or next peer).
- Several receivers: a DEALER producer deals events round-robin, and each receiver
  acknowledges what it got to that producer's routing id on its own link, so
  acknowledgements never need the receivers to agree. A retransmission may reach
  another receiver than the first attempt: the duplicate filter is per receiver, so a
  lost acknowledgement can give a duplicate across receivers (at-least-once). A
  producer ignores an acknowledgement for another producer id: a bound DEALER receiver
  with several producers (which cannot address one) slows them down with
  retransmissions but loses nothing; give it a ROUTER, as for confirmations.
- PUSH/PULL and PUB/SUB have no way back for acknowledgements: ``delivery =
  "at-least-once"`` on them is a ConfigurationError naming the socket types that carry
  it (DEALER to ROUTER, DEALER to DEALER, PAIR to PAIR).
- What :meth:`SendWindow.due` gives up on, and what :meth:`SendWindow.abandon` returns
  at ``close()`` after LINGER, is fired as ``zeroevents.push.error``, one per event:
  never silently dropped.
"""

from __future__ import annotations

import heapq
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from .envelope import Ack
from .errors import ConfigurationError, WindowFullError

# Defaults of the options of the same names (docs/configuration.md, "Delivery (wire v2)").
DEFAULT_WINDOW = 1000
DEFAULT_RETRY_AFTER_MS = 200
DEFAULT_MAX_RETRY_AFTER_MS = 5000
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_DELIVER_TIMEOUT_MS = 30_000
DEFAULT_DEDUP_WINDOW = 4096
DEFAULT_MAX_PRODUCERS = 1024
DEFAULT_MAX_PENDING_RANGES = 64
DEFAULT_ACK_EVERY = 100
# A retry waits its backoff plus up to a quarter more, so that producers that lost
# the same receiver do not all retransmit in step (first retries found due together
# share one draw: they need no timer each).
JITTER = 0.25

T = TypeVar("T")


def _positive(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"option {key!r} must be an int >= 1, got {value!r}")
    return value


@dataclass(slots=True, eq=False)
class InFlight(Generic[T]):
    """One event sent and not yet acknowledged: ``item`` is the caller's (the frames,
    or what the error event needs)."""

    seq: int
    item: T
    first_sent_ms: float
    attempts: int = 1
    due_ms: float = 0.0


class Due(NamedTuple, Generic[T]):
    """What :meth:`SendWindow.due` found: events to send again, events given up."""

    retransmit: list[InFlight[T]]
    failed: list[InFlight[T]]


@dataclass(slots=True)
class SendStats:
    """Counters of a sender; ``in_flight`` is the count unacknowledged now."""

    sent: int = 0
    acknowledged: int = 0
    retried: int = 0
    failed: int = 0
    in_flight: int = 0


class SendWindow(Generic[T]):
    """The sender's side: sequence numbers, the window, retries and giving up.

    A retry comes ``retry_after_ms`` after the first send, then twice as late each time
    up to ``max_retry_after_ms`` (plus jitter); an event is given up after
    ``max_attempts`` sends or ``deliver_timeout_ms`` after its first, whichever first.
    ``random`` (uniform in [0, 1)) draws the jitter; give a seeded one to replay.
    ``first_seq`` is the first number given (a producer resuming after a restart,
    the outbox, goes on after the numbers it used).
    """

    def __init__(
        self,
        *,
        window: int = DEFAULT_WINDOW,
        retry_after_ms: int = DEFAULT_RETRY_AFTER_MS,
        max_retry_after_ms: int = DEFAULT_MAX_RETRY_AFTER_MS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        deliver_timeout_ms: int = DEFAULT_DELIVER_TIMEOUT_MS,
        random: Callable[[], float] = random.random,
        first_seq: int = 1,
    ) -> None:
        self.window = _positive("window", window)
        self.retry_after_ms = _positive("retry_after_ms", retry_after_ms)
        self.max_retry_after_ms = _positive("max_retry_after_ms", max_retry_after_ms)
        self.max_attempts = _positive("max_attempts", max_attempts)
        self.deliver_timeout_ms = _positive("deliver_timeout_ms", deliver_timeout_ms)
        self._random = random
        # In sequence order (numbers only grow); every number below _low is settled.
        self._in_flight: dict[int, InFlight[T]] = {}
        self._low = self._next_seq = _positive("first_seq", first_seq)
        # Events not retransmitted yet, in the order sent: their first retry comes
        # in that order too, so they need no timer each (acknowledged ones are
        # skipped, attempts 0). Retransmitted ones wait in the heap of
        # (due_ms, seq, attempts), with stale entries skipped when popped.
        self._fresh: deque[InFlight[T]] = deque()
        self._timers: list[tuple[float, int, int]] = []
        # The jitter of the next first retries, drawn again once some are due.
        self._draw = random()
        self._stats = SendStats()

    @property
    def stats(self) -> SendStats:
        self._stats.in_flight = len(self._in_flight)
        return self._stats

    @property
    def in_flight(self) -> int:
        """How many events are sent and not acknowledged."""
        return len(self._in_flight)

    @property
    def room(self) -> int:
        """How many more events can be sent before some are acknowledged."""
        return self.window - len(self._in_flight)

    @property
    def next_seq(self) -> int:
        """The number the next :meth:`send` without ``seq`` gives."""
        return self._next_seq

    @property
    def low_seq(self) -> int:
        """The lowest number in flight (:attr:`next_seq` when none is): every number
        below it is settled."""
        return self._low

    def send(self, item: T, now_ms: float, seq: int | None = None) -> InFlight[T]:
        """Number ``item`` and count it in flight; :class:`WindowFullError` when
        ``window`` events are already. ``seq``: the number it had before (an event
        resent after a restart), not in flight now; later ones go on after it."""
        in_flight = self._in_flight
        if len(in_flight) >= self.window:
            raise WindowFullError(self.window)
        if seq is None:
            seq = self._next_seq
            self._next_seq += 1
        else:
            if _positive("seq", seq) in in_flight:
                raise ConfigurationError(f"sequence number {seq} is in flight already")
            self._next_seq = max(self._next_seq, seq + 1)
            self._low = min(self._low, seq)
        # due_ms: the earliest first retry (its jitter is drawn when it comes).
        entry = InFlight(seq, item, now_ms, 1, now_ms + self.retry_after_ms)
        in_flight[seq] = entry
        fresh = self._fresh
        fresh.append(entry)
        if len(fresh) > 2 * len(in_flight) + 64:  # mostly acknowledged entries
            self._fresh = deque(e for e in in_flight.values() if e.attempts == 1)
        self._stats.sent += 1
        return entry

    def acknowledge(
        self, cumulative: int, ranges: Iterable[tuple[int, int]] = ()
    ) -> list[InFlight[T]]:
        """Settle the events in flight numbered up to ``cumulative`` or inside one of
        ``ranges`` (inclusive) and return them; numbers not in flight change nothing."""
        acked: list[InFlight[T]] = []
        self._settle(self._low, cumulative, acked)
        for first, last in ranges:
            self._settle(first, last, acked)
        if acked:
            self._stats.acknowledged += len(acked)
            self._advance_low()
        return acked

    def _settle(self, first: int, last: int, acked: list[InFlight[T]]) -> None:
        # Only numbers in flight; the work is bounded by the window, whatever the range.
        in_flight = self._in_flight
        first, last = max(first, self._low), min(last, self._next_seq - 1)
        if first > last:
            return
        if last - first < len(in_flight):
            seqs: Iterable[int] = range(first, last + 1)
        else:
            seqs = [seq for seq in in_flight if first <= seq <= last]
        for seq in seqs:
            entry = in_flight.pop(seq, None)
            if entry is not None:
                entry.attempts = 0  # settled: skipped where it is still queued
                acked.append(entry)

    def _advance_low(self) -> None:
        # Each number is passed once over the window's life: O(1) per event sent.
        in_flight, low, top = self._in_flight, self._low, self._next_seq
        if top - low > 2 * len(in_flight) + 64:  # a gap left by resent numbers
            low = min(in_flight, default=top)
        while low < top and low not in in_flight:
            low += 1
        self._low = low

    def due(self, now_ms: float) -> Due[T]:
        """The events whose retry time has come (their attempt counted, next retry set)
        and those given up (``max_attempts`` sent, or ``deliver_timeout_ms`` past),
        which are no longer in flight."""
        retransmit: list[InFlight[T]] = []
        failed: list[InFlight[T]] = []
        timers, in_flight, fresh = self._timers, self._in_flight, self._fresh
        # Sent by then: due for a first retry, or given up at deliver_timeout_ms.
        sent_by = max(
            now_ms - self.retry_after_ms * (1 + JITTER * self._draw),
            now_ms - self.deliver_timeout_ms,
        )
        while fresh and (fresh[0].attempts != 1 or fresh[0].first_sent_ms <= sent_by):
            entry = fresh.popleft()
            if entry.attempts == 1:
                self._retry(entry, now_ms, retransmit, failed)
        if retransmit or failed:
            self._draw = self._random()
        while timers and timers[0][0] <= now_ms:
            _, seq, attempts = heapq.heappop(timers)
            timed = in_flight.get(seq)
            if timed is not None and timed.attempts == attempts:  # else acknowledged
                self._retry(timed, now_ms, retransmit, failed)
        if failed:
            self._stats.failed += len(failed)
            self._advance_low()
        self._stats.retried += len(retransmit)
        return Due(retransmit, failed)

    def _retry(
        self,
        entry: InFlight[T],
        now_ms: float,
        retransmit: list[InFlight[T]],
        failed: list[InFlight[T]],
    ) -> None:
        # One event whose retry time has come: sent again, or given up.
        timed_out = now_ms - entry.first_sent_ms >= self.deliver_timeout_ms
        if timed_out or entry.attempts >= self.max_attempts:
            del self._in_flight[entry.seq]
            failed.append(entry)
            return
        entry.attempts += 1
        entry.due_ms = self._retry_at(entry.first_sent_ms, now_ms, entry.attempts)
        heapq.heappush(self._timers, (entry.due_ms, entry.seq, entry.attempts))
        retransmit.append(entry)

    def _retry_at(self, first_sent_ms: float, now_ms: float, attempts: int) -> float:
        backoff = min(self.retry_after_ms << min(attempts - 1, 62), self.max_retry_after_ms)
        at = now_ms + backoff * (1 + JITTER * self._random())
        # Never later than the give-up time, so that due() sees it on time.
        return min(at, first_sent_ms + self.deliver_timeout_ms)

    def next_due_ms(self) -> float | None:
        """When :meth:`due` may next have something (None: nothing in flight); the timer
        owner waits at most until then."""
        if not self._in_flight:
            return None
        fresh = self._fresh
        while fresh and fresh[0].attempts != 1:  # acknowledged
            fresh.popleft()
        due = self._timers[0][0] if self._timers else None
        if fresh:
            first = fresh[0].first_sent_ms
            first_retry = first + self.retry_after_ms * (1 + JITTER * self._draw)
            first_retry = min(first_retry, first + self.deliver_timeout_ms)
            if due is None or first_retry < due:
                due = first_retry
        return due

    def pending(self) -> list[InFlight[T]]:
        """The events in flight, in sequence order (for flush and close reports)."""
        return list(self._in_flight.values())

    def abandon(self) -> list[InFlight[T]]:
        """Give up every event in flight (a close whose LINGER is over) and return them."""
        failed = self.pending()
        self._in_flight.clear()
        self._fresh.clear()
        self._timers.clear()
        self._low = self._next_seq
        self._stats.failed += len(failed)
        return failed


@dataclass(slots=True)
class DedupStats:
    """Counters of a receiver: duplicates dropped, events too old for the window (passed,
    maybe duplicates), producers forgotten for room, ranges left unacknowledged because
    the pending ones were full (their producer retransmits, then they are)."""

    duplicates: int = 0
    too_old: int = 0
    evicted: int = 0
    unrecorded: int = 0
    producers: int = 0


class _Producer:
    """What a receiver knows of one producer."""

    __slots__ = ("contiguous", "pending", "reply_to", "seen", "top")

    def __init__(self, reply_to: Any) -> None:
        self.top = 0  # the highest number seen (0: none)
        # Bit i set: number top - i seen, for i < dedup_window. Not kept while nothing
        # is missing (contiguous == top), the common case: Deduplicator.bitmap.
        self.seen = 0
        self.contiguous = 0  # every number from 1 to this one seen
        self.pending: list[list[int]] = []  # [first, last] ranges to acknowledge
        self.reply_to = reply_to


class Deduplicator:
    """The receiver's side: was this event seen, and what to acknowledge to whom.

    Memory is bounded whatever the input: ``max_producers`` producers, each a bitmap of
    ``dedup_window`` bits and at most ``max_pending_ranges`` ranges to acknowledge.
    ``ack_due`` is set once ``ack_every`` events are waiting for acknowledgement, or a
    producer's ranges are full: the receiver then sends :meth:`acks` without waiting
    for the end of its batch.
    """

    def __init__(
        self,
        *,
        dedup_window: int = DEFAULT_DEDUP_WINDOW,
        max_producers: int = DEFAULT_MAX_PRODUCERS,
        max_pending_ranges: int = DEFAULT_MAX_PENDING_RANGES,
        ack_every: int = DEFAULT_ACK_EVERY,
    ) -> None:
        self.dedup_window = _positive("dedup_window", dedup_window)
        self.max_producers = _positive("max_producers", max_producers)
        self.max_pending_ranges = _positive("max_pending_ranges", max_pending_ranges)
        self.ack_every = _positive("ack_every", ack_every)
        self._waiting = 0  # events recorded since the last acks()
        self._mask = (1 << self.dedup_window) - 1
        self._producers: OrderedDict[bytes, _Producer] = OrderedDict()
        self._unacked: dict[bytes, _Producer] = {}  # producers with something to acknowledge
        self.ack_due = False  # send acks() now, see the class docstring
        self._stats = DedupStats()

    @property
    def stats(self) -> DedupStats:
        self._stats.producers = len(self._producers)
        return self._stats

    def seen(self, producer: bytes, seq: int, reply_to: Any = None) -> bool:
        """Whether event ``seq`` (>= 1) of ``producer`` was seen already (drop it) or not
        (fire it); either way it is acknowledged by the next :meth:`acks`. A number
        older than the window is a duplicate when every number up to it was seen,
        otherwise passed: a possible duplicate rather than a loss."""
        state = self._producers.get(producer)
        if state is None:
            state = self._producers[producer] = _Producer(reply_to)
            if len(self._producers) > self.max_producers:
                evicted, _ = self._producers.popitem(last=False)
                self._unacked.pop(evicted, None)
                self._stats.evicted += 1
        else:
            self._producers.move_to_end(producer)
            state.reply_to = reply_to
            if seq == state.top + 1 and state.contiguous == state.top:
                # The common case, the next number after an unbroken run: what the
                # general path below does for it, in one go (the bitmap is implied).
                state.top = state.contiguous = seq
                self._unacked[producer] = state
                self._waiting += 1
                if self._waiting >= self.ack_every:
                    self.ack_due = True
                return False
        top = state.top
        if state.contiguous == top:
            state.seen = self.bitmap(state)
        if seq > top:
            shift = seq - top
            state.seen = (
                ((state.seen << shift) | 1) & self._mask if shift < self.dedup_window else 1
            )
            state.top = seq
            duplicate = False
        elif top - seq < self.dedup_window:
            bit = 1 << (top - seq)
            duplicate = bool(state.seen & bit)
            state.seen |= bit
        elif seq <= state.contiguous:
            # Older than the bitmap, but inside the run of numbers all seen from 1: a
            # late copy (an outbox resending what was acknowledged before a restart).
            duplicate = True
        else:
            duplicate = False
            self._stats.too_old += 1
        if duplicate:
            self._stats.duplicates += 1
        else:
            self._advance(state, seq)
        self._record(producer, state, seq)
        return duplicate

    def bitmap(self, state: _Producer) -> int:
        """The bitmap of ``state``: bit i set when number top - i was seen. While no
        number up to top is missing it is every bit below min(top, dedup_window),
        and :meth:`seen` does not shift it (a shift of dedup_window bits per event)."""
        if state.contiguous != state.top:
            return state.seen
        return self._mask if state.top >= self.dedup_window else (1 << state.top) - 1

    def _advance(self, state: _Producer, seq: int) -> None:
        if seq != state.contiguous + 1:
            return
        contiguous, top, seen = seq, state.top, state.seen
        # Later numbers seen already extend the run (bounded by the window).
        while contiguous < top and top - contiguous - 1 < self.dedup_window:
            if not seen >> (top - contiguous - 1) & 1:
                break
            contiguous += 1
        state.contiguous = contiguous

    def _record(self, producer: bytes, state: _Producer, seq: int) -> None:
        self._unacked[producer] = state
        self._waiting += 1
        if self._waiting >= self.ack_every:
            self.ack_due = True
        if seq <= state.contiguous:
            return  # the cumulative number covers it
        pending = state.pending
        if pending:
            last = pending[-1]
            if last[0] <= seq <= last[1]:
                return
            if seq == last[1] + 1:
                last[1] = seq
                return
        if len(pending) < self.max_pending_ranges:
            pending.append([seq, seq])
            if len(pending) == self.max_pending_ranges:
                self.ack_due = True
        else:
            self._stats.unrecorded += 1

    def acks(self) -> list[tuple[Any, Ack]]:
        """``(reply_to, Ack)`` for each producer heard since the last call (each within
        ``max_pending_ranges`` ranges), and forget what they acknowledge."""
        out = []
        for producer, state in self._unacked.items():
            floor = state.contiguous
            ranges = tuple(
                (max(first, floor + 1), last) for first, last in state.pending if last > floor
            )
            state.pending = []
            out.append((state.reply_to, Ack(producer, floor, ranges)))
        self._unacked.clear()
        self._waiting = 0
        self.ack_due = False
        return out
