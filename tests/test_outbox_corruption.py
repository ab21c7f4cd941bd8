"""A foreign or corrupted outbox file is a ConfigurationError naming it, and the
check leaves the file exactly as it was (its rows are not lost)."""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from zeroevents_core.errors import ConfigurationError
from zeroevents_core.outbox import DedupStore, Outbox

DEST = "connect tcp://127.0.0.1:5555"
ROWS = 2000


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def frames_of(n: int) -> list[bytes]:
    return [b'{"order": %d, "pad": "%s"}' % (n, b"p" * 200)]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed outbox of ROWS events (its WAL checkpointed into the file)."""
    path = tmp_path_factory.mktemp("good") / "outbox.db"
    with Outbox(path) as outbox:
        for n in range(ROWS):
            outbox.append(DEST, "orders.created", frames_of(n))
    assert not Path(f"{path}-wal").exists()
    return path


def refused(path: Path, match: str) -> str:
    """Open ``path`` as an outbox and read every row: the ConfigurationError's text,
    after checking that the file's bytes did not change."""
    before = digest(path)
    with pytest.raises(ConfigurationError, match=match) as caught:
        read_all(path)
    assert digest(path) == before
    assert str(path) in str(caught.value)
    return str(caught.value)


def read_all(path: Path) -> list[list[bytes]]:
    with Outbox(path) as outbox:
        rows, after = [], 0
        while batch := outbox.pending(DEST, after=after):
            rows += [row.frames for row in batch]
            after = batch[-1].seq
        return rows


def test_the_good_file_reads_back(good: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    shutil.copy(good, copy)
    assert read_all(copy) == [frames_of(n) for n in range(ROWS)]


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 10)
    refused(path, "is not an SQLite database")


def test_a_short_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "short.db"
    path.write_bytes(b"SQLite format 3\x00abc")
    refused(path, "is not an SQLite database")


def test_a_foreign_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.execute("INSERT INTO users VALUES ('ada')")
    db.close()
    message = refused(path, "is an SQLite database but not a zeroevents outbox")
    assert "left untouched" in message
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM users").fetchall() == [("ada",)]
    db.close()


def test_a_dedup_store_is_not_an_outbox(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    DedupStore(path).close()
    refused(path, "not a zeroevents outbox")


def test_an_outbox_of_an_unknown_schema_version(good: Path, tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    shutil.copy(good, path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    refused(path, "schema version 99")


def test_an_outbox_with_other_tables(good: Path, tmp_path: Path) -> None:
    path = tmp_path / "changed.db"
    shutil.copy(good, path)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE events ADD COLUMN extra TEXT")
    db.close()
    refused(path, "does not have the tables of a zeroevents outbox")


def test_a_truncated_outbox(good: Path, tmp_path: Path) -> None:
    path = tmp_path / "truncated.db"
    shutil.copy(good, path)
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    before = digest(path)
    # Refused when opened, before anything could be written into the damaged file.
    with pytest.raises(ConfigurationError, match="is corrupted"):
        Outbox(path)
    assert digest(path) == before


def test_an_empty_file_is_a_new_outbox(tmp_path: Path) -> None:
    # What a kill between creating the file and its first commit leaves: no rows.
    path = tmp_path / "empty.db"
    path.touch()
    with Outbox(path) as outbox:
        assert outbox.append(DEST, "e", [b"x"]) == 1


def test_a_random_page_overwritten_is_detected_or_harmless(good: Path, tmp_path: Path) -> None:
    # Never a silent change: each overwrite either is refused, naming the file, or
    # leaves every row readable as written. Most must be refused (a page of random
    # bytes breaks the b-tree, the header, or a row's checksum).
    page_size = int.from_bytes(good.read_bytes()[16:18], "big")
    pages = good.stat().st_size // page_size
    expected = [frames_of(n) for n in range(ROWS)]
    rng = random.Random(14)
    detected = at_open = 0
    trials = 20
    for trial in range(trials):
        path = tmp_path / f"page-{trial}.db"
        shutil.copy(good, path)
        page = rng.randrange(pages)
        with path.open("r+b") as handle:
            handle.seek(page * page_size)
            handle.write(rng.randbytes(page_size))
        before = digest(path)
        try:
            Outbox(path).close()
        except ConfigurationError:
            at_open += 1
        try:
            rows = read_all(path)
        except ConfigurationError as error:
            assert str(path) in str(error), error
            detected += 1
        else:
            assert rows == expected, f"page {page} of {pages} overwritten: rows changed silently"
        assert digest(path) == before
    print(
        f"{detected} of {trials} overwritten pages detected ({at_open} when opened), "
        "the others harmless"
    )
    assert at_open >= trials // 2


def test_a_damaged_index_is_refused_when_opened(good: Path, tmp_path: Path) -> None:
    # The one index of an outbox: its streams' destinations (events have none, their
    # key is the table's own). Reading the rows back would not see it; a later stream
    # would be written into a damaged b-tree: quick_check refuses it first.
    path = tmp_path / "index.db"
    shutil.copy(good, path)
    with sqlite3.connect(path) as db:
        try:
            found = db.execute(
                "SELECT pageno FROM dbstat WHERE name = 'sqlite_autoindex_streams_1'"
                " AND pagetype = 'leaf' ORDER BY pageno LIMIT 1"
            ).fetchone()
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat table to find the index's pages")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with path.open("r+b") as handle:
        handle.seek((found[0] - 1) * page_size)
        handle.write(random.Random(7).randbytes(page_size))
    before = digest(path)
    with pytest.raises(ConfigurationError, match="is corrupted"):
        Outbox(path)
    assert digest(path) == before
