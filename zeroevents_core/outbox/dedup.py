"""Durable duplicate suppression for a receiver: the ``dedup_store`` option.

:class:`DurableDeduplicator` is a :class:`~zeroevents_core.delivery.Deduplicator`
whose state per producer (the highest number seen, the contiguous run, the bitmap of
the last ``dedup_window`` numbers) is kept in an SQLite file and read back when a
receiver starts, so that a restarted consumer drops what a producer resends of the
events it had fired and acknowledged.

When it is written: in :meth:`DurableDeduplicator.acks`, for the producers about to be
acknowledged, committed before ``acks`` returns, so before the acknowledgement is sent.
An acknowledged event is therefore always recorded as seen: a producer deletes it
from its outbox only after that, and whatever it resends of it is dropped, across any
restart of either side. An event fired but not yet acknowledged when the consumer
dies is not recorded: its producer resends it and it is fired again (at most the
events of one batch, ``ack_every``, per producer and per crash): at-least-once for
those, exactly once for every event acknowledged. Pending acknowledgement ranges are
not kept: lost ones come back as duplicates, which are acknowledged again.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..delivery import Deduplicator, _Producer
from ..envelope import Ack
from .database import open_database, storage_errors

APPLICATION_ID = 0x5A454444  # "ZEDD"
VERSION = 1
SCHEMA = {
    "producers": """CREATE TABLE producers (
        producer BLOB PRIMARY KEY,
        top INTEGER NOT NULL,
        contiguous INTEGER NOT NULL,
        seen BLOB NOT NULL,
        saved INTEGER NOT NULL)""",
}
KIND = "dedup store"


class DedupStore:
    """The file of a ``dedup_store`` option: one row per producer."""

    def __init__(self, path: str | os.PathLike[str], *, sync: str = "normal") -> None:
        self.path = Path(path).absolute()
        self._db = open_database(
            self.path,
            kind=KIND,
            application_id=APPLICATION_ID,
            version=VERSION,
            schema=SCHEMA,
            sync=sync,
        )
        self._lock = threading.Lock()
        with self._using():
            (last,) = self._db.execute("SELECT coalesce(max(saved), 0) FROM producers").fetchone()
        self._saved: int = last  # numbers the saves: which producers were heard last

    def load(self, limit: int) -> list[tuple[bytes, int, int, int]]:
        """``(producer, top, contiguous, seen)`` of the ``limit`` producers heard last,
        the one heard least recently first."""
        with self._using():
            rows = self._db.execute(
                "SELECT producer, top, contiguous, seen FROM producers ORDER BY saved DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [(p, top, run, int.from_bytes(seen, "big")) for p, top, run, seen in reversed(rows)]

    def save(self, states: list[tuple[bytes, int, int, int]], keep: int | None = None) -> None:
        """Write ``(producer, top, contiguous, seen)`` of each, in one transaction; with
        ``keep``, forget all but the ``keep`` producers heard last."""
        with self._using():
            self._saved += 1
            saved = self._saved
            rows = [
                (producer, top, run, seen.to_bytes((seen.bit_length() + 7) // 8, "big"), saved)
                for producer, top, run, seen in states
            ]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO producers VALUES (?, ?, ?, ?, ?)", rows
                )
                if keep is not None:
                    self._db.execute(
                        "DELETE FROM producers WHERE producer NOT IN"
                        " (SELECT producer FROM producers ORDER BY saved DESC LIMIT ?)",
                        (keep,),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _using(self) -> Iterator[None]:
        # One thread at a time on the connection.
        with self._lock, storage_errors(KIND, self.path):
            yield

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> DedupStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class DurableDeduplicator(Deduplicator):
    """A :class:`Deduplicator` restored from ``store`` and written to it by
    :meth:`acks` (see the module docstring); the other options are its parent's."""

    def __init__(self, store: DedupStore, **options: Any) -> None:
        super().__init__(**options)
        self.store = store
        mask = (1 << self.dedup_window) - 1
        for producer, top, contiguous, seen in store.load(self.max_producers):
            state = _Producer(None)
            state.top, state.contiguous, state.seen = top, contiguous, seen & mask
            self._producers[producer] = state
        self._evicted = self.stats.evicted

    def acks(self) -> list[tuple[Any, Ack]]:
        states = [
            (producer, state.top, state.contiguous, state.seen)
            for producer, state in self._unacked.items()
        ]
        if states:
            evicted = self.stats.evicted
            keep = self.max_producers if evicted != self._evicted else None
            self.store.save(states, keep)
            self._evicted = evicted
        return super().acks()
