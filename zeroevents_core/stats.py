"""Counters of a listener's socket and of a service: what moved, what was refused.

One :class:`Stats` per socket (``EventListener.stats``) and per service
(``EventService.stats``), incremented in place on the hot path (plain attribute
adds, no lock: a counter read from another thread may lag by a few events, never
go backwards). ``in_flight`` is a gauge, the rest only grow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
    received: int = 0  # messages taken off the link, library traffic excluded
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

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
