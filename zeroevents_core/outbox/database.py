"""Opening one of the library's SQLite files (an outbox, a dedup store) and telling it
from anything else, without ever writing to a file that is not one.

A file is ours when its header says SQLite, its ``application_id`` is the kind's own,
its ``user_version`` is a schema this code knows, its tables are the expected ones, and
``PRAGMA quick_check`` finds its pages sound. Anything else is a
:class:`ConfigurationError` naming the file: it is left as it was (no schema written,
no row deleted), for its owner to look at or move away.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigurationError, OutboxError
from .options import SYNC_MODES

SQLITE_MAGIC = b"SQLite format 3\x00"
# Offsets in the 100-byte database header (https://sqlite.org/fileformat.html).
_APPLICATION_ID_AT = 68
# How long a statement waits for another connection's lock (inspect beside a writer).
BUSY_TIMEOUT_MS = 5000
# Pages of a new file. A commit writes whole pages to the WAL: an event's row (a few
# hundred bytes) in a 1 KiB page writes a quarter of a 4 KiB page's bytes; appends
# measured 1.25x faster (bench/bench_outbox.py). Big payloads take overflow pages.
PAGE_SIZE = 1024


def _header_id(path: Path) -> int | None:
    """The application id in the file's header; None for an empty file (a new one)."""
    with path.open("rb") as handle:
        header = handle.read(100)
    if not header:
        return None
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise ConfigurationError(f"{path} is not an SQLite database (its header is not SQLite's)")
    return int.from_bytes(header[_APPLICATION_ID_AT : _APPLICATION_ID_AT + 4], "big")


def open_database(
    path: str | os.PathLike[str],
    *,
    kind: str,
    application_id: int,
    version: int,
    schema: Mapping[str, str],
    sync: str = "normal",
    create: bool = True,
    other_tables: bool = False,
) -> sqlite3.Connection:
    """A connection in WAL mode (autocommit: the caller writes ``BEGIN``) to the ``kind``
    file at ``path``, made with ``schema`` (table name to ``CREATE`` statement) when
    new, else checked as the module docstring says; ``other_tables``: tables beside
    the schema's are the user's (a dedup store's listeners write theirs there)."""
    file = Path(path).absolute()
    if sync not in SYNC_MODES:
        raise ConfigurationError(f"{kind} sync must be one of {sorted(SYNC_MODES)}, got {sync!r}")
    exists = file.exists()
    if not exists and not create:
        raise ConfigurationError(f"{kind} {file} does not exist")
    if exists and file.is_dir():
        raise ConfigurationError(f"{kind} {file} is a folder, not a file")
    if not file.parent.is_dir():
        raise ConfigurationError(f"{kind} {file}: folder {file.parent} does not exist")
    found = _header_id(file) if exists else None
    if found is not None and found != application_id:
        raise ConfigurationError(
            f"{file} is an SQLite database but not a zeroevents {kind} "
            f"(application_id {found:#x}, expected {application_id:#x}): left untouched"
        )
    try:
        db = _open(file)
    except sqlite3.Error as error:
        raise ConfigurationError(f"{kind} {file} cannot be opened: {error}") from error
    try:
        _configure(db, sync)
        if found is None or _unfinished(db):
            _create(db, application_id, version, schema)
        else:
            _check(db, file, kind, version, schema, other_tables)
        db.execute("PRAGMA journal_mode = WAL")
    except sqlite3.DatabaseError as error:
        db.close()
        raise ConfigurationError(
            f"{kind} {file} is corrupted or unreadable ({error}): left untouched, "
            "its rows may still be read with the sqlite3 shell (.recover)"
        ) from error
    except BaseException:
        db.close()
        raise
    return db


def connect(file: Path, sync: str) -> sqlite3.Connection:
    """Another connection to a database :func:`open_database` has checked."""
    db = _open(file)
    try:
        _configure(db, sync)
    except BaseException:
        db.close()
        raise
    return db


def _open(file: Path) -> sqlite3.Connection:
    return sqlite3.connect(file, isolation_level=None, check_same_thread=False)


