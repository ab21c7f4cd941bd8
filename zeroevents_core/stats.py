"""Counters of a listener's socket and of a service: what moved, what was refused.

One :class:`Stats` per socket (``EventListener.stats``) and per service
(``EventService.stats``), incremented in place on the hot path (plain attribute
adds, no lock: a counter read from another thread may lag by a few events, never
go backwards). ``in_flight`` is a gauge, the rest only grow.

Observers (the ``register_observers`` hook, :mod:`.observers`) are handed these
objects when a socket opens or a service starts, and read them when they like
(an exporter at scrape time): the hot path pays nothing for them.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

# At most one warning per this many seconds about drops at the high-water mark.
DROP_WARNING_INTERVAL_S = 10.0

# Upper bounds in seconds (Prometheus' ``le``), from 100 µs to 10 s; a last, unbounded
# bucket takes the rest.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip


@dataclass(slots=True)
class Histogram:
    """Counts of observed durations per bucket (not cumulative), their count and sum."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    count: int = 0
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.count += 1
        self.sum += seconds

    def observe_many(self, seconds: Sequence[float]) -> None:
        """:meth:`observe` each of ``seconds`` (an acknowledgement settles hundreds)."""
        counts, bounds = self.counts, self.bounds
        for each in seconds:
            counts[bisect_left(bounds, each)] += 1
        self.count += len(seconds)
        self.sum += sum(seconds)


@dataclass(slots=True)
class Stats:
    """Counters of one socket or service; :meth:`as_dict` for logs and exporters."""

    # Sending side.
    sent: int = 0  # events handed to the link (a retransmission is not counted again)
    acknowledged: int = 0  # at-least-once: events a receiver acknowledged
    retried: int = 0  # at-least-once: retransmissions
    failed: int = 0  # at-least-once: events given up (attempts, timeout, close)
    push_errors: int = 0  # zeroevents.push.error fired
    dropped_hwm: int = 0  # sends refused or dropped at the high-water mark
    in_flight: int = 0  # gauge: sent and not yet acknowledged
    # Receiving side.
    received: int = 0  # events taken off the link (each of a batch), library traffic excluded
    fired: int = 0  # events fired on the dispatcher
    duplicates: int = 0  # at-least-once: events seen before, acknowledged, not fired
    decode_errors: int = 0
    schema_errors: int = 0
    listener_errors: int = 0
    auth_errors: int = 0  # events outside their authenticated sender's rights: never fired
    internal_errors: int = 0  # handling raised where nothing should (a bug, logged): dropped
    # Library events nobody asked for (a ``zeroevents.confirmed``, or a
    # ``zeroevents.flush`` where no answer can go): logged and dropped, never fired.
    unsolicited: int = 0
    # at-least-once: from an event's first send to its acknowledgement.
    ack_latency: Histogram = field(default_factory=Histogram)

    def as_dict(self) -> dict[str, int]:
        """The counters and the gauge by name (the histogram left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.type == "int"}


class DropWarning:
    """Counts the sends dropped at the high-water mark and says so at a bounded
    rate: the first drop at once, then one warning per ``interval_s`` at most,
    with the count since the last (ZeroMQ itself says nothing: its issue 2037)."""

    def __init__(self, logger: logging.Logger, interval_s: float = DROP_WARNING_INTERVAL_S) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.unreported = 0  # shared by the sockets of a process: may lag, only logged
        self._next_at = 0.0

    def dropped(self, stats: Stats, event: str, where: object) -> None:
        """Count one event dropped at the high-water mark by the socket of ``stats``
        (``where``: its endpoint, shown only when a warning is due)."""
        stats.dropped_hwm += 1
        self.unreported += 1
        now = time.monotonic()
        if now < self._next_at:
            return
        self._next_at = now + self.interval_s
        count, self.unreported = self.unreported, 0
        if isinstance(where, bytes):  # ZeroMQ's LAST_ENDPOINT
            where = where.decode(errors="replace")
        self.logger.warning(
            "dropped %d event%s at the high-water mark since the last warning (the last: "
            "%r on %s); the sockets' stats.dropped_hwm count them",
            count,
            "s" * (count != 1),
            event,
            where,
        )
