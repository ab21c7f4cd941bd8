"""Group commit, leader/follower: threads that write at once share one transaction.

A caller adds its work (one item or several) to the open batch and waits. The first
waiter that finds no commit under way becomes the leader: it takes the whole batch
(its own work and what the others added meanwhile), writes it in one transaction,
and wakes them. Work that
arrives during that commit goes into the next batch, whose first waiter leads next.
A lone thread commits its own work at once: no writer thread to hand over to, so no
wake-up on the path of a single producer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Batch(Generic[T]):
    __slots__ = ("done", "error", "items")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Runs ``commit(items)`` for batches of the items given to :meth:`submit`;
    ``lock`` is the caller's condition, so that it can check its own state (room in
    the outbox) under the same lock before submitting."""

    def __init__(self, commit: Callable[[Sequence[T]], None], lock: threading.Condition) -> None:
        self._commit = commit
        self._lock = lock
        self._batch: _Batch[T] = _Batch()
        self._committing = False
        self.commits = 0
        """Transactions committed (each with one batch of items)."""
        self.items = 0
        """Items committed."""

    def submit(self, items: Sequence[T]) -> None:
        """Add ``items`` to the open batch and return once that batch is committed, or
        raise what the commit raised. Call it holding ``lock``."""
        lock = self._lock
        if not self._committing and not self._batch.items:  # alone: no batch to make
            self._committing = True
            lock.release()
            try:
                self._commit(items)
            finally:
                lock.acquire()
                self._committing = False
                lock.notify_all()  # those who queued meanwhile: one of them leads next
            self.commits += 1
            self.items += len(items)
            return
        batch = self._batch
        batch.items += items
        while not batch.done:
            if self._committing:
                lock.wait()
                continue
            self._committing = True
            self._batch = _Batch()
            lock.release()
            try:
                self._commit(batch.items)
            except BaseException as error:
                batch.error = error
            finally:
                lock.acquire()
                self._committing = False
                batch.done = True
                if batch.error is None:
                    self.commits += 1
                    self.items += len(batch.items)
                lock.notify_all()
        if batch.error is not None:
            raise batch.error