def _configure(db: sqlite3.Connection, sync: str) -> None:
    # Autocommit from any thread (one at a time), waiting for locks, fsyncs as asked.
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute(f"PRAGMA synchronous = {SYNC_MODES[sync]}")


def _create(
    db: sqlite3.Connection, application_id: int, version: int, schema: Mapping[str, str]
) -> None:
    # In rollback-journal mode, so that the header's application id is in the file
    # itself from the first commit (in WAL mode it would sit in the WAL until a
    # checkpoint, and a kill before one would leave a file that looks foreign).
    db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    db.execute("PRAGMA journal_mode = DELETE")
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(f"PRAGMA application_id = {application_id}")
        db.execute(f"PRAGMA user_version = {version}")
        for statement in schema.values():
            db.execute(statement)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _unfinished(db: sqlite3.Connection) -> bool:
    """Our header but nothing else: a creation rolled back (killed mid-way)."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    (tables,) = db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return bool(version == 0 and tables == 0)


def normalized(sql: str) -> str:
    return " ".join(sql.split())


def _check(
    db: sqlite3.Connection,
    file: Path,
    kind: str,
    version: int,
    schema: Mapping[str, str],
    other_tables: bool,
) -> None:
    (found,) = db.execute("PRAGMA user_version").fetchone()
    if found != version:
        raise ConfigurationError(
            f"{kind} {file} has schema version {found}, this zeroevents knows {version}: "
            "left untouched"
        )
    tables = {
        name: normalized(sql)
        for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
    }
    expected = {name: normalized(sql) for name, sql in schema.items()}
    if other_tables:
        tables = {name: sql for name, sql in tables.items() if name in expected}
    if tables != expected:
        raise ConfigurationError(
            f"{kind} {file} does not have the tables of a zeroevents {kind} "
            f"(found {sorted(tables)}, expected {sorted(expected)}): left untouched"
        )
    problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise ConfigurationError(
            f"{kind} {file} is corrupted (PRAGMA quick_check: {'; '.join(problems)}): "
            "left untouched, its rows may still be read with the sqlite3 shell (.recover)"
        )


class StorageErrors:
    """sqlite3's errors as ours, naming the file: a damaged page met on the way is a
    ConfigurationError (the file is left as it is), a full disk or an I/O error an
    OutboxError. A context manager kept per file (a class: entered per commit, where a
    generator's would cost more than the rest of an append's Python)."""

    __slots__ = ("file", "kind")

    def __init__(self, kind: str, file: Path) -> None:
        self.kind = kind
        self.file = file

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: object, error: BaseException | None, _tb: object) -> None:
        if isinstance(error, sqlite3.Error):
            raise self.mapped(error) from error

    def mapped(self, error: sqlite3.Error) -> OutboxError | ConfigurationError:
        """Ours for sqlite3's ``error``."""
        if isinstance(error, sqlite3.DatabaseError) and not isinstance(
            error, sqlite3.OperationalError
        ):
            return ConfigurationError(
                f"{self.kind} {self.file} is corrupted or unreadable ({error}): left untouched"
            )
        return OutboxError(f"{self.kind} {self.file}: {error}")


def hold_lock(path: Path, kind: str, holders: str) -> IO[bytes]:
    """Hold ``PATH-lock`` beside the ``kind`` file at ``path``, or ConfigurationError when
    ``holders`` hold it: one writer per file (flock: the kernel releases it when the
    process dies, a kill -9 too; two opens in one process conflict as well)."""
    lock_path = path.with_name(path.name + "-lock")
    try:
        handle = lock_path.open("a+b")
    except OSError as error:
        raise ConfigurationError(
            f"{kind} {path}: cannot open its lock {lock_path}: {error}"
        ) from error
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigurationError(
            f"{kind} {path} is open for writing by {holders} (its lock {lock_path} is held)"
        ) from None
    return handle


def open_locked(
    path: Path, *, holders: str, **database: Any
) -> tuple[IO[bytes], sqlite3.Connection]:
    """:func:`hold_lock`, then :func:`open_database` with ``database`` (its keyword
    arguments); the lock released again when the file cannot be opened."""
    lock = hold_lock(path, database["kind"], holders)
    try:
        return lock, open_database(path, **database)
    except BaseException:
        lock.close()
        raise
