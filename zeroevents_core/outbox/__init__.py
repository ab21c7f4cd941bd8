"""The durable outbox (``outbox`` option) and the durable dedup store (``dedup_store``).

An event given to :meth:`Outbox.append` is committed to a local SQLite file (WAL
mode, stdlib :mod:`sqlite3`) before ``append`` returns, and stays there until its
acknowledgement deletes it; a restarted producer resends what is left under the same
producer id and sequence numbers. :class:`DurableDeduplicator` keeps a receiver's
duplicate suppression across its restarts. No transport is imported here: the
sockets move the bytes, this package only keeps them.

- :mod:`.store`: the outbox file, its streams, bounds and durability modes;
- :mod:`.group_commit`: concurrent appends sharing one transaction;
- :mod:`.dedup`: the receiver's durable duplicate suppression;
- :mod:`.database`: opening a file and refusing a foreign or corrupted one;
- :mod:`.options`: the listener options, checked.

Guide: docs/outbox.md.
"""

from __future__ import annotations

from .dedup import DedupStore, DurableDeduplicator
from .options import OUTBOX_DEFAULTS, check_outbox_options
from .store import Outbox, Row, StreamSummary

__all__ = [
    "OUTBOX_DEFAULTS",
    "DedupStore",
    "DurableDeduplicator",
    "Outbox",
    "Row",
    "StreamSummary",
    "check_outbox_options",
]
