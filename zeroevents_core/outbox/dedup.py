"""Durable duplicate suppression for a receiver: the ``dedup_store`` option.

:class:`DurableDeduplicator` is a :class:`~zeroevents_core.delivery.Deduplicator`
whose state per producer (the highest number seen, the contiguous run, the bitmap of
the last ``dedup_window`` numbers) is kept in an SQLite file and read back when a
receiver starts, so that a restarted consumer drops what a producer resends of the
events it had fired and acknowledged.

When it is written: in :meth:`DurableDeduplicator.acks`, for the producers about to be
acknowledged, committed before ``acks`` returns, so after the fires of the events it
covers and before their acknowledgement is sent. An acknowledged event is therefore
always recorded as seen: a producer deletes it from its outbox only after that, and
whatever it resends of it is dropped, across any restart of either side.

Exactly once: the commit is one transaction with whatever the listeners of those
fires wrote with :meth:`DedupStore.execute` into the same file. A consumer killed
before it has neither (the producer resends, the event is fired again and writes
again); after it has both. A listener's effect written there is therefore applied
exactly once; an effect anywhere else happens at least once (an event fired and not
yet committed when the consumer dies is fired again). Pending acknowledgement ranges
are not kept: lost ones come back as duplicates, which are acknowledged again.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..delivery import Deduplicator, _Producer
from ..envelope import Ack
from ..errors import ConfigurationError
from .database import StorageErrors, open_locked

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
HOLDERS = "another receiving socket, in this process or another (each needs a file of its own)"


class DedupStore:
    """The file of a ``dedup_store`` option: one row per producer in ``producers``;
    the listeners' own tables may sit beside it (:meth:`execute`).

    One receiving socket's at a time, in this process or any (a lock beside it,
    ``PATH-lock``, as an outbox has): two receivers sharing one would each commit
    their own view of a producer over the other's, and a restarted one would drop
    as duplicates events it never fired; in one process, the second would also wait
    for the first's open transaction at each acknowledgement."""

    # The store open on each path in this process: of() finds it.
    _open: ClassVar[dict[Path, DedupStore]] = {}
    _opening: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str | os.PathLike[str], *, sync: str = "normal") -> None:
        self.path = Path(path).absolute()
        self._lock_file, self._db = open_locked(
            self.path,
            holders=HOLDERS,
            kind=KIND,
            application_id=APPLICATION_ID,
            version=VERSION,
            schema=SCHEMA,
            sync=sync,
            other_tables=True,
        )
        self._lock = threading.Lock()
        try:
            with self._using():
                (last,) = self._db.execute(
                    "SELECT coalesce(max(saved), 0) FROM producers"
                ).fetchone()
        except BaseException:
            self._db.close()
            self._lock_file.close()
            raise
        self._saved: int = last  # numbers the saves: which producers were heard last
        with DedupStore._opening:
            DedupStore._open[self.path] = self

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> DedupStore:
        """The store a receiving socket of this process has open on ``path`` (its
        ``dedup_store`` option): where its listeners write what must happen exactly
        once (:meth:`execute`). ConfigurationError when none is open there yet (the
        listener's socket opens it: ``listener.socket()``)."""
        file = Path(path).absolute()
        with cls._opening:
            store = cls._open.get(file)
        if store is None:
            raise ConfigurationError(
                f"no dedup store is open on {file} in this process: open the socket of "
                "the listener whose 'dedup_store' option names it first (listener.socket())"
            )
        return store

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> list[Any]:
        """Run ``sql`` in the transaction that commits, with the duplicate suppression,
        the events fired since the last acknowledgement, before it is sent (see the
        module docstring); the rows it returns. Call it from a listener of an event
        received with at-least-once, fired by the service (its thread): a write
        made elsewhere waits for the next acknowledgement to be committed. Any table
        but ``producers``, the store's own."""
        with self._using():
            if not self._db.in_transaction:
                self._db.execute("BEGIN IMMEDIATE")
            return self._db.execute(sql, tuple(parameters)).fetchall()

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
            if not self._db.in_transaction:  # else the listeners' writes are in it
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
        with self._lock, StorageErrors(KIND, self.path):
            yield

    def close(self) -> None:
        """Close the file (a transaction not committed is rolled back); of() no longer
        finds this store. The receiving socket that opened it closes it."""
        with DedupStore._opening:
            if DedupStore._open.get(self.path) is self:
                del DedupStore._open[self.path]
        with self._lock:
            self._db.close()
        self._lock_file.close()

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
        self._restore()

    def _restore(self) -> None:
        # What the file holds, and nothing else: after a failed commit too, so that
        # what it did not record (and its listeners' writes, rolled back) is fired again.
        self._producers.clear()
        self._unacked.clear()
        self._waiting, self.ack_due = 0, False
        mask = (1 << self.dedup_window) - 1
        for producer, top, contiguous, seen in self.store.load(self.max_producers):
            state = _Producer(None)
            state.top, state.contiguous, state.seen = top, contiguous, seen & mask
            self._producers[producer] = state
        self._evicted = self.stats.evicted

    def acks(self) -> list[tuple[Any, Ack]]:
        states = [
            (producer, state.top, state.contiguous, self.bitmap(state))
            for producer, state in self._unacked.items()
        ]
        if states:
            evicted = self.stats.evicted
            keep = self.max_producers if evicted != self._evicted else None
            try:
                self.store.save(states, keep)
            except BaseException:
                self._restore()
                raise
            self._evicted = evicted
        return super().acks()
