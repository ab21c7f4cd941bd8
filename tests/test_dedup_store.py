"""The durable dedup store: a restarted receiver drops what it had acknowledged."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from zeroevents_core.delivery import Deduplicator
from zeroevents_core.errors import ConfigurationError, ZeroEventsError
from zeroevents_core.outbox import DedupStore, DurableDeduplicator, Outbox

P = b"p" * 16
Q = b"q" * 16


def restarted(path: Path, **options: int) -> DurableDeduplicator:
    return DurableDeduplicator(DedupStore(path), **options)


def test_what_was_acknowledged_is_a_duplicate_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    first = restarted(path)
    assert not any(first.seen(P, seq) for seq in range(1, 101))
    assert not first.seen(Q, 1)
    first.acks()
    first.store.close()
    second = restarted(path)
    assert all(second.seen(P, seq) for seq in range(1, 101))
    assert second.seen(Q, 1)
    assert not second.seen(P, 101)
    assert not second.seen(Q, 2)
    assert second.stats.duplicates == 101


def test_a_plain_deduplicator_forgets(tmp_path: Path) -> None:
    # The contrast the store exists for.
    first = Deduplicator()
    first.seen(P, 1)
    first.acks()
    assert not Deduplicator().seen(P, 1)


def test_gaps_are_kept_with_the_bitmap(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    first = restarted(path)
    for seq in [*range(1, 11), 15, 17]:
        first.seen(P, seq)
    ((_, ack),) = first.acks()
    assert (ack.cumulative, ack.ranges) == (10, ((15, 15), (17, 17)))
    first.store.close()
    second = restarted(path)
    assert [second.seen(P, seq) for seq in (12, 15, 16, 17, 18)] == [
        False,
        True,
        False,
        True,
        False,
    ]


def test_what_was_not_acknowledged_is_not_recorded(tmp_path: Path) -> None:
    # Written when acknowledgements are made (before they are sent), not per event.
    path = tmp_path / "dedup.db"
    first = restarted(path)
    first.seen(P, 1)
    first.acks()
    first.seen(P, 2)  # fired, then the consumer dies before acknowledging
    first.store.close()
    second = restarted(path)
    assert second.seen(P, 1)
    assert not second.seen(P, 2)


def test_it_keeps_the_producers_heard_last(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    first = restarted(path, max_producers=2)
    for n in range(4):
        first.seen(bytes([n]) * 16, 1)
        first.acks()
    first.store.close()
    with DedupStore(path) as store:
        assert [row[0][0] for row in store.load(10)] == [2, 3]


def test_an_outbox_file_is_not_a_dedup_store(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    Outbox(path).close()
    before = path.read_bytes()
    with pytest.raises(ConfigurationError, match=f"{path} is an SQLite database but not"):
        DedupStore(path)
    assert path.read_bytes() == before


HOLDER = """
import sys
from zeroevents_core.outbox import DedupStore

store = DedupStore(sys.argv[1])
print("open", flush=True)
sys.stdin.readline()
"""


@contextlib.contextmanager
def python_child(script: str, *args: str) -> Iterator[tuple[IO[str], IO[str]]]:
    """``script`` in a child process: its stdin and stdout; killed (-9) at the end."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        yield child.stdin, child.stdout
    finally:
        child.kill()  # no close() runs: the kernel releases what it held
        child.wait(60)
        child.stdin.close()
        child.stdout.close()
    assert child.returncode == -9


def test_a_dedup_store_open_in_another_process_is_refused_until_it_dies(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    with python_child(HOLDER, str(path)) as (_, stdout):
        assert stdout.readline() == "open\n"
        with pytest.raises(ConfigurationError, match=f"{path} is open for writing by another"):
            DedupStore(path)
    with DedupStore(path) as store:
        assert store.load(10) == []


# A receiver in a process of its own: it reads sequence numbers on stdin, prints
# "fired N" for each it does not drop, acknowledges every 10 and then prints "acked N".
RECEIVER = """
import sys
from zeroevents_core.outbox import DedupStore, DurableDeduplicator

dedup = DurableDeduplicator(DedupStore(sys.argv[1]), ack_every=10)
for line in sys.stdin:
    seq = int(line)
    if not dedup.seen(b"p" * 16, seq):
        print("fired", seq, flush=True)
    if dedup.ack_due:
        for _, ack in dedup.acks():
            print("acked", ack.cumulative, flush=True)
"""


def test_a_receiver_killed_9_does_not_fire_again_what_it_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    acked = 0
    fired: list[int] = []
    for _ in range(4):
        with python_child(RECEIVER, str(path)) as (stdin, stdout):
            # The producer resends from 1 (the worst case), then 20 new events: the
            # last line makes the child acknowledge, and it is killed right after.
            for seq in range(1, acked + 21):
                stdin.write(f"{seq}\n")
            stdin.flush()
            while True:
                kind, number = stdout.readline().split()
                if kind == "fired":
                    fired.append(int(number))
                elif int(number) >= acked + 20:
                    acked = int(number)
                    break
    print(f"{len(fired)} fired over 4 kills, {acked} acknowledged")
    assert sorted(fired) == list(range(1, acked + 1)), "an acknowledged event fired twice"


# The listener's effect in the store's transaction (DedupStore.execute): committed
# with the dedup record by acks(), or not at all.
EFFECT = "CREATE TABLE IF NOT EXISTS effects (producer BLOB, seq INTEGER)"


def fire(dedup: DurableDeduplicator, seq: int) -> None:
    """What a service does with one event: the filter, then the listener's write."""
    if not dedup.seen(P, seq):
        dedup.store.execute(EFFECT)
        dedup.store.execute("INSERT INTO effects VALUES (?, ?)", (P, seq))


def effects(path: Path) -> list[int]:
    with DedupStore(path) as store:
        return [seq for (seq,) in store.execute("SELECT seq FROM effects ORDER BY seq")]


def test_an_effect_is_committed_with_the_dedup_record(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    first = restarted(path)
    for seq in (1, 2, 3):
        fire(first, seq)
    first.acks()
    fire(first, 4)  # fired, then the consumer dies before acknowledging: neither kept
    first.store.close()
    assert effects(path) == [1, 2, 3]  # its own table beside the store's: still ours
    second = restarted(path)
    for seq in (2, 3, 4, 5):  # the producer resends from 2
        fire(second, seq)
    second.acks()
    second.store.close()
    assert effects(path) == [1, 2, 3, 4, 5]  # each once


def test_a_failed_commit_forgets_what_it_did_not_record(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    dedup = restarted(path)
    fire(dedup, 1)
    dedup.acks()
    fire(dedup, 2)
    # The save fails (as on a full disk): the transaction, the effect of 2 with it, is
    # rolled back, and 2 is no longer taken for seen: its resend fires it again.
    dedup.store.execute(
        "CREATE TRIGGER refused BEFORE INSERT ON producers BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    with pytest.raises(ZeroEventsError, match="dedup store"):
        dedup.acks()
    fire(dedup, 2)
    dedup.acks()
    dedup.store.close()
    assert effects(path) == [1, 2]


def test_of_finds_the_store_a_receiver_opened(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    with pytest.raises(ConfigurationError, match="no dedup store is open on"):
        DedupStore.of(path)
    with DedupStore(path) as store:
        assert DedupStore.of(str(path)) is store
    with pytest.raises(ConfigurationError, match="no dedup store is open on"):
        DedupStore.of(path)
