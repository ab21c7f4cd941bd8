"""The outbox's sender: a thread that delivers one stream's rows through an
at-least-once socket and deletes them once acknowledged.

It resumes the stream: the socket's producer id is the stream's and each row is
pushed under the sequence number it was given, so that a receiver's duplicate
suppression applies to what a restarted producer sends again. The socket never gives
an event up (its ``max_attempts`` and ``deliver_timeout_ms`` are set out of reach):
an event waits in the file until acknowledged, bounded by the outbox's own limits.
A row is deleted only once every number up to it has been acknowledged: the floor of
what the socket still has in flight. The numbers in flight span at most the socket's
``window``, so that a receiver's duplicate suppression (``dedup_window`` >= ``window``)
can tell every one it resends (docs/outbox.md, "Exactly once"). A push that fails
(no peer within the send timeout) leaves its row where it is, for the next round.

Rows go several per message (a wire v2 batch, ``outbox_batch_max``): finding several
new rows (events fired faster than it sends), the sender waits ``outbox_linger_ms``
for those still coming, so that a receiver is woken once per batch, not once per
event, and both sides' I/O threads with it (what bounded the pipeline:
docs/outbox.md, "Throughput"). A lone new row goes at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .store import Outbox, Row

log = logging.getLogger(__name__)

# Sender socket options: an event is never given up, the file keeps it.
NEVER = 2**31 - 1
# How long an idle sender waits for new rows or acknowledgements (ms).
IDLE_MS = 20
# While rows come, acknowledged ones are deleted this many at a time (by an append's
# commit): a delete in every commit tripled the pages it writes. Idle, all at once.
DELETE_BATCH = 512
# The sender checkpoints the file's WAL every this many commits, and when idle: in
# its thread, not in an append's commit (store.WRITER_CHECKPOINT_PAGES).
CHECKPOINT_COMMITS = 500


class OutboxSender:
    """Delivers ``destination``'s rows of ``outbox`` through ``socket`` (opened with
    ``delivery = "at-least-once"``), each row's payload frames sent as they were
    stored (``push_serialized_many``: not decoded and encoded again), up to
    ``batch_max`` rows and ``max_bytes`` in a message."""

    def __init__(
        self,
        outbox: Outbox,
        destination: str,
        socket: Any,
        *,
        batch_max: int,
        linger_ms: int,
        max_bytes: int,
    ) -> None:
        self.outbox = outbox
        self.destination = destination
        self.socket = socket
        self.batch_max = batch_max
        self.linger = linger_ms / 1000
        self.max_bytes = max_bytes  # of one message
        self._window = socket.outgoing.window
        self._sent = 0  # the highest number handed to the socket
        self._deleted = 0  # every number up to this one is deleted, or will be
        self._committed = 0  # every number up to this one is deleted in the file
        self._checkpointed = 0  # the outbox's commits at the last checkpoint
        self._wake = threading.Event()
        self._hurry = threading.Event()  # drain() and stop(): no lingering for more rows
        self._appended = False  # rows committed since the last round: more may come
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"zeroevents outbox {destination}", daemon=True
        )
        self.error: BaseException | None = None
        """What stopped the thread, if anything did (the rows stay in the file)."""

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """New rows were committed: send them without waiting for the idle timeout."""
        self._appended = True
        if not self._wake.is_set():  # set() takes a lock: once per round is enough
            self._wake.set()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():  # until stop(): the service's own loop
                self._round()
        except BaseException as error:  # kept for close() to report; the rows stay
            log.exception("the outbox sender of %s stopped; its events stay in %s",
                          self.destination, self.outbox.path)  # fmt: skip
            self.error = error

    def _round(self) -> None:
        window = self._window
        # Numbers in flight span at most ``window`` (not only count): a receiver whose
        # dedup_window is as large then tells every resent number, exactly once.
        room = min(window.room, window.window - (window.next_seq - window.low_seq))
        rows = self.outbox.next_rows(self.destination, self._sent, room) if room > 0 else []
        # Rows still coming (several committed since the last round, more appended):
        # let them join these. A lone row goes at once, not held for the linger.
        if self.linger and self._appended and 1 < len(rows) < min(room, self.batch_max):
            self._hurry.wait(self.linger)
            more = room - len(rows)
            rows += self.outbox.next_rows(self.destination, rows[-1].seq, more)
        self._push(rows)
        # Rows still coming: their commits carry the deletes (a commit of the sender's
        # own would make the firing thread wait behind it). Else, resending what a
        # killed run left, idle, or appends waiting for the room the deletes make: the
        # sender commits them, in batches while it sends.
        coming = self._appended and not self.outbox.waiting
        self._appended = False
        if rows:
            self._delete_acknowledged(wait=not coming, batch=DELETE_BATCH)
            self._checkpoint(CHECKPOINT_COMMITS)
            return
        if window.in_flight:
            self.socket.settle(IDLE_MS)  # reads acknowledgements, retransmits
        else:
            self._wake.wait(IDLE_MS / 1000)
        self._wake.clear()
        coming = coming or (self._appended and not self.outbox.waiting)
        self._delete_acknowledged(wait=not coming, batch=DELETE_BATCH if coming else 1)
        self._checkpoint(CHECKPOINT_COMMITS if coming else 1)

    def _push(self, rows: list[Row]) -> None:
        at = 0
        while at < len(rows):  # bounded: each message takes a row at least, or it stops
            taken = self.socket.push_serialized_many(rows[at : at + self.batch_max], self.max_bytes)
            if not taken:
                return  # no peer in time: this row and the next go in a later round
            at += taken
            self._sent = rows[at - 1].seq

    def _checkpoint(self, commits: int) -> None:
        done = self.outbox.commits
        if done - self._checkpointed >= commits and self.outbox.checkpoint():
            self._checkpointed = done

    def _delete_acknowledged(self, wait: bool, batch: int) -> None:
        """Delete the rows up to the floor of what is in flight once ``batch`` of them
        are acknowledged: committed now (``wait``) or by the next append's commit."""
        # Every number below low_seq is acknowledged (none is given up: NEVER).
        floor = min(self._window.low_seq - 1, self._sent)
        if floor - (self._committed if wait else self._deleted) >= batch:
            self.outbox.acknowledge(self.destination, floor, wait=wait)
            self._deleted = floor
            if wait:
                self._committed = floor

    def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for every row of the stream to be
        acknowledged and deleted; how many are left."""
        deadline = time.monotonic() + timeout
        self._hurry.set()
        try:
            while self._thread.is_alive() and time.monotonic() < deadline:  # bounded: deadline
                if not self.outbox.pending(self.destination, limit=1):
                    break
                self._wake.set()  # not wake(): no append is coming to carry the deletes
                time.sleep(IDLE_MS / 1000)
        finally:
            self._hurry.clear()
        return self.outbox.count_of(self.destination)

    def stop(self) -> None:
        self._stopping.set()
        self._hurry.set()
        self._wake.set()
        self._thread.join()
        if self.error is None:  # what was acknowledged is not sent again
            self._delete_acknowledged(wait=True, batch=1)
