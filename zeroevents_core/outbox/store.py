"""The outbox file: events written durably before they are sent, deleted once acknowledged.

One SQLite file in WAL mode holds one stream per destination (a listener's endpoints):
its producer id, drawn once when the stream is made and kept in the file, and its
sequence numbers, assigned when an event is committed and never reused (the stream
keeps the last one, so deleting every row does not restart the count). A receiver's
duplicate suppression therefore still applies to what a restarted producer resends.

:meth:`Outbox.append` returns once the event is committed: ``sync="normal"`` (WAL with
``synchronous=NORMAL``) survives a kill of the process, since a commit is in the
operating system's cache before ``append`` returns, but a power loss or an OS crash
may lose the latest commits (never the file's consistency); ``sync="full"`` fsyncs
the WAL at each commit, so an appended event survives a power loss too, on a disk
that honours fsync. Appends from several threads share commits
(:mod:`.group_commit`).

Bounded: at ``max_events`` events or ``max_bytes`` bytes stored, ``append`` waits up to
its ``timeout`` for acknowledgements to make room, then raises
:class:`~zeroevents_core.errors.OutboxFullError`. One process at a time writes a file
(a lock beside it, ``PATH-lock``); readers such as ``zeroevents outbox inspect`` may
look at it meanwhile.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..envelope import new_producer_id
from ..errors import ConfigurationError, OutboxError, OutboxFullError
from .database import StorageErrors, connect, open_database, open_locked
from .group_commit import GroupCommit
from .options import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, DEFAULT_SYNC

APPLICATION_ID = 0x5A454F42  # "ZEOB"
VERSION = 2  # 2: events keyed by one integer (ROW_KEY), no index beside the table
SCHEMA = {
    "streams": """CREATE TABLE streams (
        id INTEGER PRIMARY KEY,
        destination TEXT NOT NULL UNIQUE,
        producer BLOB NOT NULL,
        last_seq INTEGER NOT NULL)""",
    "events": """CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        stream INTEGER NOT NULL REFERENCES streams (id),
        seq INTEGER NOT NULL,
        event TEXT NOT NULL,
        content_type TEXT NOT NULL,
        headers TEXT,
        frames BLOB NOT NULL,
        size INTEGER NOT NULL,
        crc INTEGER NOT NULL,
        created_ms INTEGER NOT NULL)""",
}
KIND = "outbox"
INSERT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# The last number given in a stream: its highest row, or the highest deleted
# (streams.last_seq, written by deletes), so that numbers are never given twice.
# Rows kept in memory per stream between their commit and their send, so that the
# sender does not read back what this process has just written; past this many
# (no peer, a slow one) the rest is read from the file when the sender gets to it.
FRESH_ROWS = 4096
# The WAL pages past which a commit checkpoints (SQLite's wal_autocheckpoint, 1,000 by
# default), the WAL's bound (about 10 MB). Meanwhile the senders copy the WAL into the
# file (Outbox.checkpoint, passive: appends go on) so that little is left for that
# commit: appends checkpointing every 1,000 pages cost a bare loop 26-39 us a commit,
# against 18-24 with no checkpoint. The WAL starts over after the appends' checkpoint.
WRITER_CHECKPOINT_PAGES = 10_000
# A row's key: its stream in the high bits, its number in the low ROW_BITS, so that
# one b-tree (the table's own) orders a stream's rows and ranges delete them; a
# table keyed by (stream, seq) would write a second b-tree (its index) per commit,
# 1.35x slower in a bare loop. A stream has 2**40 numbers.
ROW_BITS = 40
LAST_SEQ = (
    "max(last_seq, coalesce((SELECT max(id) - (streams.id << 40) FROM events"
    " WHERE id BETWEEN streams.id << 40 AND ((streams.id + 1) << 40) - 1), 0))"
)


def row_key(stream: int, seq: int) -> int:
    """The ``id`` of ``stream``'s row number ``seq`` (ROW_BITS)."""
    return (stream << ROW_BITS) + seq


def pack_frames(frames: Sequence[bytes]) -> bytes:
    """Frames as one blob: each a 4-byte big-endian length, then its bytes."""
    if len(frames) == 1:  # the common case, without the generator
        return len(frames[0]).to_bytes(4, "big") + frames[0]
    return b"".join(len(frame).to_bytes(4, "big") + frame for frame in frames)


def unpack_frames(blob: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(blob):
        length = int.from_bytes(blob[at : at + 4], "big")
        frames.append(blob[at + 4 : at + 4 + length])
        at += 4 + length
    return frames


class Row(NamedTuple):
    """One stored event, as :meth:`Outbox.pending` reads it back."""

    seq: int
    event: str
    content_type: str
    headers: Mapping[str, str] | None
    frames: list[bytes]
    created_ms: int


class StreamSummary(NamedTuple):
    """What ``zeroevents outbox inspect`` prints for one destination."""

    destination: str
    producer: str  # hex
    pending: int
    bytes: int
    oldest_seq: int | None
    oldest_created_ms: int | None
    last_seq: int


@dataclass(slots=True, eq=False)
class _Append:
    stream: int
    event: str
    content_type: str
    headers: str | None
    blob: bytes
    size: int
    created_ms: int
    frames: Sequence[bytes]
    header_map: Mapping[str, str] | None
    seq: int = 0

    def row(self, seq: int) -> tuple[object, ...]:
        """The values of the INSERT of this event numbered ``seq``."""
        return (
            row_key(self.stream, seq), self.stream, seq, self.event, self.content_type,
            self.headers, self.blob, self.size, zlib.crc32(self.blob), self.created_ms,
        )  # fmt: skip


@dataclass(slots=True, eq=False)
class _Delete:
    stream: int
    ranges: list[tuple[int, int]]


class Outbox:
    """The outbox file at ``path`` (made when missing), open for writing by this
    process until :meth:`close`; see the module docstring."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sync: str = DEFAULT_SYNC,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.path = Path(path).absolute()
        for key, value in (("outbox_max_events", max_events), ("outbox_max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"option {key!r}: expected an int >= 1, got {value!r}")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._lock_file, self._db = open_locked(
            self.path,
            holders="another process or listener",
            kind=KIND,
            application_id=APPLICATION_ID,
            version=VERSION,
            schema=SCHEMA,
            sync=sync,
        )
        self._db.execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}")
        self._cursor = self._db.cursor()  # the appends': Connection.execute makes one each
        self._sync = sync
        self._db_lock = threading.Lock()
        self._connection = _Connection(self)
        self._checkpointer: sqlite3.Connection | None = None  # checkpoint()'s own
        self._checkpointing = threading.Lock()
        self._cond = threading.Condition()
        self._committer: GroupCommit[_Append | _Delete] = GroupCommit(self._commit, self._cond)
        self._streams: dict[str, tuple[int, bytes]] = {}
        self._last_seq: dict[int, int] = {}
        self._fresh: dict[int, deque[Row]] = {}  # FRESH_ROWS
        self._deferred: list[_Delete] = []  # acknowledge(wait=False), for the next commit
        self._closed = False
        try:
            count, size = self._load()
        except BaseException:
            self._db.close()
            self._lock_file.close()
            raise
        self.count: int = count
        """Events stored (this process's view, kept with each commit)."""
        self.bytes: int = size
        """Bytes of the events stored: names, headers and payload frames."""
        self.waiting = 0
        """Appends waiting for room (the outbox is full)."""

    def _load(self) -> tuple[int, int]:
        """Read the streams; the count and bytes of the events stored."""
        with self._connection:
            for stream, destination, producer, last_seq in self._db.execute(
                f"SELECT id, destination, producer, {LAST_SEQ} FROM streams"
            ):
                self._streams[destination] = (stream, producer)
                self._last_seq[stream] = last_seq
            totals = self._db.execute("SELECT count(*), coalesce(sum(size), 0) FROM events")
            count, size = totals.fetchone()
        return count, size

    @property
    def commits(self) -> int:
        """Transactions committed by this process (appends and deletes together)."""
        return self._committer.commits

    @property
    def writes(self) -> int:
        """Appends and acknowledgements committed, for ``writes / commits`` per transaction."""
        return self._committer.items

    def producer(self, destination: str) -> bytes:
        """The producer id of ``destination``'s stream, made (and stored) on first use."""
        return self._stream(destination)[1]

    def last_seq(self, destination: str) -> int:
        """The last sequence number given in ``destination``'s stream (0: none yet)."""
        stream, _ = self._stream(destination)
        with self._cond:
            return self._last_seq[stream]

    def _stream(self, destination: str) -> tuple[int, bytes]:
        known = self._streams.get(destination)
        if known is not None:
            return known
        with self._cond:
            self._check_open()
            known = self._streams.get(destination)
            if known is None:
                producer = new_producer_id()
                with self._connection:
                    self._db.execute("BEGIN IMMEDIATE")
                    cursor = self._db.execute(
                        "INSERT INTO streams (destination, producer, last_seq) VALUES (?, ?, 0)",
                        (destination, producer),
                    )
                    self._db.execute("COMMIT")
                stream = cursor.lastrowid
                assert stream is not None
                self._last_seq[stream] = 0
                known = self._streams[destination] = (stream, producer)
        return known

    def append(
        self,
        destination: str,
        event: str,
        frames: Sequence[bytes],
        *,
        content_type: str = "json",
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 2.0,
    ) -> int:
        """Store an event for ``destination`` and return its sequence number once the
        commit is done; wait up to ``timeout`` seconds for room, then raise
        :class:`OutboxFullError` (None: no limit)."""
        item = self._item(destination, event, frames, content_type, headers)
        size = item.size
        cond = self._cond
        cond.acquire()  # not ``with``: Condition.__enter__ is a Python call per append
        try:
            if not self._room(size):
                self._wait_for_room(event, size, timeout)
            self._check_open()
            self._submit([item])
        finally:
            cond.release()
        return item.seq

    def _submit(self, items: list[_Append]) -> None:
        # Holding the condition, room checked: counted, then committed (or not counted).
        size = sum(item.size for item in items)
        self.count += len(items)
        self.bytes += size
        try:
            self._committer.submit(items)
        except BaseException:
            self.count -= len(items)
            self.bytes -= size
            raise

    def append_at_once(
        self,
        destination: str,
        events: Sequence[tuple[str, Sequence[bytes], Mapping[str, str] | None]],
        *,
        content_type: str = "json",
    ) -> list[int | None] | None:
        """:meth:`append` for an event loop, of several ``(event, frames, headers)`` in
        one commit: each one's number once committed, None for one alone over
        ``outbox_max_bytes`` (not stored); None when the commit could take long, and
        nothing is stored then: the outbox full (waiting for room), or ``sync="full"``
        (an fsync, milliseconds). A ``"normal"`` commit, even behind another thread's,
        costs less than a worker thread's hand-over."""
        if self._sync != "normal":
            return None
        items: list[_Append | None] = []
        for event, frames, headers in events:
            try:
                items.append(self._item(destination, event, frames, content_type, headers))
            except OutboxFullError:  # alone over max_bytes: it can never be stored
                items.append(None)
        stored = [item for item in items if item is not None]
        cond = self._cond
        cond.acquire()
        try:
            self._check_open()
            if not self._room(sum(item.size for item in stored), len(stored)):
                return None
            if stored:
                self._submit(stored)
        finally:
            cond.release()
        return [None if item is None else item.seq for item in items]

    def _item(
        self,
        destination: str,
        event: str,
        frames: Sequence[bytes],
        content_type: str,
        headers: Mapping[str, str] | None,
    ) -> _Append:
        stream, _ = self._stream(destination)
        blob = pack_frames(frames)
        text = None if headers is None else json.dumps(dict(headers), separators=(",", ":"))
        size = len(blob) + len(event.encode()) + (len(text) if text else 0)
        if size > self.max_bytes:
            raise OutboxFullError(self.path, event, f"{size} bytes, more than outbox_max_bytes")
        now_ms = int(time.time() * 1000)
        return _Append(stream, event, content_type, text, blob, size, now_ms, frames, headers)

    def _wait_for_room(self, event: str, size: int, timeout: float | None) -> None:
        # Holding the condition: acknowledgements make room, close() ends the wait.
        self._check_open()
        self.waiting += 1
        try:
            room = self._cond.wait_for(lambda: self._closed or self._room(size), timeout)
        finally:
            self.waiting -= 1
        if not room:
            raise OutboxFullError(self.path, event, self._full_reason(timeout))

    def _room(self, size: int, count: int = 1) -> bool:
        return self.count + count <= self.max_events and self.bytes + size <= self.max_bytes

    def _full_reason(self, timeout: float | None) -> str:
        held = f"{self.count} events, {self.bytes} bytes"
        limits = f"outbox_max_events {self.max_events}, outbox_max_bytes {self.max_bytes}"
        return f"full ({held}; {limits}) for {timeout} s"

    def acknowledge(
        self,
        destination: str,
        cumulative: int,
        ranges: Iterable[tuple[int, int]] = (),
        *,
        wait: bool = True,
    ) -> None:
        """Delete ``destination``'s events numbered up to ``cumulative`` or inside one
        of ``ranges`` (inclusive); returns once that is committed. ``wait=False``:
        returns at once, the delete goes into the next commit (an append's, or a
        later acknowledge's); a kill before it only means those events are sent again."""
        stream, _ = self._stream(destination)
        spans = [(1, cumulative)] if cumulative > 0 else []
        spans += [(first, last) for first, last in ranges if first <= last]
        if not spans:
            return
        with self._cond:
            self._check_open()
            if wait:
                self._committer.submit([_Delete(stream, spans)])
            else:  # a transaction of its own per acknowledgement would halve the appends
                self._deferred.append(_Delete(stream, spans))

    def _commit(self, items: Sequence[_Append | _Delete]) -> None:
        # The leader's work, outside the condition: one transaction for the batch.
        # Numbers are given here, in batch order, and kept only if the commit is done.
        if len(items) == 1 and not self._deferred and isinstance(items[0], _Append):
            self._commit_one(items[0])  # a delete deferred meanwhile waits for the next
            return
        with self._cond:
            deferred, self._deferred = self._deferred, []
        db, last_seq = self._db, dict(self._last_seq)
        appends = [item for item in items if isinstance(item, _Append)]
        seqs = []
        for item in appends:
            seqs.append(last_seq[item.stream] + 1)
            last_seq[item.stream] = seqs[-1]
        rows = [item.row(seq) for item, seq in zip(appends, seqs, strict=True)]
        deletes = deferred + [item for item in items if isinstance(item, _Delete)]
        deleted: list[tuple[int, int]] = []
        with self._connection:
            db.execute("BEGIN IMMEDIATE")
            try:
                for delete in deletes:
                    deleted += [self._delete(delete.stream, *span) for span in delete.ranges]
                db.executemany(INSERT, rows)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                with self._cond:  # not done: for the next commit
                    self._deferred[:0] = deferred
                raise
        self._last_seq = last_seq
        for done, seq in zip(appends, seqs, strict=True):
            self._keep_fresh(done, seq)
        with self._cond:
            self.count -= sum(count for count, _ in deleted)
            self.bytes -= sum(size for _, size in deleted)

    def _commit_one(self, item: _Append) -> None:
        # A lone producer's event, in a transaction of its own (autocommit), on the
        # connection as _Connection takes it, written out: this is every fire's path.
        seq = self._last_seq[item.stream] + 1
        row = item.row(seq)
        with self._db_lock:
            if self._closed:
                raise OutboxError(f"outbox {self.path} is closed")
            try:
                self._cursor.execute(INSERT, row)
            except sqlite3.Error as error:
                raise self._connection.errors.mapped(error) from error
        self._last_seq[item.stream] = seq
        self._keep_fresh(item, seq)

    def _keep_fresh(self, item: _Append, seq: int) -> None:
        item.seq = seq
        fresh = self._fresh.get(item.stream)
        if fresh is None:
            fresh = self._fresh[item.stream] = deque()
        if len(fresh) < FRESH_ROWS:  # else a gap: next_rows reads the file there
            frames = list(item.frames)
            fresh.append(
                Row(seq, item.event, item.content_type, item.header_map, frames, item.created_ms)
            )

    def _delete(self, stream: int, first: int, last: int) -> tuple[int, int]:
        # streams.last_seq keeps the highest number deleted, so that the numbering
        # goes on when the stream has no row left (see __init__).
        last = min(last, self._last_seq[stream])
        where, span = "id BETWEEN ? AND ?", (row_key(stream, first), row_key(stream, last))
        count, size, top = self._db.execute(
            f"SELECT count(*), coalesce(sum(size), 0), max(seq) FROM events WHERE {where}", span
        ).fetchone()
        if count:
            self._db.execute(f"DELETE FROM events WHERE {where}", span)
            self._db.execute(
                "UPDATE streams SET last_seq = max(last_seq, ?) WHERE id = ?", (top, stream)
            )
        return count, size

    def pending(self, destination: str, after: int = 0, limit: int = 1000) -> list[Row]:
        """Up to ``limit`` of ``destination``'s stored events numbered above ``after``,
        in order; a row whose checksum does not match is a ConfigurationError."""
        stream, _ = self._stream(destination)
        with self._connection:
            found = self._db.execute(
                "SELECT seq, event, content_type, headers, frames, crc, created_ms FROM events"
                " WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
                (row_key(stream, after), row_key(stream + 1, 0), limit),
            ).fetchall()
        rows = []
        for seq, event, content_type, headers, blob, crc, created_ms in found:
            if zlib.crc32(blob) != crc:
                raise ConfigurationError(
                    f"outbox {self.path} is corrupted: the frames of event {seq} of "
                    f"{destination!r} ({event!r}) do not match their checksum"
                )
            decoded = None if headers is None else json.loads(headers)
            rows.append(Row(seq, event, content_type, decoded, unpack_frames(blob), created_ms))
        return rows

    def next_rows(self, destination: str, after: int, limit: int) -> list[Row]:
        """:meth:`pending`, for the one sender of ``destination``: the rows committed
        by this process since it last asked come from memory, the others (written
        before a restart, or past FRESH_ROWS) from the file."""
        stream, _ = self._stream(destination)
        fresh = self._fresh.setdefault(stream, deque())
        while fresh and fresh[0].seq <= after:  # bounded: FRESH_ROWS
            fresh.popleft()
        if not fresh or fresh[0].seq != after + 1:
            # The file has what memory lacks, if anything is numbered above ``after``.
            return self.pending(destination, after, limit) if after < self._last_seq[stream] else []
        rows: list[Row] = []
        # Each taken once (a failed push reads the file), up to a gap left by FRESH_ROWS:
        # the rows missing there are in the file only, read by the next call.
        while fresh and len(rows) < limit and fresh[0].seq == after + 1 + len(rows):
            rows.append(fresh.popleft())
        return rows

    def count_of(self, destination: str) -> int:
        """How many of ``destination``'s events are stored."""
        stream, _ = self._stream(destination)
        with self._connection:
            (count,) = self._db.execute(
                "SELECT count(*) FROM events WHERE id > ? AND id < ?",
                (row_key(stream, 0), row_key(stream + 1, 0)),
            ).fetchone()
        return int(count)

    def summary(self) -> list[StreamSummary]:
        """Each stream's counts, bytes and oldest pending event."""
        with self._connection:
            return summarize(self._db)

    def checkpoint(self) -> bool:
        """Copy what the WAL holds into the file, as far as readers allow, without
        stopping appends (a passive checkpoint on a connection of its own); for the
        senders, off the firing threads' commits. False when another thread was at it."""
        if not self._checkpointing.acquire(blocking=False):
            return False
        try:
            self._check_open()
            with self._connection.errors:
                if self._checkpointer is None:
                    self._checkpointer = connect(self.path, self._sync)
                self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return True
        finally:
            self._checkpointing.release()

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxError(f"outbox {self.path} is closed")

    def close(self) -> None:
        with self._cond, self._db_lock:
            if self._closed:
                return
            self._closed = True
            with self._checkpointing:
                if self._checkpointer is not None:
                    self._checkpointer.close()
            self._db.close()
            self._cond.notify_all()  # appends waiting for room: it will not come
        self._lock_file.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Outbox {self.path} {self.count} events>"


class _Connection:
    """``with outbox._connection``: the outbox's one connection, one thread at a time
    on it, open, with sqlite3's errors mapped (StorageErrors)."""

    __slots__ = ("_errors", "_outbox")

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._errors = StorageErrors(KIND, outbox.path)

    @property
    def errors(self) -> StorageErrors:
        return self._errors

    def __enter__(self) -> None:
        outbox = self._outbox
        outbox._db_lock.acquire()
        if outbox._closed:
            outbox._db_lock.release()
            raise OutboxError(f"outbox {outbox.path} is closed")

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        try:
            self._errors.__exit__(kind, error, tb)
        finally:
            self._outbox._db_lock.release()


def summarize(db: sqlite3.Connection) -> list[StreamSummary]:
    """Each stream of the outbox open as ``db``, with its pending events."""
    out = []
    for destination, producer, last_seq, count, size, oldest, created in db.execute(
        f"SELECT destination, producer, {LAST_SEQ}, count(e.seq), coalesce(sum(e.size), 0),"
        " min(e.seq), min(e.created_ms) FROM streams LEFT JOIN events e ON e.stream = streams.id"
        " GROUP BY streams.id ORDER BY streams.id"
    ):
        out.append(
            StreamSummary(destination, producer.hex(), count, size, oldest, created, last_seq)
        )
    return out


def inspect_outbox(path: str | os.PathLike[str]) -> list[StreamSummary]:
    """The summary of the outbox at ``path``, read beside its writer (no lock taken,
    nothing written); a missing, foreign or corrupted file is a ConfigurationError."""
    file = Path(path).absolute()
    db = open_database(
        file, kind=KIND, application_id=APPLICATION_ID, version=VERSION, schema=SCHEMA,
        create=False,
    )  # fmt: skip
    try:
        with StorageErrors(KIND, file):
            return summarize(db)
    finally:
        db.close()
